package ctl

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/slabcast/slabcast/config"
)

// fakeBackend keeps streams in memory, like the daemon without a pipeline.
type fakeBackend struct {
	mu       sync.Mutex
	streams  []config.Stream
	padList  int // extra made-up streams List returns, to make big answers
	reloads  atomic.Int64
	maxCount int
}

func newFakeBackend() *fakeBackend { return &fakeBackend{maxCount: 1000} }

func (f *fakeBackend) status(s config.Stream) StreamStatus {
	st := StreamStatus{Name: s.Name, Type: TypeStatic, Status: StatusRunning, ActiveInput: s.Inputs[0].URL}
	if s.OnDemand {
		st.Type, st.Status, st.ActiveInput = TypeOnDemand, StatusWaiting, ""
	}
	for _, in := range s.Inputs {
		st.Inputs = append(st.Inputs, in.URL)
	}
	return st
}

func (f *fakeBackend) setPad(n int) {
	f.mu.Lock()
	f.padList = n
	f.mu.Unlock()
}

func (f *fakeBackend) find(name string) int {
	return slices.IndexFunc(f.streams, func(s config.Stream) bool { return s.Name == name })
}

func (f *fakeBackend) List() []StreamStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []StreamStatus
	for _, s := range f.streams {
		out = append(out, f.status(s))
	}
	for i := range f.padList {
		out = append(out, StreamStatus{Name: fmt.Sprintf("pad%06d", i), Type: TypeStatic, Status: StatusDown,
			Inputs: []string{"udp://239.255.255.255:65535", "udp://239.255.255.254:65535"}})
	}
	return out
}

func (f *fakeBackend) Show(name string) (config.Stream, StreamStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := f.find(name)
	if i < 0 {
		return config.Stream{}, StreamStatus{}, fmt.Errorf("fake: no stream %q", name)
	}
	return f.streams[i], f.status(f.streams[i]), nil
}

func (f *fakeBackend) Add(s config.Stream) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.find(s.Name) >= 0:
		return fmt.Errorf("fake: stream %q exists", s.Name)
	case len(f.streams) >= f.maxCount:
		return errors.New("fake: full")
	}
	f.streams = append(f.streams, s)
	return nil
}

func (f *fakeBackend) Update(s config.Stream) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := f.find(s.Name)
	if i < 0 {
		return fmt.Errorf("fake: no stream %q", s.Name)
	}
	f.streams[i] = s
	return nil
}

func (f *fakeBackend) Remove(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := f.find(name)
	if i < 0 {
		return fmt.Errorf("fake: no stream %q", name)
	}
	f.streams = slices.Delete(f.streams, i, i+1)
	return nil
}

func (f *fakeBackend) Stats(name string) ([]StreamStats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []StreamStats
	for _, s := range f.streams {
		if name == "" || s.Name == name {
			out = append(out, StreamStats{StreamStatus: f.status(s), UptimeSeconds: 12.5, BitrateBps: 4_000_000,
				Counters: []Count{{Name: "bytes_in", N: 1316 * 100}, {Name: "packets_in", N: 700}, {Name: "datagrams_in", N: 100},
					{Group: "filtered", Name: "size"}, {Group: "filtered", Name: "sync", N: 1}, {Name: "segments", N: 6}},
				TSErrors: map[string]uint64{"cc_error": 2}, Clients: 3,
				PIDs: []PIDStats{{PID: 256, Packets: 600, Lost: 2, Codec: "h264"}}})
		}
	}
	if name != "" && out == nil {
		return nil, fmt.Errorf("fake: no stream %q", name)
	}
	return out, nil
}

func (f *fakeBackend) Reload() (config.Change, error) {
	f.reloads.Add(1)
	return config.Change{Changed: []string{"a"}, Globals: []string{"http"}}, nil
}

