package config

import (
	"reflect"
	"testing"
)

func TestDiff(t *testing.T) {
	f := func(old, new string, want Change) {
		t.Helper()
		got := Diff(mustParse(t, old), mustParse(t, new))
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Diff(%q, %q) =\n%+v\nwant\n%+v", old, new, got, want)
		}
		if got.Empty() != reflect.DeepEqual(want, Change{}) {
			t.Errorf("Diff(%q, %q).Empty() = %v", old, new, got.Empty())
		}
	}
	const a = "stream a udp://239.0.0.1:1;\n"
	const b = "stream b udp://239.0.0.2:1;\n"
	const c = "ondemand c udp://239.0.0.3:1;\n"
	f("", "", Change{})
	f(a+b+c, a+b+c, Change{})
	// Moving, reformatting, comments and spelling out defaults change nothing.
	f(a+b+c, "# x\n"+c+b+"stream a {\n input udp://239.0.0.1:1 source_timeout=10;\n segment_count 6; }\n", Change{})
	f("http 8080;"+a, "http :8080;"+a, Change{})
	f("memory 512M;", "", Change{})
	f("cpus 1,0;", "cpus 0-1;", Change{})

	f(a, a+b+c, Change{Added: []string{"b", "c"}})
	f(c+b+a, a, Change{Removed: []string{"c", "b"}})
	f(a+b, b+c, Change{Added: []string{"c"}, Removed: []string{"a"}})
	f(a+b+c, "stream c udp://239.0.0.3:1;"+b+"stream a { input udp://239.0.0.1:1; segment_count 7; }",
		Change{Changed: []string{"c", "a"}})
	f(a, "stream a udp://239.0.0.1:2;", Change{Changed: []string{"a"}})
	f(a, "stream a { input udp://239.0.0.1:1 priority=1; }", Change{Changed: []string{"a"}})
	f(a, "stream a { input udp://239.0.0.1:1; source_timeout 3; }", Change{Changed: []string{"a"}})
	f(a, "stream a { input udp://239.0.0.1:1; input udp://239.0.0.1:2; }", Change{Changed: []string{"a"}})
	f(c, "ondemand c { input udp://239.0.0.3:1; clients_timeout 1; }", Change{Changed: []string{"c"}})
	f(a+b, "stream b { input udp://239.0.0.2:1; segment_duration 3; }"+c, Change{
		Added: []string{"c"}, Removed: []string{"a"}, Changed: []string{"b"}})

	f("http 1; ctl /a; cpus 0; memory 16M;", "http 2; ctl /b; cpus 1; memory 32M;",
		Change{Globals: []string{"http", "ctl", "cpus", "memory"}})
	f("cpus 0;"+a, "memory 1G;"+a+b, Change{Added: []string{"b"}, Globals: []string{"cpus", "memory"}})
	f("ctl /run/slabcast/ctl.sock;", "", Change{})

	// A nil config has no streams and no globals to compare.
	cfg := mustParse(t, "http 1;"+a+b)
	if got, want := Diff(nil, cfg), (Change{Added: []string{"a", "b"}}); !reflect.DeepEqual(got, want) {
		t.Errorf("Diff(nil, cfg) = %+v, want %+v", got, want)
	}
	if got, want := Diff(cfg, nil), (Change{Removed: []string{"a", "b"}}); !reflect.DeepEqual(got, want) {
		t.Errorf("Diff(cfg, nil) = %+v, want %+v", got, want)
	}
	if got := Diff(nil, nil); !got.Empty() {
		t.Errorf("Diff(nil, nil) = %+v", got)
	}
}
