package nic

import (
	"fmt"
	"slices"
	"strings"
)

// MaxCPU bounds CPU numbers accepted by ParseCPUList and PinThread (the size
// of the kernel's default cpu_set_t): they are 0..MaxCPU-1.
const MaxCPU = 1024

// CPUListProblem is what is wrong with a CPU list.
type CPUListProblem uint8

const (
	CPUListSyntax CPUListProblem = iota // not N or N-M
	CPUListDown                         // a range N-M with M < N
	CPUListRange                        // a CPU number MaxCPU or above
)

// CPUListError is the error of ParseCPUList: Part of List is wrong, as
// Problem says.
type CPUListError struct {
	List, Part string
	Problem    CPUListProblem
}

func (e *CPUListError) Error() string {
	why := fmt.Sprintf("want N or N-M, 0 <= N < %d", MaxCPU)
	switch {
	case e.List == "" || strings.TrimSpace(e.List) == "":
		return fmt.Sprintf("nic: cpu list %q: empty", e.List)
	case e.Problem == CPUListDown:
		why = "range goes down"
	}
	return fmt.Sprintf("nic: cpu list %q: bad part %q (%s)", e.List, e.Part, why)
}

// Msg says what is wrong in words that follow the quoted list: `"3-1" has
// range 3-1 going down`.
func (e *CPUListError) Msg() string {
	switch e.Problem {
	case CPUListDown:
		return "has range " + e.Part + " going down"
	case CPUListRange:
		return fmt.Sprintf("names a CPU above %d", MaxCPU-1)
	}
	return "is not a CPU list like 0-3,6"
}

// ParseCPUList parses a Linux cpu list such as "0-1,3" into sorted, distinct
// CPU numbers ([0 1 3]). Spaces around parts are ignored. Errors are
// *CPUListError and name the bad part: `nic: cpu list "0-x": bad part "0-x"
// (…)`. It is the one parser of CPU lists: the config's cpus directive
// takes exactly what PinThread can pin.
func ParseCPUList(s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, &CPUListError{List: s}
	}
	var set [MaxCPU / 64]uint64
	for part := range strings.SplitSeq(s, ",") {
		p := strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(p, "-")
		a, probA, okA := parseCPU(strings.TrimSpace(lo))
		b, probB, okB := a, probA, okA
		if isRange {
			b, probB, okB = parseCPU(strings.TrimSpace(hi))
		}
		switch {
		case !okA || !okB:
			prob := probA
			if okA || probB == CPUListSyntax {
				prob = probB
			}
			return nil, &CPUListError{List: s, Part: p, Problem: prob}
		case b < a:
			return nil, &CPUListError{List: s, Part: p, Problem: CPUListDown}
		}
		for c := a; c <= b; c++ {
			set[c/64] |= 1 << (c % 64)
		}
	}
	var cpus []int
	for c := range MaxCPU {
		if set[c/64]&(1<<(c%64)) != 0 {
			cpus = append(cpus, c)
		}
	}
	return slices.Clip(cpus), nil
}

// parseCPU parses a CPU number: digits only, below MaxCPU; when not ok,
// prob says why.
func parseCPU(s string) (n int, prob CPUListProblem, ok bool) {
	if s == "" {
		return 0, CPUListSyntax, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, CPUListSyntax, false
		}
		if n < MaxCPU {
			n = n*10 + int(c-'0')
		}
	}
	if n >= MaxCPU {
		return 0, CPUListRange, false
	}
	return n, 0, true
}