// startServer serves a fake backend on a socket in a temporary directory.
func startServer(t *testing.T, setup func(*Server)) (*Server, *fakeBackend, string) {
	t.Helper()
	fb := newFakeBackend()
	srv := NewServer(fb, config.Options{}, t.Logf)
	srv.IdleTimeout = 200 * time.Millisecond
	srv.WriteTimeout = 200 * time.Millisecond
	if setup != nil {
		setup(srv)
	}
	path := filepath.Join(t.TempDir(), "ctl.sock")
	l, err := ListenUnix(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		select {
		case err := <-done:
			if !errors.Is(err, ErrServerClosed) {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("Serve did not return after Close")
		}
	})
	return srv, fb, path
}

// rawConn is a client that speaks the protocol by hand.
type rawConn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, path string) *rawConn {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, r: bufio.NewReaderSize(c, 1<<20)}
}

func (rc *rawConn) send(s string) {
	rc.t.Helper()
	if _, err := rc.c.Write([]byte(s)); err != nil {
		rc.t.Fatal(err)
	}
}

// answer reads one answer line within a bound.
func (rc *rawConn) answer() map[string]any {
	rc.t.Helper()
	rc.c.SetReadDeadline(time.Now().Add(3 * time.Second))
	line, err := rc.r.ReadBytes('\n')
	if err != nil {
		rc.t.Fatalf("read answer: %v (got %q)", err, line)
	}
	var m map[string]any
	if err := json.Unmarshal(line, &m); err != nil {
		rc.t.Fatalf("answer %q: %v", line, err)
	}
	return m
}

// closed checks that the server has closed the connection (within a bound).
func (rc *rawConn) closed() {
	rc.t.Helper()
	rc.c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if b, err := rc.r.ReadByte(); err == nil || !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		rc.t.Fatalf("connection not closed: read %q, %v", b, err)
	}
}

func wantError(t *testing.T, m map[string]any, want string) {
	t.Helper()
	if m["ok"] != false || !strings.Contains(fmt.Sprint(m["error"]), want) {
		t.Fatalf("answer %v, want an error containing %q", m, want)
	}
}

