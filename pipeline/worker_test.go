package pipeline

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slabcast/slabcast/bpf"
	"github.com/slabcast/slabcast/config"
	"github.com/slabcast/slabcast/internal/testnet"
	"github.com/slabcast/slabcast/nic"
	"github.com/slabcast/slabcast/ts"
)

// The whole receive path of a worker, recvmmsg into the batch, TS parse,
// splice into slabs, commit and wake-ups, allocates nothing per batch.
// Unicast on 127.0.0.1: no namespace needed.
func TestWorkerReadAllocations(t *testing.T) {
	w, err := newWorker(0, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer w.poller.Close()
	pool := testPool(t, MinMemory)
	uc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := uc.LocalAddr().(*net.UDPAddr).Port
	uc.Close()
	cfg := config.Stream{Name: "t", SegmentDuration: 60 * time.Second, SegmentCount: 6, SourceTimeout: 10 * time.Second,
		Inputs: []config.Input{{URL: fmt.Sprintf("udp://127.0.0.1:%d", port)}}}
	s := newStream(cfg, pool, t.Logf)
	s.w = w
	w.add(s)
	src, err := nic.ParseURL(cfg.Inputs[0].URL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := nic.Listen(src, nic.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !w.attach(s, 0, s.gen.Load(), conn, nil) {
		t.Fatal("attach failed")
	}
	defer w.remove(s)
	in := w.slots[s.inputs[0].tag]
	// A live reader is attached, so commits also wake someone.
	_, cancel := s.Subscribe()
	defer cancel()

	out, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	clip := readClip(t, "h264_aac.ts")
	const dg = 7 * ts.PacketSize
	off := 0
	send := func(n int) {
		for i := 0; i < n; i++ {
			if _, err := out.Write(clip[off : off+dg]); err != nil {
				t.Fatal(err)
			}
			off += dg
		}
	}
	now := epoch
	send(64) // PSI and the first keyframe: the segment opens
	in.read(w.batch, now)
	before := s.Stats().Count[Datagrams]
	allocs := testing.AllocsPerRun(8, func() {
		send(batchCount)
		now = now.Add(100 * time.Millisecond)
		in.read(w.batch, now)
	})
	got := s.Stats().Count[Datagrams] - before
	if got != 9*batchCount {
		t.Fatalf("read %d datagrams, sent %d", got, 9*batchCount)
	}
	if allocs != 0 {
		t.Fatalf("%v allocations per batch of %d datagrams, want 0", allocs, batchCount)
	}
	if s.seg.state != inSeg {
		t.Fatal("the measured stretch was not inside a segment")
	}
}

// The shared socket's read, recvmmsg, the group of each datagram, the
// stream it belongs to and on into the slabs, allocates nothing per batch
// either, and each stream gets exactly its group's datagrams.
func TestSharedReadAllocations(t *testing.T) {
	w := sharedWorker(t)
	pool := testPool(t, 2*MinMemory)
	groups := []string{"239.5.1.1:5100", "239.5.1.2:5100"}
	claimPort(w, groups[0])
	streams, send := joinSenders(t, w, pool, "s", groups)
	if len(w.shared) != 1 {
		t.Fatalf("%d shared sockets, want 1", len(w.shared))
	}
	var sc *sharedConn
	for _, x := range w.shared {
		if len(x) != 1 {
			t.Fatalf("%d shared sockets for the port, want 1", len(x))
		}
		sc = x[0]
	}
	now := epoch
	send(64)
	for sc.read(w.batch, now); ; {
		if d, _ := sc.read(w.batch, now); d == 0 {
			break
		}
	}
	before := []uint64{streams[0].Stats().Count[Datagrams], streams[1].Stats().Count[Datagrams]}
	allocs := testing.AllocsPerRun(8, func() {
		send(batchCount / 2)
		now = now.Add(100 * time.Millisecond)
		sc.read(w.batch, now)
	})
	for i, s := range streams {
		if got := s.Stats().Count[Datagrams] - before[i]; got != 9*batchCount/2 {
			t.Errorf("stream %d read %d datagrams, sent %d", i, got, 9*batchCount/2)
		}
	}
	if allocs != 0 {
		t.Fatalf("%v allocations per batch of %d datagrams, want 0", allocs, batchCount)
	}
}

// More groups on a port than the kernel lets one socket join
// (net.ipv4.igmp_max_memberships) take more shared sockets, and a second
// stream of a group already on one goes to another: every stream gets its
// own group's datagrams, and only those.
func TestSharedSocketsOverflow(t *testing.T) {
	w := sharedWorker(t)
	raw, err := os.ReadFile("/proc/sys/net/ipv4/igmp_max_memberships")
	if err != nil {
		t.Fatal(err)
	}
	limit, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || limit < 1 || limit > 200 {
		t.Skipf("igmp_max_memberships = %q: the test wants a small limit", raw)
	}
	pool := testPool(t, 4*MinMemory)
	n := limit + 3
	groups := make([]string, n+1)
	for i := 0; i < n; i++ {
		groups[i] = fmt.Sprintf("239.5.2.%d:5101", i+1)
	}
	groups[n] = groups[0] // a second stream of the first group
	claimPort(w, groups[0])
	var streams []*Stream
	for i, g := range groups {
		s := joinStream(t, w, pool, fmt.Sprint("s", i), g)
		defer w.remove(s)
		streams = append(streams, s)
	}
	var socks []*sharedConn
	for _, list := range w.shared {
		socks = append(socks, list...)
	}
	if want := (n + limit - 1) / limit; len(socks) != want {
		t.Fatalf("%d shared sockets for %d groups (and a duplicate), want %d", len(socks), n, want)
	}
	for _, sc := range socks {
		// Each member keeps the buffer a socket of its own would have.
		if want := min(len(sc.members)*nic.DefaultRecvBuffer, maxSharedBuffer); sc.conn.RecvBuffer()/2 < want {
			t.Errorf("a shared socket of %d groups has a %d-byte receive buffer, want %d", len(sc.members), sc.conn.RecvBuffer()/2, want)
		}
	}
	clip := readClip(t, "h264_aac.ts")
	const dg = 7 * ts.PacketSize
	for i, g := range groups[:n] {
		out, err := net.Dial("udp", g)
		if err != nil {
			t.Fatal(err)
		}
		for k := 0; k <= i%3; k++ { // group i: 1 + i%3 datagrams
			if _, err := out.Write(clip[k*dg : (k+1)*dg]); err != nil {
				t.Fatal(err)
			}
		}
		out.Close()
	}
	time.Sleep(20 * time.Millisecond)
	for _, sc := range socks {
		sc.read(w.batch, epoch)
	}
	for i, s := range streams {
		want := uint64(1 + i%3)
		if i == n {
			want = 1 // the first group's
		}
		if got := s.Stats().Count[Datagrams]; got != want {
			t.Errorf("stream %d (%s): %d datagrams, sent %d", i, groups[i], got, want)
		}
	}
	// The sockets close with their last member.
	for _, s := range streams {
		w.remove(s)
	}
	if len(w.shared) != 0 {
		t.Errorf("%d shared socket lists left after every stream left", len(w.shared))
	}
}

// claimPort stands for a first input of group's port that has a socket of
// its own (as the first input of a port does), so that the inputs the test
// joins share one.
func claimPort(w *worker, group string) {
	src, err := nic.ParseURL("udp://" + group)
	if err != nil {
		panic(err)
	}
	w.alone = map[sharedKey]*input{keyOf(src, bpf.KindTS, 0): {}}
}

// The first input of a port has a socket of its own; the second opens the
// shared one.
func TestFirstOnPortAlone(t *testing.T) {
	w, err := newWorker(0, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer w.poller.Close()
	pool := testPool(t, MinMemory)
	cfg := config.Stream{Name: "a", SegmentDuration: time.Second, SegmentCount: 3, SourceTimeout: time.Second,
		Inputs: []config.Input{{URL: "udp://239.5.3.1:5102"}}}
	s := newStream(cfg, pool, t.Logf)
	s.w = w
	w.add(s)
	defer w.remove(s)
	src, _ := nic.ParseURL(cfg.Inputs[0].URL)
	for try := 0; try < 2; try++ { // and again, on a retry of the same input
		if ok, err := w.join(s, 0, s.gen.Load(), src, bpf.KindTS, nic.Options{}); ok || err != errFirstOnPort {
			t.Fatalf("first input of the port: join = %v, %v; want errFirstOnPort", ok, err)
		}
	}
	w.remove(s)
	if len(w.alone) != 0 {
		t.Errorf("the port is still claimed after its stream left")
	}
}

// joinStream registers a stream of one input, group, on w and joins it to
// the worker's shared socket for the group's port.
func joinStream(t *testing.T, w *worker, pool *Pool, name, group string) *Stream {
	t.Helper()
	cfg := config.Stream{Name: name, SegmentDuration: 60 * time.Second, SegmentCount: 6, SourceTimeout: 10 * time.Second,
		Inputs: []config.Input{{URL: "udp://" + group}}}
	s := newStream(cfg, pool, t.Logf)
	s.w = w
	w.add(s)
	src, err := nic.ParseURL(cfg.Inputs[0].URL)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := w.join(s, 0, s.gen.Load(), src, bpf.KindTS, nic.Options{}); !ok {
		w.remove(s)
		t.Fatalf("join %s: %v", group, err)
	}
	return s
}

// sharedWorker is a worker for the shared-socket tests: they need a private
// network namespace and eBPF (sharing counts per group in the filter's
// map); without eBPF they skip, and fail under CI=true.
func sharedWorker(t *testing.T) *worker {
	t.Helper()
	testnet.Require(t)
	if mode, why := bpf.Probe(); mode != bpf.ModeEBPF {
		if os.Getenv("CI") == "true" {
			t.Fatalf("sharing needs eBPF: %v", why)
		}
		t.Skipf("sharing needs eBPF: %v", why)
	}
	w, err := newWorker(0, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.poller.Close() })
	return w
}

// A ring's path, block to segmenter, allocates nothing per datagram either,
// and every datagram reaches its group's stream.
func TestRingReadAllocations(t *testing.T) {
	w := sharedWorker(t)
	w.useRing = true
	pool := testPool(t, 2*MinMemory)
	groups := []string{"239.5.4.1:5104", "239.5.4.2:5104"}
	streams, send := joinSenders(t, w, pool, "r", groups)
	if len(w.rings) != 1 || len(w.shared) != 0 {
		t.Fatalf("%d rings and %d shared sockets, want one ring", len(w.rings), len(w.shared))
	}
	var rc *ringConn
	for _, x := range w.rings {
		rc = x
	}
	// drain reads until the ring has handed over everything sent.
	drain := func(now time.Time) {
		time.Sleep(3 * nic.DefaultRingTimeout)
		for {
			if d, _ := rc.read(w.batch, now); d == 0 {
				return
			}
		}
	}
	now := epoch
	send(64)
	drain(now)
	before := []uint64{streams[0].Stats().Count[Datagrams], streams[1].Stats().Count[Datagrams]}
	allocs := testing.AllocsPerRun(8, func() {
		send(batchCount / 2)
		now = now.Add(100 * time.Millisecond)
		time.Sleep(3 * nic.DefaultRingTimeout)
		rc.read(w.batch, now)
	})
	drain(now)
	for i, s := range streams {
		if got := s.Stats().Count[Datagrams] - before[i]; got != 9*batchCount/2 {
			t.Errorf("stream %d read %d datagrams, sent %d", i, got, 9*batchCount/2)
		}
	}
	if allocs != 0 {
		t.Fatalf("%v allocations per pass of %d datagrams, want 0", allocs, batchCount)
	}
}

// joinSenders joins a stream (named prefix0, prefix1, …, subscribed as a
// reader would be) to each group on w, and returns them with send, which
// sends n datagrams of the committed clip to each group, interleaved. All
// of it ends with the test.
func joinSenders(t *testing.T, w *worker, pool *Pool, prefix string, groups []string) ([]*Stream, func(n int)) {
	t.Helper()
	var streams []*Stream
	var outs []net.Conn
	for i, g := range groups {
		s := joinStream(t, w, pool, fmt.Sprint(prefix, i), g)
		t.Cleanup(func() { w.remove(s) })
		_, cancel := s.Subscribe()
		t.Cleanup(cancel)
		streams = append(streams, s)
		out, err := net.Dial("udp", g)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { out.Close() })
		outs = append(outs, out)
	}
	clip := readClip(t, "h264_aac.ts")
	const dg = 7 * ts.PacketSize
	off := 0
	return streams, func(n int) {
		for i := 0; i < n; i++ {
			for _, out := range outs {
				if _, err := out.Write(clip[off : off+dg]); err != nil {
					t.Fatal(err)
				}
			}
			off += dg
		}
	}
}
