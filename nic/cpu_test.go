package nic

import (
	"slices"
	"strings"
	"testing"
)

func TestParseCPUList(t *testing.T) {
	ok := func(in string, want ...int) {
		t.Helper()
		got, err := ParseCPUList(in)
		if err != nil {
			t.Fatalf("ParseCPUList(%q): %v", in, err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("ParseCPUList(%q) = %v, want %v", in, got, want)
		}
	}
	ok("0", 0)
	ok("0-1,3", 0, 1, 3)
	ok("3,0-1", 0, 1, 3)
	ok(" 2 - 2 , 1 ", 1, 2)
	ok("0-3,2-5", 0, 1, 2, 3, 4, 5)
	ok("1023", 1023)

	bad := func(in, part string) {
		t.Helper()
		_, err := ParseCPUList(in)
		if err == nil {
			t.Fatalf("ParseCPUList(%q) succeeded", in)
		}
		if !strings.HasPrefix(err.Error(), "nic: cpu list ") || !strings.Contains(err.Error(), part) {
			t.Fatalf("ParseCPUList(%q) error %q does not name %s", in, err, part)
		}
	}
	bad("", "empty")
	bad(" ", "empty")
	bad("0-x", `"0-x"`)
	bad("0,,1", `bad part ""`)
	bad("3-1", `"3-1" (range goes down)`)
	bad("-1", `"-1"`)
	bad("+1", `"+1"`)
	bad("1024", `"1024"`)
	bad("0-99999999999", `"0-99999999999"`)
	bad("1-2-3", `"1-2-3"`)
}

func TestOnlineCPUs(t *testing.T) {
	cpus := OnlineCPUs()
	if len(cpus) == 0 || !slices.IsSorted(cpus) {
		t.Fatalf("OnlineCPUs() = %v, want a non-empty ascending list", cpus)
	}
}

func FuzzParseCPUList(f *testing.F) {
	for _, s := range []string{"0", "0-1,3", "1023", "0-x", "3-1", " 1 , 2 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		cpus, err := ParseCPUList(in)
		if err != nil {
			return
		}
		if len(cpus) == 0 || !slices.IsSorted(cpus) || len(slices.Compact(slices.Clone(cpus))) != len(cpus) {
			t.Fatalf("ParseCPUList(%q) = %v: want non-empty, sorted, distinct", in, cpus)
		}
		if cpus[0] < 0 || cpus[len(cpus)-1] >= MaxCPU {
			t.Fatalf("ParseCPUList(%q) = %v: out of range", in, cpus)
		}
	})
}