func TestServerCommands(t *testing.T) {
	_, fb, path := startServer(t, nil)
	c, err := Dial(path, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	do := func(req Request) Response {
		t.Helper()
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%+v: %v", req, err)
		}
		return resp
	}
	resp := do(Request{Cmd: CmdList})
	if string(resp.Raw) != `{"ok":true,"streams":[]}` {
		t.Fatalf("empty list: %s", resp.Raw)
	}
	resp = do(Request{Cmd: CmdAdd, StreamJSON: StreamJSON{Name: "a", Input: "udp://239.0.0.1:1234", Settings: map[string]string{"clients_timeout": "5"}}})
	if resp.Stream == nil || resp.Stream.Name != "a" || resp.Stream.Settings["clients_timeout"] != "5" || resp.Stream.Settings["segment_duration"] != "2" {
		t.Fatalf("add answer: %s", resp.Raw)
	}
	do(Request{Cmd: CmdAdd, StreamJSON: StreamJSON{Name: "b", Type: TypeOnDemand,
		Inputs: []InputJSON{{URL: "udp://239.0.0.2:1234", Settings: map[string]string{"priority": "1"}}, {URL: "udp://239.0.0.3:1234", Settings: map[string]string{"priority": "2"}}}}})
	resp = do(Request{Cmd: CmdList})
	want := `{"ok":true,"streams":[` +
		`{"name":"a","type":"static","status":"running","inputs":["udp://239.0.0.1:1234"],"active_input":"udp://239.0.0.1:1234"},` +
		`{"name":"b","type":"ondemand","status":"waiting","inputs":["udp://239.0.0.2:1234","udp://239.0.0.3:1234"]}]}`
	if string(resp.Raw) != want || len(resp.Streams) != 2 || resp.Streams[1].Inputs[1] != "udp://239.0.0.3:1234" {
		t.Fatalf("list:\n got %s\nwant %s", resp.Raw, want)
	}
	resp = do(Request{Cmd: CmdShow, StreamJSON: StreamJSON{Name: "b"}})
	if resp.Stream == nil || resp.Status == nil || resp.Stream.Type != TypeOnDemand || len(resp.Stream.Inputs) != 2 ||
		resp.Stream.Inputs[1].Settings["priority"] != "2" || resp.Status.Status != StatusWaiting {
		t.Fatalf("show: %s", resp.Raw)
	}
	upd := *resp.Stream
	upd.Settings["segment_count"] = "10"
	do(Request{Cmd: CmdUpdate, StreamJSON: upd})
	if s, _, _ := fb.Show("b"); s.SegmentCount != 10 || !s.OnDemand || len(s.Inputs) != 2 {
		t.Fatalf("after update: %+v", s)
	}
	resp = do(Request{Cmd: CmdStats, StreamJSON: StreamJSON{Name: "a"}})
	if len(resp.Stats) != 1 || resp.Stats[0].Name != "a" || resp.Stats[0].TSErrors["cc_error"] != 2 ||
		resp.Stats[0].PIDs[0].PID != 256 || resp.Stats[0].BitrateBps != 4_000_000 {
		t.Fatalf("stats a: %s", resp.Raw)
	}
	if !strings.Contains(string(resp.Raw), `"uptime_seconds":12.5,"bitrate_bps":4000000,"bytes_in":131600`) {
		t.Fatalf("stats keys: %s", resp.Raw)
	}
	if st := resp.Stats[0]; !strings.Contains(string(resp.Raw), `"filtered":{"size":0,"sync":1},"segments":6,`) ||
		st.Counter("filtered.sync") != 1 || st.Counter("segments") != 6 || len(st.Counters) != 6 {
		t.Fatalf("stats counters: %+v from %s", st.Counters, resp.Raw)
	}
	if resp = do(Request{Cmd: CmdStats}); len(resp.Stats) != 2 {
		t.Fatalf("stats: %s", resp.Raw)
	}
	resp = do(Request{Cmd: CmdReload})
	if string(resp.Raw) != `{"ok":true,"change":{"added":[],"removed":[],"changed":["a"],"globals":["http"]}}` {
		t.Fatalf("reload: %s", resp.Raw)
	}
	if string(do(Request{Cmd: CmdRemove, StreamJSON: StreamJSON{Name: "a"}}).Raw) != `{"ok":true}` {
		t.Fatal("remove")
	}

	// Refusals come back as *RemoteError with the Response.
	fail := func(req Request, want string) {
		t.Helper()
		resp, err := c.Do(req)
		var re *RemoteError
		if !errors.As(err, &re) || re.Msg != want || resp.OK || resp.Error != want {
			t.Fatalf("%+v: %v (%s), want %q", req, err, resp.Raw, want)
		}
	}
	fail(Request{Cmd: CmdRemove, StreamJSON: StreamJSON{Name: "a"}}, `fake: no stream "a"`)
	fail(Request{Cmd: CmdAdd, StreamJSON: StreamJSON{Name: "b", Input: "udp://239.0.0.1:1"}}, `fake: stream "b" exists`)
	fail(Request{Cmd: CmdShow}, `ctl: stream name is empty`)
	fail(Request{Cmd: CmdShow, StreamJSON: StreamJSON{Name: "../etc"}}, `ctl: stream name "../etc" has an empty, '.' or '..' segment`)
	fail(Request{Cmd: CmdStats, StreamJSON: StreamJSON{Name: "a//b"}}, `ctl: stream name "a//b" has an empty, '.' or '..' segment`)
	fail(Request{Cmd: "restart"}, `ctl: unknown command "restart" (commands: list, show, add, update, remove, stats, reload)`)
	fail(Request{Cmd: CmdAdd, StreamJSON: StreamJSON{Name: "c", Input: "udp://239.0.0.1"}}, `ctl: input "udp://239.0.0.1": config: missing port`)
	if got := len(fb.List()); got != 1 {
		t.Fatalf("%d streams after refused changes, want 1", got)
	}
	if fb.reloads.Load() != 1 {
		t.Fatal("reload not called once")
	}
}

