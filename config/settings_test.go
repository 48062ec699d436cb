package config

import (
	"slices"
	"testing"
)

// TestSettingsTable checks the table's rows against each other: a default
// reads back as itself, an inherited setting has its source, names are
// unique within a scope, and every row says what it is for.
func TestSettingsTable(t *testing.T) {
	seen := map[Scope]map[string]bool{}
	for _, set := range Settings {
		if seen[set.Scope] == nil {
			seen[set.Scope] = map[string]bool{}
		}
		if seen[set.Scope][set.Name] {
			t.Errorf("%s: listed twice in scope %d", set.Name, set.Scope)
		}
		seen[set.Scope][set.Name] = true
		if Lookup(set.Scope, set.Name) != set {
			t.Errorf("%s: Lookup finds another row", set.Name)
		}
		if set.Help == "" || set.Kind.Metavar() == "VALUE" {
			t.Errorf("%s: no help or no metavar", set.Name)
		}
		if set.Scope != Global && set.Types == 0 {
			t.Errorf("%s: applies to no stream type", set.Name)
		}
		var c Config
		var s Stream
		var in Input
		p := set.ptr(&c, &s, &in)
		if set.Default != "" {
			if msg := set.set(p, set.Name, set.Default); msg != "" {
				t.Errorf("%s: default %q refused: %s", set.Name, set.Default, msg)
			} else if got := set.text(p); got != set.Default {
				t.Errorf("%s: default %q writes back as %q", set.Name, set.Default, got)
			}
		}
		if set.Inherit != "" {
			if set.Scope != PerInput || Lookup(PerStream, set.Inherit) == nil {
				t.Errorf("%s: inherits %q, which is no stream setting", set.Name, set.Inherit)
			}
		}
		if set.Kind.Numeric() && set.Min > set.Max {
			t.Errorf("%s: range %d..%d", set.Name, set.Min, set.Max)
		}
	}
	if got := Names(PerInput); !slices.Equal(got, []string{"priority", "source_timeout", "program", "rcvbuf", "pids", "rtp", "streamid", "passphrase"}) {
		t.Errorf("input options %q", got)
	}
	if inputOptionList != "priority, source_timeout, program, rcvbuf, pids, rtp, streamid and passphrase" {
		t.Errorf("inputOptionList %q", inputOptionList)
	}
}

// A stream of defaults is written with none of its settings.
func TestFormatStreamDefaults(t *testing.T) {
	c := mustParse(t, "stream a udp://239.0.0.1:1234;")
	if got, want := string(FormatStream(c.Streams[0])), "stream a {\n  input udp://239.0.0.1:1234;\n}\n"; got != want {
		t.Errorf("FormatStream = %q, want %q", got, want)
	}
}

func TestCPUListText(t *testing.T) {
	f := func(cpus []int, want string) {
		t.Helper()
		if got := cpuListText(cpus); got != want {
			t.Errorf("cpuListText(%v) = %q, want %q", cpus, got, want)
		}
	}
	f(nil, "")
	f([]int{0}, "0")
	f([]int{0, 1}, "0-1")
	f([]int{0, 1, 2, 5, 7, 8}, "0-2,5,7-8")
}
