// Command etcd is etcd's own server entry point, built from the release that
// Kubernetes pins in its go.mod (etcd's root module cannot be installed with
// `go install` because its go.mod uses relative replace directives).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