// Bad lines get an error answer and the connection goes on serving.
func TestServerBadLines(t *testing.T) {
	_, _, path := startServer(t, nil)
	rc := dialRaw(t, path)
	f := func(line, want string) {
		t.Helper()
		rc.send(line + "\n")
		wantError(t, rc.answer(), want)
	}
	f(`{"cmd":"nope"}`, `unknown command "nope"`)
	f(`{"cmd":"list"`, `malformed JSON`)
	f(`hello`, `malformed JSON`)
	f("\x00\xff\xfe", `malformed JSON`)
	f(`[]`, `not a JSON object`)
	f(`{"cmd":"show","name":"a b"}`, `stream name "a b" has characters`)
	f(`{"cmd":"add","name":"x","input":"tcp://1.2.3.4:5"}`, `tcp:// is not supported by slabcast yet`)
	f(`{"cmd":"add","name":"x","input":"udp://a:1 ; stream y udp://b:1"}`, `URL has a space`)
	f(`{"cmd":"add","name":"x","input":"udp://a:1","segmentduration":2}`, `unknown key "segmentduration"`)
	rc.send("\n  \r\n") // blank lines are skipped
	rc.send(`{"cmd":"list"}` + "\r\n" + `{"cmd":"stats"}`)
	if m := rc.answer(); m["ok"] != true || m["streams"] == nil {
		t.Fatalf("list after bad lines: %v", m)
	}
	rc.c.(*net.UnixConn).CloseWrite() // the last line needs no newline
	if m := rc.answer(); m["ok"] != true || m["stats"] == nil {
		t.Fatalf("stats without newline: %v", m)
	}
	rc.closed()
}

func TestServerLineLimit(t *testing.T) {
	_, _, path := startServer(t, func(s *Server) { s.IdleTimeout = 3 * time.Second })
	rc := dialRaw(t, path)
	// A line of exactly MaxLine bytes is read (and refused for its content).
	pad := `{"cmd":"list","x":"` + strings.Repeat("y", MaxLine) + `"}`
	rc.send(pad[:MaxLine-2] + `"}` + "\n")
	wantError(t, rc.answer(), `unknown key "x"`)
	rc.send(`{"cmd":"list"}` + "\n")
	if m := rc.answer(); m["ok"] != true {
		t.Fatalf("after a MaxLine line: %v", m)
	}
	// One byte more is refused and the connection closed, even though the
	// client keeps sending.
	go func() {
		big := []byte(strings.Repeat(" ", MaxLine+1) + "\n")
		for range 20 {
			if _, err := rc.c.Write(big); err != nil {
				return
			}
		}
	}()
	wantError(t, rc.answer(), "request line is longer than 65536 bytes; closing")
	rc.closed()
}

func TestServerIdle(t *testing.T) {
	srv, _, path := startServer(t, nil)
	silent := dialRaw(t, path)
	half := dialRaw(t, path)
	half.send(`{"cmd":"li`)
	start := time.Now()
	wantError(t, silent.answer(), "no complete request line for 200ms; closing")
	silent.closed()
	wantError(t, half.answer(), "no complete request line for 200ms; closing")
	half.closed()
	if d := time.Since(start); d < 150*time.Millisecond || d > 2*time.Second {
		t.Fatalf("idle connections closed after %v, want about 200ms", d)
	}
	// A client that keeps sending whole requests is never idle.
	busy := dialRaw(t, path)
	for range 6 {
		time.Sleep(100 * time.Millisecond)
		busy.send(`{"cmd":"list"}` + "\n")
		if m := busy.answer(); m["ok"] != true {
			t.Fatal(m)
		}
	}
	waitConns(t, srv, 1)
}

