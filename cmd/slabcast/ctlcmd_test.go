package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slabcast/slabcast/config"
	"github.com/slabcast/slabcast/ctl"
	"github.com/slabcast/slabcast/pipeline"
)

// ctlFake is a Backend keeping streams in memory.
type ctlFake struct {
	mu      sync.Mutex
	streams []config.Stream
}

func (f *ctlFake) status(s config.Stream) ctl.StreamStatus {
	st := ctl.StreamStatus{Name: s.Name, Type: ctl.TypeStatic, Status: ctl.StatusRunning, ActiveInput: s.Inputs[0].URL}
	if s.OnDemand {
		st.Type, st.Status, st.ActiveInput = ctl.TypeOnDemand, ctl.StatusWaiting, ""
	}
	for _, in := range s.Inputs {
		st.Inputs = append(st.Inputs, in.URL)
	}
	return st
}

func (f *ctlFake) find(name string) int {
	return slices.IndexFunc(f.streams, func(s config.Stream) bool { return s.Name == name })
}

func (f *ctlFake) List() []ctl.StreamStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []ctl.StreamStatus
	for _, s := range f.streams {
		out = append(out, f.status(s))
	}
	return out
}

func (f *ctlFake) Show(name string) (config.Stream, ctl.StreamStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if i := f.find(name); i >= 0 {
		return f.streams[i], f.status(f.streams[i]), nil
	}
	return config.Stream{}, ctl.StreamStatus{}, fmt.Errorf("no stream %q", name)
}

func (f *ctlFake) Add(s config.Stream) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.find(s.Name) >= 0 {
		return fmt.Errorf("stream %q exists", s.Name)
	}
	f.streams = append(f.streams, s)
	return nil
}

func (f *ctlFake) Update(s config.Stream) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := f.find(s.Name)
	if i < 0 {
		return fmt.Errorf("no stream %q", s.Name)
	}
	f.streams[i] = s
	return nil
}

func (f *ctlFake) Remove(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := f.find(name)
	if i < 0 {
		return fmt.Errorf("no stream %q", name)
	}
	f.streams = slices.Delete(f.streams, i, i+1)
	return nil
}

func (f *ctlFake) Stats(name string) ([]ctl.StreamStats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []ctl.StreamStats
	for _, s := range f.streams {
		if name == "" || s.Name == name {
			// Every counter, in the daemon's order, as backend.go gives them.
			counts := map[pipeline.Counter]uint64{pipeline.Bytes: 3 << 20, pipeline.Packets: 16733, pipeline.Datagrams: 2391,
				pipeline.KernelDrops: 1, pipeline.TSLost: 4, pipeline.FilteredSync: 2, pipeline.Segments: 1800}
			var cs []ctl.Count
			for c := range pipeline.NumCounters {
				cs = append(cs, ctl.Count{Group: pipeline.Counters[c].Group, Name: pipeline.Counters[c].Name, N: counts[c]})
			}
			out = append(out, ctl.StreamStats{StreamStatus: f.status(s), UptimeSeconds: 3725, BitrateBps: 4_250_000,
				Counters: cs, TSErrors: map[string]uint64{"cc_error": 4, "pat_error": 1},
				Clients: 7, PIDs: []ctl.PIDStats{{PID: 256, Packets: 15000, Lost: 4, Codec: "h264"}, {PID: 257, Packets: 1733}}})
		}
	}
	if name != "" && out == nil {
		return nil, fmt.Errorf("no stream %q", name)
	}
	return out, nil
}

func (f *ctlFake) Reload() (config.Change, error) {
	return config.Change{Added: []string{"x", "y"}, Removed: []string{"z"}, Globals: []string{"cpus"}}, nil
}

