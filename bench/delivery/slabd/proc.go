package slabd

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/slabcast/slabcast/bench/internal/proc"
)

// TreeCPU returns the user+system CPU time of pid and of its children
// (recursively, as listed by /proc/PID/task/*/children): nginx's master and
// workers.
func TreeCPU(pid int) (time.Duration, error) {
	sum, err := proc.ProcessCPU(pid)
	if err != nil {
		return 0, err
	}
	for _, c := range Children(pid) {
		if t, err := TreeCPU(c); err == nil {
			sum += t
		}
	}
	return sum, nil
}

// Children lists the child processes of pid.
func Children(pid int) []int {
	files, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/children")
	var out []int
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, w := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(w); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}