// waitConns waits until the server serves n connections.
func waitConns(t *testing.T, srv *Server, n int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for srv.numConns() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections, want %d", srv.numConns(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A client that sends requests but never reads the answers is closed once
// an answer cannot be written in WriteTimeout, and does not hold up others.
func TestServerNonReader(t *testing.T) {
	srv, fb, path := startServer(t, func(s *Server) { s.IdleTimeout = 5 * time.Second })
	fb.setPad(2000) // each list answer is about 200 KB
	lazy := dialRaw(t, path)
	lazy.send(strings.Repeat(`{"cmd":"list"}`+"\n", 50))
	waitConns(t, srv, 1)
	good := dialRaw(t, path)
	start := time.Now()
	good.send(`{"cmd":"stats"}` + "\n")
	if m := good.answer(); m["ok"] != true {
		t.Fatal(m)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("a well-behaved client waited %v", d)
	}
	waitConns(t, srv, 1) // only the good one is left
}

func TestServerMaxConns(t *testing.T) {
	srv, _, path := startServer(t, func(s *Server) { s.MaxConns = 4; s.IdleTimeout = 5 * time.Second })
	var held []*rawConn
	for range 4 {
		held = append(held, dialRaw(t, path))
	}
	waitConns(t, srv, 4)
	extra := dialRaw(t, path)
	wantError(t, extra.answer(), "too many control connections (4)")
	extra.closed()
	for _, rc := range held { // the held ones still work
		rc.send(`{"cmd":"list"}` + "\n")
		if m := rc.answer(); m["ok"] != true {
			t.Fatal(m)
		}
	}
	held[0].c.Close()
	waitConns(t, srv, 3)
	again := dialRaw(t, path)
	again.send(`{"cmd":"list"}` + "\n")
	if m := again.answer(); m["ok"] != true {
		t.Fatal(m)
	}
}

// Fifty clients at once, fifteen of them misbehaving in each way: every
// well-behaved one is answered correctly and promptly.
func TestServerConcurrentClients(t *testing.T) {
	// The well-behaved clients' next request must not meet the idle
	// timeout: 200 ms (startServer's) is less than fifty clients on two
	// busy cores can take between an answer and the next request (seen
	// under -race). The misbehaving ones are closed by the write timeout
	// or their own second.
	srv, fb, path := startServer(t, func(s *Server) { s.IdleTimeout = 2 * time.Second })
	fb.setPad(200)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 15 {
		wg.Go(func() {
			c, err := net.Dial("unix", path)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			switch i % 5 {
			case 0: // connects and says nothing
			case 1: // half a line, then stalls
				c.Write([]byte(`{"cmd":"add","name":`))
			case 2: // an endless line
				c.Write([]byte(strings.Repeat("x", 2*MaxLine)))
			case 3: // garbage, fast
				for range 50 {
					if _, err := c.Write([]byte("\x00{]garbage\n")); err != nil {
						break
					}
				}
			case 4: // never reads its answers
				c.Write([]byte(strings.Repeat(`{"cmd":"list"}`+"\n", 500)))
			}
			time.Sleep(time.Second)
		})
	}
	start := time.Now()
	var slowest atomic.Int64
	for i := range 35 {
		wg.Go(func() {
			t0 := time.Now()
			c, err := Dial(path, 3*time.Second)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			name := fmt.Sprintf("s%02d", i)
			for j := range 5 {
				in := fmt.Sprintf("udp://239.1.%d.%d:1234", i, j)
				req := Request{Cmd: CmdAdd, StreamJSON: StreamJSON{Name: name, Input: in}}
				if j > 0 {
					req.Cmd = CmdUpdate
				}
				if _, err := c.Do(req); err != nil {
					errs <- fmt.Errorf("%s %s: %w", req.Cmd, name, err)
					return
				}
				resp, err := c.Do(Request{Cmd: CmdShow, StreamJSON: StreamJSON{Name: name}})
				if err != nil || resp.Stream.Inputs[0].URL != in {
					errs <- fmt.Errorf("show %s: %v %s", name, err, resp.Raw)
					return
				}
				if resp, err := c.Do(Request{Cmd: CmdStats, StreamJSON: StreamJSON{Name: name}}); err != nil || resp.Stats[0].Name != name {
					errs <- fmt.Errorf("stats %s: %v %s", name, err, resp.Raw)
					return
				}
				if resp, err := c.Do(Request{Cmd: CmdList}); err != nil || len(resp.Streams) < 200 {
					errs <- fmt.Errorf("list: %v", err)
					return
				}
			}
			if _, err := c.Do(Request{Cmd: CmdRemove, StreamJSON: StreamJSON{Name: name}}); err != nil {
				errs <- err
			}
			if d := int64(time.Since(t0)); d > slowest.Load() {
				slowest.Store(d)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if d := time.Duration(slowest.Load()); d > 3*time.Second {
		t.Errorf("the slowest well-behaved client took %v", d)
	}
	t.Logf("all done in %v; slowest well-behaved client %v", time.Since(start), time.Duration(slowest.Load()))
	if st, _ := fb.Stats(""); len(st) != 0 {
		t.Errorf("%d streams left", len(st))
	}
	waitConns(t, srv, 0)
}

func TestListenUnix(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "run", "ctl.sock") // the directory is created
	l, err := ListenUnix(path, os.Getgid())
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != SocketMode {
		t.Fatalf("socket %v, %v", fi.Mode(), err)
	}
	if gid := fi.Sys().(*syscall.Stat_t).Gid; int(gid) != os.Getgid() {
		t.Fatalf("socket group %d, want %d", gid, os.Getgid())
	}
	if os.Geteuid() == 0 { // only root may give the socket another group
		other := filepath.Join(dir, "other.sock")
		l2, err := ListenUnix(other, 4242)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(other)
		if err != nil || fi.Sys().(*syscall.Stat_t).Gid != 4242 {
			t.Fatalf("socket with gid 4242: %v %v", fi.Sys(), err)
		}
		l2.Close()
	}
	// A second daemon is refused while the first listens.
	if _, err := ListenUnix(path, -1); err == nil || !strings.Contains(err.Error(), "another process is listening") {
		t.Fatalf("second listener: %v", err)
	}
	l.Close()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket file after Close: %v", err)
	}
	// A stale socket file (nobody listens) is replaced.
	stale, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	stale.SetUnlinkOnClose(false)
	stale.Close()
	l, err = ListenUnix(path, -1)
	if err != nil {
		t.Fatalf("over a stale socket: %v", err)
	}
	srv := NewServer(newFakeBackend(), config.Options{}, nil)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	c, err := Dial(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Do(Request{Cmd: CmdList}); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	if err := <-done; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve after Close: %v", err)
	}
	if _, err := c.Do(Request{Cmd: CmdList}); err == nil {
		t.Fatal("a connection survived Close")
	}
	if err := srv.Serve(l); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve on a closed server: %v", err)
	}
	// A file that is not a socket is left alone.
	plain := filepath.Join(dir, "plain")
	os.WriteFile(plain, []byte("keep"), 0o600)
	if _, err := ListenUnix(plain, -1); err == nil || !strings.Contains(err.Error(), "is not a socket") {
		t.Fatalf("over a plain file: %v", err)
	}
	if b, _ := os.ReadFile(plain); string(b) != "keep" {
		t.Fatal("plain file changed")
	}
}

func TestDialNothing(t *testing.T) {
	if _, err := Dial(filepath.Join(t.TempDir(), "none.sock"), time.Second); err == nil || !strings.HasPrefix(err.Error(), "ctl: ") {
		t.Fatalf("Dial of a missing socket: %v", err)
	}
}