// ctlServe runs a control server with a fake backend on a temporary socket.
func ctlServe(t *testing.T) (*ctlFake, string) {
	t.Helper()
	f := &ctlFake{}
	srv := ctl.NewServer(f, parseOptions, t.Logf)
	path := filepath.Join(t.TempDir(), "ctl.sock")
	l, err := ctl.ListenUnix(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return f, path
}

// ctlRun runs `slabcast ctl ARGS` in-process and returns its output.
func ctlRun(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := runCtlTo(args, &out)
	return out.String(), err
}

func ctlOK(t *testing.T, want string, args ...string) {
	t.Helper()
	out, err := ctlRun(t, args...)
	if err != nil {
		t.Fatalf("slabcast ctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if out != want {
		t.Fatalf("slabcast ctl %s:\n got:\n%s\nwant:\n%s", strings.Join(args, " "), out, want)
	}
}

func ctlFail(t *testing.T, want string, args ...string) string {
	t.Helper()
	out, err := ctlRun(t, args...)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("slabcast ctl %s: error %v, want one containing %q\n%s", strings.Join(args, " "), err, want, out)
	}
	return out
}

func TestCtlCommands(t *testing.T) {
	f, sock := ctlServe(t)
	s := "--socket=" + sock
	ctlOK(t, "no streams\n", s, "list")
	ctlOK(t, `added news
name              news
type              static
input             udp://239.0.0.1:1234 priority=1
input             udp://239.0.0.2:1234 priority=2 source_timeout=3
segment_duration  2
segment_count     6
chunk_duration    200
source_timeout    10
clients_timeout   30
disabled          false
`, "--socket", sock, "add", "news", "udp://239.0.0.1:1234", "priority=1",
		"--input", "udp://239.0.0.2:1234", "priority=2", "source_timeout=3", "clients_timeout=30")
	ctlOK(t, "added cam\n"+`name              cam
type              ondemand
input             udp://239.0.0.9:1234 rcvbuf=4194304
segment_duration  1.5
segment_count     6
chunk_duration    200
source_timeout    5
clients_timeout   20
disabled          false
`, "add", "cam", "--type", "ondemand", "input=udp://239.0.0.9:1234", "rcvbuf=4M", "--segment-duration", "1.5", "--source-timeout=5", s)
	if st, _, _ := f.Show("cam"); !st.OnDemand || st.Inputs[0].SourceTimeout != 5*time.Second || st.Inputs[0].RecvBuffer != 4<<20 {
		t.Fatalf("cam as added: %+v", st)
	}
	ctlOK(t, `NAME  TYPE      STATUS   INPUTS  ACTIVE INPUT
news  static    running  2       udp://239.0.0.1:1234
cam   ondemand  waiting  1       -
`, s, "list")
	ctlOK(t, `name              cam
type              ondemand
status            waiting
active input      -
input             udp://239.0.0.9:1234 rcvbuf=4194304
segment_duration  1.5
segment_count     6
chunk_duration    200
source_timeout    5
clients_timeout   20
disabled          false
`, "show", "cam", s)

	// update changes only what it is given.
	ctlOK(t, `updated news
name              news
type              static
input             udp://239.0.0.1:1234 priority=1
input             udp://239.0.0.2:1234 priority=2 source_timeout=3
segment_duration  2
segment_count     10
chunk_duration    200
source_timeout    10
clients_timeout   30
disabled          false
`, s, "update", "news", "segment_count=10")
	ctlOK(t, `updated cam
name              cam
type              static
input             udp://239.0.0.7:1234
segment_duration  1.5
segment_count     6
chunk_duration    200
source_timeout    5
clients_timeout   20
disabled          false
`, s, "update", "cam", "udp://239.0.0.7:1234", "type=static")

	ctlOK(t, `NAME  STATUS   UPTIME  BITRATE      IN       TS LOST  TS ERRORS  KERNEL DROPS  CLIENTS  SEGMENTS
news  running  1h2m5s  4.25 Mbit/s  3.0 MiB  4        5          1             7        1800
cam   running  1h2m5s  4.25 Mbit/s  3.0 MiB  4        5          1             7        1800
`, s, "stats")
	ctlOK(t, `name                 cam
type                 static
status               running
active input         udp://239.0.0.7:1234
uptime               1h2m5s
bitrate              4.25 Mbit/s
bytes in             3145728 (3.0 MiB)
packets in           16733
datagrams in         2391
bad datagrams        0
filtered size        0
filtered sync        2
filtered rtp         0
kernel drops         1
ts lost              4
rtp lost             0
rtp reordered        0
rtp duplicates       0
rtp late             0
dropped (no memory)  0
segments             1800
forced cuts          0
discontinuities      0
switches             0
errors connect       0
errors status        0
errors read          0
errors not ts        0
skipped bytes        0
publishes            0
key errors           0
withheld segments    0
ts error cc_error    4
ts error pat_error   1
clients              7

PID  CODEC  PACKETS  LOST
256  h264   15000    4
257  -      1733     0
`, s, "stats", "cam")
	ctlOK(t, "reloaded: added x, y; removed z\nrestart slabcast to apply: cpus\n", s, "reload")
	ctlOK(t, "removed cam\n", s, "remove", "cam")
	ctlOK(t, `{"ok":true,"streams":[{"name":"news","type":"static","status":"running","inputs":["udp://239.0.0.1:1234","udp://239.0.0.2:1234"],"active_input":"udp://239.0.0.1:1234"}]}`+"\n",
		"--json", s, "list")
	ctlOK(t, `{"ok":true}`+"\n", s, "remove", "news", "--json")

	// Refusals: the daemon's message, a non-nil error (exit status 1),
	// and with --json the answer as it came.
	ctlFail(t, `no stream "news"`, s, "show", "news")
	out := ctlFail(t, `no stream "news"`, s, "--json", "remove", "news")
	if out != `{"ok":false,"error":"no stream \"news\""}`+"\n" {
		t.Fatalf("--json refusal printed %q", out)
	}
	ctlFail(t, `ctl: segment_count: "2" is out of range 3..100`, s, "add", "a", "udp://239.0.0.1:1", "segment_count=2")
	ctlFail(t, `ctl: stream name "a//b" has an empty, '.' or '..' segment`, s, "add", "a//b", "udp://239.0.0.1:1")
	ctlFail(t, `ctl: input "webrtc://example.com:80/x": webrtc:// is not supported by slabcast yet`, s, "add", "a", "webrtc://example.com:80/x")
	ctlFail(t, `ctl: stream "a" has no input`, s, "add", "a")
	ctlFail(t, `no stream "ghost"`, s, "update", "ghost", "clients_timeout=1")
	if len(f.List()) != 0 {
		t.Fatalf("refused changes left streams: %+v", f.List())
	}
}

func TestCtlUsageErrors(t *testing.T) {
	_, sock := ctlServe(t)
	s := "--socket=" + sock
	ctlFail(t, "ctl: missing COMMAND", s)
	ctlFail(t, `ctl: unknown command "frob"`, s, "frob")
	ctlFail(t, "ctl: flag provided but not defined: -x", "-x", "list")
	ctlFail(t, "ctl list: flag provided but not defined: -name", s, "list", "--name", "a")
	ctlFail(t, `ctl list: unexpected argument "a"`, s, "list", "a")
	ctlFail(t, "ctl show: want one stream NAME, got 0 arguments", s, "show")
	ctlFail(t, "ctl remove: want one stream NAME, got 2 arguments", s, "remove", "a", "b")
	ctlFail(t, "ctl stats: want at most one stream NAME, got 2 arguments", s, "stats", "a", "b")
	ctlFail(t, "ctl add: missing stream NAME", s, "add")
	ctlFail(t, "ctl add: the stream NAME comes first", s, "add", "udp://239.0.0.1:1234")
	ctlFail(t, "ctl add: priority=1: an input option must follow its input URL", s, "add", "a", "priority=1", "udp://239.0.0.1:1234")
	ctlFail(t, "ctl add: priority=1: an input option must follow its input URL", s, "add", "a", "udp://239.0.0.1:1234", "clients_timeout=2", "priority=1")
	ctlFail(t, `ctl add: unknown option "colour"`, s, "add", "a", "udp://239.0.0.1:1234", "colour=red")
	ctlFail(t, "ctl add: segment_duration=two: not a number", s, "add", "a", "udp://239.0.0.1:1234", "segment_duration=two")
	ctlFail(t, "ctl add: rcvbuf=lots: not a size", s, "add", "a", "udp://239.0.0.1:1234", "rcvbuf=lots")
	ctlFail(t, `ctl add: invalid value "push" for flag -type: type "push": want static, ondemand or live`, s, "add", "a", "--type", "push")
	ctlFail(t, `unexpected argument "b"`, s, "add", "a", "b")
	ctlFail(t, "ctl update: nothing to change for a", s, "update", "a")
	ctlFail(t, "is slabcast running?", "--socket", filepath.Join(t.TempDir(), "none.sock"), "list")
}

func TestCtlHelp(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"list", "-h"}, {"show", "-h"}, {"add", "-h"}, {"update", "--help"},
		{"remove", "-h"}, {"stats", "-h"}, {"reload", "-h"}} {
		out, err := ctlRun(t, args...)
		if !errors.Is(err, flag.ErrHelp) || !strings.HasPrefix(out, "Usage: slabcast ctl") || !strings.Contains(out, "-socket PATH") {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	out, _ := ctlRun(t, "add", "-h")
	for _, want := range []string{"priority=N", "clients_timeout=SECONDS", "-segment-count N", "-input URL"} {
		if !strings.Contains(out, want) {
			t.Fatalf("add -h lacks %q:\n%s", want, out)
		}
	}
}

// -c FILE takes the socket from the config's ctl directive.
func TestCtlConfigSocket(t *testing.T) {
	f, sock := ctlServe(t)
	f.Add(config.Stream{Name: "a", Inputs: []config.Input{{URL: "udp://239.0.0.1:1234"}}})
	conf := filepath.Join(t.TempDir(), "slabcast.conf")
	if err := os.WriteFile(conf, []byte("ctl "+sock+";\nstream a udp://239.0.0.1:1234;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := ctlRun(t, "-c", conf, "list")
	if err != nil || !strings.Contains(out, "a     static  running  1       udp://239.0.0.1:1234") {
		t.Fatalf("list via -c: %v\n%s", err, out)
	}
	ctlFail(t, "no such file", "-c", conf+".missing", "list")
}
