// Command cron-oracle answers next-run questions with github.com/robfig/cron/v3 itself,
// exactly as the Kubernetes CronJob controller asks them (cron.ParseStandard, the
// schedule's Location set to the CronJob's timeZone, sched.Next(now)), for the
// differential test tests/cluster/test_cron_sequences.py.
//
// One question per input line, tab-separated:
//
//	<TZif file> <zone name> <cron> <count> <unix seconds, space-separated>
//
// The zone is loaded from the given file (the very file Python's zoneinfo reads), so
// both sides use the same tz data. One answer line per question: for each instant, the
// next <count> runs as comma-separated Unix seconds (fewer when Next returns the zero
// time), the instants' answers separated by spaces; or "error: <text>".
package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

func answer(line string) string {
	parts := strings.Split(line, "\t")
	if len(parts) != 5 {
		return "error: expected 5 tab-separated fields"
	}
	data, err := os.ReadFile(parts[0])
	if err != nil {
		return "error: " + err.Error()
	}
	loc, err := time.LoadLocationFromTZData(parts[1], data)
	if err != nil {
		return "error: " + err.Error()
	}
	sched, err := cron.ParseStandard(parts[2])
	if err != nil {
		return "error: " + err.Error()
	}
	if spec, ok := sched.(*cron.SpecSchedule); ok {
		spec.Location = loc
	}
	count, err := strconv.Atoi(parts[3])
	if err != nil {
		return "error: " + err.Error()
	}
	var out []string
	for _, field := range strings.Fields(parts[4]) {
		unix, err := strconv.ParseInt(field, 10, 64)
		if err != nil {
			return "error: " + err.Error()
		}
		current := time.Unix(unix, 0).In(loc)
		runs := []string{}
		for i := 0; i < count; i++ {
			current = sched.Next(current)
			if current.IsZero() {
				break
			}
			runs = append(runs, strconv.FormatInt(current.Unix(), 10))
		}
		out = append(out, strings.Join(runs, ","))
	}
	return strings.Join(out, " ")
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<24)
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	for in.Scan() {
		fmt.Fprintln(w, answer(in.Text()))
	}
}
