// CoreDNS with only the plugins a kubeadm cluster's Corefile uses (plus log and whoami,
// which need nothing else), for kind's node image (docs/kind.md). CoreDNS's own main
// imports every plugin of its plugin.cfg, and with them the AWS, Azure, Google Cloud and
// Datadog SDKs: about 12 minutes of downloads and compiles on 2 cores that a Kubernetes
// cluster's DNS never uses. This is the build CoreDNS documents for a custom plugin set:
// blank imports register the plugins, dnsserver.Directives names them in execution order.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
	_ "github.com/coredns/coredns/plugin/whoami"
	"github.com/coredns/coredns/coremain"
)

// directives is CoreDNS v1.12.0's plugin.cfg order (the order a query passes the plugins
// in, whatever the order in the Corefile) with every other plugin left out. The metrics
// package registers the directive "prometheus".
var directives = []string{
	"reload",
	"ready",
	"health",
	"prometheus",
	"errors",
	"log",
	"loadbalance",
	"cache",
	"kubernetes",
	"loop",
	"forward",
	"whoami",
}

func init() {
	dnsserver.Directives = directives
}

func main() {
	coremain.Run()
}
