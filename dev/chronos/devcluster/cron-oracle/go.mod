// Wrapper module that builds the cron oracle (main.go) against robfig/cron v3.0.1, the
// version Kubernetes vendors, pinned with the committed go.sum. Built by
// devcluster/build-cron-oracle.sh into the cache next to the control-plane binaries.
module github.com/gluesync/chronos/devcluster/cron-oracle

go 1.26.0

require (
	github.com/robfig/cron/v3 v3.0.1
)
