package nic

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// MaxCPU bounds CPU numbers accepted by ParseCPUList and PinThread (the size
// of the kernel's default cpu_set_t).
const MaxCPU = 1024

// ParseCPUList parses a Linux cpu list such as "0-1,3" into sorted, distinct
// CPU numbers ([0 1 3]). Spaces around parts are ignored. Errors name the bad
// part: `nic: cpu list "0-x": bad part "0-x"`.
func ParseCPUList(s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("nic: cpu list %q: empty", s)
	}
	var cpus []int
	for _, part := range strings.Split(s, ",") {
		p := strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(p, "-")
		a, errA := parseCPU(strings.TrimSpace(lo))
		b := a
		errB := errA
		if isRange {
			b, errB = parseCPU(strings.TrimSpace(hi))
		}
		switch {
		case errA != nil || errB != nil:
			return nil, fmt.Errorf("nic: cpu list %q: bad part %q (want N or N-M, 0 <= N < %d)", s, p, MaxCPU)
		case b < a:
			return nil, fmt.Errorf("nic: cpu list %q: bad part %q (range goes down)", s, p)
		}
		for c := a; c <= b; c++ {
			cpus = append(cpus, c)
		}
	}
	slices.Sort(cpus)
	return slices.Compact(cpus), nil
}

func parseCPU(s string) (int, error) {
	if s == "" || s[0] < '0' || s[0] > '9' {
		return 0, strconv.ErrSyntax
	}
	n, err := strconv.Atoi(s)
	if err != nil || n >= MaxCPU {
		return 0, strconv.ErrRange
	}
	return n, nil
}
