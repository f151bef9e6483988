// kstatus: reads a JSON list of Kubernetes objects on stdin and prints, for each, the
// status kstatus computes (sigs.k8s.io/cli-utils/pkg/kstatus/status.Compute, the library
// Flux's health checks use) as a JSON list of {"status", "message"}. Built by
// devcluster/build-kstatus.sh; used by tests/gitops.py on real ChronosJobs.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type verdict struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

func main() {
	var raw []json.RawMessage
	if err := json.NewDecoder(os.Stdin).Decode(&raw); err != nil {
		fmt.Fprintln(os.Stderr, "kstatus: stdin is not a JSON list:", err)
		os.Exit(2)
	}
	out := make([]verdict, 0, len(raw))
	for _, one := range raw {
		// UnmarshalJSON keeps integers as int64, as the API machinery decodes objects.
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(one); err != nil {
			fmt.Fprintln(os.Stderr, "kstatus: not an object:", err)
			os.Exit(2)
		}
		result, err := status.Compute(u)
		if err != nil {
			fmt.Fprintln(os.Stderr, "kstatus:", err)
			os.Exit(1)
		}
		out = append(out, verdict{Status: result.Status.String(), Message: result.Message})
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		os.Exit(1)
	}
}
