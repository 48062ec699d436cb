package bpf

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slabcast/slabcast/internal/testnet"
	"github.com/slabcast/slabcast/nic"
	"golang.org/x/sys/unix"
)

// sink is a UDP socket bound to 127.0.0.1 with a filter attached before
// the bind, and a connected sender. classic says the filter trims what it
// refuses to markers.
type sink struct {
	fd, tx  int
	port    int
	classic bool
	buf     []byte
}

func newSink(t testing.TB, f *Filter) *sink {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if f != nil {
		if err := f.Attach(fd); err != nil {
			t.Fatal(err)
		}
	}
	tv := unix.NsecToTimeval((2 * time.Second).Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	port := sa.(*unix.SockaddrInet4).Port
	return &sink{fd: fd, port: port, tx: sender(t, port), classic: f != nil && f.Mode() == ModeClassic, buf: make([]byte, 1<<16)}
}

// fence returns a valid datagram for kind that no table case equals.
func fence(kind Kind) []byte {
	p := tsPackets(1)
	copy(p[4:], "slabcast bpf test fence")
	if kind == KindRTP {
		return cat(rtpHeader(2, 0, -1, false), p)
	}
	return p
}

// dropped is the verdict of a datagram that did not arrive.
const dropped Reason = 0xff

// verdict sends payload and then a fence, and returns what arrived before
// the fence: Pass for the payload itself, the reason of a classic filter's
// marker (which must be the payload's first bytes), or dropped for nothing.
// Only two datagrams are ever queued, so none overflows the receive buffer.
func (s *sink) verdict(t testing.TB, kind Kind, payload []byte) Reason {
	t.Helper()
	m := fence(kind)
	for _, d := range [][]byte{payload, m} {
		if _, err := unix.Write(s.tx, d); err != nil {
			t.Fatalf("send %d bytes: %v", len(d), err)
		}
	}
	got := dropped
	for {
		n, _, err := unix.Recvfrom(s.fd, s.buf, 0)
		if err != nil {
			t.Fatalf("receive (the fence was refused?): %v", err)
		}
		d := s.buf[:n]
		if bytes.Equal(d, m) {
			return got
		}
		if got != dropped {
			t.Fatalf("a second datagram (%d bytes) before the fence", n)
		}
		if r, ok := Marker(kind, n); ok && s.classic {
			if !bytes.HasPrefix(payload, d) {
				t.Fatalf("%v marker % x is not the start of the refused datagram", r, d)
			}
			got = r
			continue
		}
		if !bytes.Equal(d, payload) {
			t.Fatalf("received a datagram of %d bytes that was not sent", n)
		}
		got = Pass
	}
}

// passes reports whether payload arrived whole.
func (s *sink) passes(t testing.TB, kind Kind, payload []byte) bool {
	t.Helper()
	return s.verdict(t, kind, payload) == Pass
}

// wantVerdict is what verdict must return for a datagram Classify judges r
// on a socket with a filter of mode m: refusals are markers in classic
// mode and vanish in eBPF mode.
func wantVerdict(m Mode, r Reason) Reason {
	if r == Pass || m == ModeClassic {
		return r
	}
	return dropped
}

// checkTable sends every table case through a socket with f attached and
// checks the verdicts against Classify, then the counters: in eBPF mode the
// map's, and the socket's drop counter holding the refusals; in classic
// mode the markers, and a drop counter at 0 since nothing overflowed.
func checkTable(t *testing.T, f *Filter) {
	t.Helper()
	s := newSink(t, f)
	var want, markers Counts
	for _, tc := range cases() {
		wantReason := Classify(f.Kind(), tc.payload)
		got := s.verdict(t, f.Kind(), tc.payload)
		if got != wantVerdict(f.Mode(), wantReason) {
			t.Errorf("%s %s filter: %s: got %v, Classify says %v", f.Mode(), f.Kind(), tc.name, got, wantReason)
		}
		want.add(wantReason)
		want.add(Pass) // the fence
		if got != dropped {
			markers.add(got)
			markers.add(Pass)
		}
	}
	if want.Passed < 20 || want.Refused < 15 {
		t.Fatalf("table too thin: %+v", want)
	}
	drops, err := SocketDrops(s.fd)
	if err != nil {
		t.Fatal(err)
	}
	got, ok, err := f.Counts()
	if err != nil {
		t.Fatal(err)
	}
	switch f.Mode() {
	case ModeEBPF:
		if !ok || got != want {
			t.Errorf("%s filter counters %+v (ok=%v), want %+v", f.Kind(), got, ok, want)
		}
		if drops != want.Refused {
			t.Errorf("ebpf %s filter: socket drops %d, want %d refused", f.Kind(), drops, want.Refused)
		}
	case ModeClassic:
		if ok || got != (Counts{}) {
			t.Errorf("classic %s filter: Counts = %+v, %v; want none", f.Kind(), got, ok)
		}
		if markers != want {
			t.Errorf("classic %s filter: received and markers %+v, want %+v", f.Kind(), markers, want)
		}
		if drops != 0 {
			t.Errorf("classic %s filter: socket drops %d, want 0 (refusals are markers)", f.Kind(), drops)
		}
	}
}

func TestEBPFSocket(t *testing.T) {
	needEBPF(t)
	for _, kind := range []Kind{KindTS, KindRTP} {
		t.Run(kind.String(), func(t *testing.T) {
			f, err := New(kind)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Mode() != ModeEBPF || f.Why() != nil || f.Kind() != kind {
				t.Fatalf("New(%v): mode %v, why %v", kind, f.Mode(), f.Why())
			}
			checkTable(t, f)
		})
	}
}

func TestClassicSocket(t *testing.T) {
	for _, kind := range []Kind{KindTS, KindRTP} {
		t.Run(kind.String(), func(t *testing.T) {
			f, err := newFilter(kind, true)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var fe *FallbackError
			if f.Mode() != ModeClassic || !errors.As(f.Why(), &fe) || !errors.Is(f.Why(), errClassicRequested) {
				t.Fatalf("mode %v, why %v", f.Mode(), f.Why())
			}
			checkTable(t, f)
		})
	}
}

// Two filters count apart: the counters are per stream.
func TestCountersPerFilter(t *testing.T) {
	needEBPF(t)
	a, b := newFilterT(t, KindTS), newFilterT(t, KindTS)
	sa, sb := newSink(t, a), newSink(t, b)
	for range 3 {
		sa.passes(t, KindTS, tsPackets(2))
	}
	sb.passes(t, KindTS, garbage(9, 300))
	ca, _, _ := a.Counts()
	cb, _, _ := b.Counts()
	if ca != (Counts{Passed: 6}) || cb != (Counts{Passed: 1, Refused: 1, BadSize: 1}) {
		t.Errorf("counters a %+v, b %+v", ca, cb)
	}
}

func newFilterT(t testing.TB, kind Kind) *Filter {
	t.Helper()
	f, err := New(kind)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// A closed filter keeps filtering the sockets it is attached to, but can
// neither count nor attach.
func TestClose(t *testing.T) {
	for _, classic := range []bool{false, true} {
		f, err := newFilter(KindTS, classic)
		if err != nil {
			t.Fatal(err)
		}
		s := newSink(t, f)
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if got := s.verdict(t, KindTS, garbage(4, 188)); got != wantVerdict(f.Mode(), BadSync) || !s.passes(t, KindTS, tsPackets(3)) {
			t.Errorf("%v: socket unfiltered after Close: %v", f.Mode(), got)
		}
		if err := f.Attach(s.fd); err == nil {
			t.Errorf("%v: Attach after Close succeeded", f.Mode())
		}
		if _, _, err := f.Counts(); f.Mode() == ModeEBPF && err == nil {
			t.Errorf("Counts after Close succeeded")
		}
	}
}

func TestUnknownKind(t *testing.T) {
	if _, err := New(Kind(3)); err == nil || !strings.HasPrefix(err.Error(), "bpf: ") {
		t.Errorf("New(3): %v", err)
	}
}

func TestAttachBadFd(t *testing.T) {
	f, err := newFilter(KindRTP, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Attach(-1); !errors.Is(err, unix.EBADF) {
		t.Errorf("Attach(-1) = %v, want EBADF", err)
	}
	if _, err := SocketDrops(-1); !errors.Is(err, unix.EBADF) {
		t.Errorf("SocketDrops(-1) = %v, want EBADF", err)
	}
}

// Probe agrees with New.
func TestProbe(t *testing.T) {
	mode, why := Probe()
	f := newFilterT(t, KindRTP)
	if f.Mode() != mode || (why == nil) != (f.Why() == nil) {
		t.Errorf("Probe: %v %v; New: %v %v", mode, why, f.Mode(), f.Why())
	}
	t.Logf("filter mode here: %v (%v)", mode, why)
}

// nic.Listen runs Control before it binds: the filter is in place before
// the first datagram.
func TestNicControl(t *testing.T) {
	f := newFilterT(t, KindTS)
	port := freePort(t)
	src, err := nic.ParseURL(fmt.Sprintf("udp://127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	c, err := nic.Listen(src, nic.Options{Control: f.Attach})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := &sink{fd: c.Fd(), port: port, classic: f.Mode() == ModeClassic, buf: make([]byte, 1<<16), tx: sender(t, port)}
	// nic's sockets are non-blocking; this test reads with a timeout.
	if err := unix.SetNonblock(s.fd, false); err != nil {
		t.Fatal(err)
	}
	tv := unix.NsecToTimeval((2 * time.Second).Nanoseconds())
	if err := unix.SetsockoptTimeval(s.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	if got := s.verdict(t, KindTS, garbage(5, 1316)); got != wantVerdict(f.Mode(), BadSync) || !s.passes(t, KindTS, tsPackets(7)) {
		t.Errorf("socket from nic.Listen is not filtered: %v", got)
	}
	want := uint64(1) // the refusal
	if f.Mode() == ModeClassic {
		want = 0 // it arrived as a marker
	}
	if drops, err := SocketDrops(s.fd); err != nil || drops != want {
		t.Errorf("%v: SocketDrops = %d, %v; want %d", f.Mode(), drops, err, want)
	}
}

// freePort returns a UDP port on 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return sa.(*unix.SockaddrInet4).Port
}

// sender returns a UDP socket connected to 127.0.0.1:port.
func sender(t testing.TB, port int) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Connect(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: port}); err != nil {
		t.Fatal(err)
	}
	return fd
}

func TestSocketDropsAllocs(t *testing.T) {
	s := newSink(t, nil)
	if n := testing.AllocsPerRun(100, func() {
		if _, err := SocketDrops(s.fd); err != nil {
			panic(err)
		}
	}); n != 0 {
		t.Errorf("SocketDrops allocates %v times", n)
	}
}

const envNoCap = "SLABCAST_BPF_NO_CAP_BPF"

// TestWithoutCapBPF re-runs itself under setpriv with CAP_BPF,
// CAP_SYS_ADMIN and CAP_PERFMON dropped: New falls back to classic BPF and
// says why, and the table passes: refusals arrive as markers of the right
// reason and the socket's drop counter stays 0.
func TestWithoutCapBPF(t *testing.T) {
	if os.Getenv(envNoCap) == "1" {
		withoutCapBPF(t)
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("not root: there is no CAP_BPF to drop (TestClassicSocket covers classic BPF)")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("setpriv (util-linux) is missing under CI")
		}
		t.Skipf("setpriv (util-linux) is missing: %v", err)
	}
	const caps = "-bpf,-sys_admin,-perfmon"
	cmd := exec.Command(setpriv, "--inh-caps="+caps, "--bounding-set="+caps,
		os.Args[0], "-test.run=^TestWithoutCapBPF$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), envNoCap+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("child without CAP_BPF:\n%s", out)
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS: TestWithoutCapBPF") {
		t.Fatal("child did not pass TestWithoutCapBPF (skipped?)")
	}
}

func withoutCapBPF(t *testing.T) {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("capabilities: %s", capLines(string(status)))
	disabled, _ := os.ReadFile("/proc/sys/kernel/unprivileged_bpf_disabled")
	mode, why := Probe()
	t.Logf("Probe: %v, %v (kernel.unprivileged_bpf_disabled=%s)", mode, why, strings.TrimSpace(string(disabled)))
	if strings.TrimSpace(string(disabled)) != "0" {
		// Unprivileged eBPF is off: the fallback must happen, for EPERM.
		var fe *FallbackError
		if mode != ModeClassic || !errors.As(why, &fe) || !errors.Is(why, unix.EPERM) {
			t.Fatalf("Probe without CAP_BPF: %v, %v; want classic for EPERM", mode, why)
		}
	}
	for _, kind := range []Kind{KindTS, KindRTP} {
		f := newFilterT(t, kind)
		if f.Mode() != mode || (f.Why() == nil) != (why == nil) {
			t.Fatalf("New(%v): %v %v, Probe said %v %v", kind, f.Mode(), f.Why(), mode, why)
		}
		checkTable(t, f)
	}
}

func capLines(status string) string {
	var caps []string
	for _, l := range strings.Split(status, "\n") {
		if strings.HasPrefix(l, "Cap") {
			caps = append(caps, strings.Join(strings.Fields(l), " "))
		}
	}
	return strings.Join(caps, "; ")
}

// FuzzKernelFilters sends each input through real sockets with all four
// filters attached — eBPF and classic, TS and RTP — and checks every verdict
// against Classify: eBPF refusals vanish and count in the map, classic ones
// arrive as markers of the right reason and leave the drop counter at 0.
func FuzzKernelFilters(f *testing.F) {
	needEBPF(f)
	type filtered struct {
		f *Filter
		s *sink
	}
	var all []filtered
	for _, classic := range []bool{false, true} {
		for _, kind := range []Kind{KindTS, KindRTP} {
			flt, err := newFilter(kind, classic)
			if err != nil {
				f.Fatal(err)
			}
			f.Cleanup(func() { flt.Close() })
			all = append(all, filtered{flt, newSink(f, flt)})
		}
	}
	for _, tc := range cases() {
		f.Add(tc.payload)
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		p = p[:min(len(p), 16<<10)] // past 49 packets the length is all that matters
		for _, x := range all {
			before, _, err := x.f.Counts()
			if err != nil {
				t.Fatal(err)
			}
			want := Classify(x.f.Kind(), p)
			if got := x.s.verdict(t, x.f.Kind(), p); got != wantVerdict(x.f.Mode(), want) {
				t.Fatalf("%s %s filter: got %v, Classify says %v for % x", x.f.Mode(), x.f.Kind(), got, want, p)
			}
			if x.f.Mode() != ModeEBPF {
				// The refusal came as a marker; the kernel dropped nothing.
				if drops, err := SocketDrops(x.s.fd); err != nil || drops != 0 {
					t.Fatalf("classic %s filter: socket drops %d, %v; want 0", x.f.Kind(), drops, err)
				}
				continue
			}
			after, _, err := x.f.Counts()
			if err != nil {
				t.Fatal(err)
			}
			before.add(want)
			before.add(Pass) // the fence
			if after != before {
				t.Fatalf("%s filter counters %+v, want %+v for % x", x.f.Kind(), after, before, p)
			}
		}
	})
}

// burstReasons are the verdicts a burst of kind cycles through.
func burstReasons(kind Kind) []Reason {
	if kind == KindRTP {
		return []Reason{Pass, BadSize, BadSync, BadRTP}
	}
	return []Reason{Pass, BadSize, BadSync}
}

// burstLen is the number of datagrams in a burst: j below stays under 64.
func burstLen(kind Kind) int { return 40 * len(burstReasons(kind)) }

// burstDatagram returns datagram i of a burst for kind, about 1316 bytes,
// of verdict burstReasons(kind)[i%len], whose number j = i/len is written
// where what arrives keeps it: the last byte of its marker when refused, the
// byte after the sync byte's PID (TS) or the sequence number (RTP) when not.
func burstDatagram(kind Kind, i int) ([]byte, Reason) {
	rs := burstReasons(kind)
	r, j := rs[i%len(rs)], byte(i/len(rs))
	var p []byte
	switch {
	case kind == KindTS && r == Pass:
		p = tsPackets(7)
		p[5] = j
	case kind == KindTS && r == BadSize:
		p = garbage(uint64(i), 1000)
		p[markerLen(BadSize)-1] = j
	case kind == KindTS && r == BadSync:
		p = withSync(tsPackets(7), 0, 0, 0x48)
		p[markerLen(BadSync)-1] = j
	case r == Pass:
		h := rtpHeader(2, 0, -1, false)
		h[3] = j // sequence number
		p = cat(h, tsPackets(7))
	case r == BadSize:
		h := rtpHeader(2, 0, -1, false)
		h[markerLen(BadSize)-1] = j // payload type
		p = cat(h, []byte{0}, tsPackets(7))
	case r == BadSync:
		h := rtpHeader(2, 0, -1, false)
		h[markerLen(BadSync)-1] = j // sequence number, high byte
		p = cat(h, withSync(tsPackets(7), 0, 0, 0x46))
	case r == BadRTP:
		p = cat(rtpHeader(2, 0, -1, false), tsPackets(7))
		p[markerLen(BadRTP)-1] = j // version 0, j CSRCs
	}
	return p, r
}

// burstIndex returns which datagram of a burst d is (whole or a marker), or
// -1.
func burstIndex(kind Kind, d []byte, classic bool) int {
	rs := burstReasons(kind)
	if r, ok := Marker(kind, len(d)); ok && classic && len(d) > 0 {
		return int(d[len(d)-1])*len(rs) + slices.Index(rs, r)
	}
	switch {
	case kind == KindTS && len(d) > 5:
		return int(d[5]) * len(rs)
	case kind == KindRTP && len(d) > 3:
		return int(d[3]) * len(rs)
	}
	return -1
}

// udpRcvbufErrors reads Udp RcvbufErrors of this network namespace from
// /proc/net/snmp: datagrams dropped for a full receive buffer.
func udpRcvbufErrors(t *testing.T) uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		t.Fatal(err)
	}
	var head []string
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 || f[0] != "Udp:" {
			continue
		}
		if head == nil {
			head = f
			continue
		}
		if i := slices.Index(head, "RcvbufErrors"); i > 0 && i < len(f) {
			n, err := strconv.ParseUint(f[i], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no Udp RcvbufErrors in /proc/net/snmp")
	return 0
}

// A burst that overflows a small receive buffer, read only once it is over:
// every datagram sent is either read — whole, or as the marker of its
// reason in classic mode — or counted once in SocketDrops, so sent − read
// == SocketDrops. In classic mode those drops are all overflows and the
// markers count the refusals; in eBPF mode the overflows are SocketDrops
// less Counts.Refused. In a private network namespace the overflows also
// equal the namespace's Udp RcvbufErrors.
func TestOverflow(t *testing.T) {
	for _, mode := range []Mode{ModeClassic, ModeEBPF} {
		for _, kind := range []Kind{KindTS, KindRTP} {
			t.Run(mode.String()+"/"+kind.String(), func(t *testing.T) {
				if mode == ModeEBPF {
					needEBPF(t)
				}
				f, err := newFilter(kind, mode == ModeClassic)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				overflow(t, f)
			})
		}
	}
}

func overflow(t *testing.T, f *Filter) {
	kind, classic := f.Kind(), f.Mode() == ModeClassic
	s := newSink(t, f)
	// The kernel doubles it: 64 KiB, some twenty 1316-byte datagrams.
	if err := unix.SetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 32<<10); err != nil {
		t.Fatal(err)
	}
	isolated := testnet.Isolated()
	var rcvbuf0 uint64
	if isolated {
		rcvbuf0 = udpRcvbufErrors(t)
	}
	n := burstLen(kind)
	var sent Counts
	for i := range n {
		p, r := burstDatagram(kind, i)
		if got := Classify(kind, p); got != r {
			t.Fatalf("burst datagram %d: Classify says %v, want %v", i, got, r)
		}
		if _, err := unix.Write(s.tx, p); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		sent.add(r)
	}

	// Read what was queued. Loopback delivers in the sender's system call
	// as a rule; should a datagram still be in the backlog, read again.
	seen := make([]bool, n)
	var read Counts // verdicts of what was read, by Classify
	var markers Counts
	var drops uint64
	deadline := time.Now().Add(2 * time.Second)
	for {
		for {
			m, _, err := unix.Recvfrom(s.fd, s.buf, unix.MSG_DONTWAIT)
			if errors.Is(err, unix.EAGAIN) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			d := s.buf[:m]
			i := burstIndex(kind, d, classic)
			if i < 0 || i >= n || seen[i] {
				t.Fatalf("received % x: not one datagram of the burst, or twice", d[:min(m, 16)])
			}
			seen[i] = true
			p, r := burstDatagram(kind, i)
			if mr, ok := Marker(kind, m); classic && ok {
				if mr != r || !bytes.HasPrefix(p, d) {
					t.Fatalf("datagram %d (%v) arrived as the %v marker % x", i, r, mr, d)
				}
				markers.add(mr)
			} else if r != Pass || !bytes.Equal(d, p) {
				t.Fatalf("datagram %d (%v) arrived as %d bytes", i, r, m)
			}
			read.add(r)
		}
		var err error
		if drops, err = SocketDrops(s.fd); err != nil {
			t.Fatal(err)
		}
		if uint64(n)-read.Passed-read.Refused == drops || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	got := read.Passed + read.Refused
	t.Logf("%s %s: sent %d %+v, read %d %+v, socket drops %d", f.Mode(), kind, n, sent, got, read, drops)
	if uint64(n)-got != drops {
		t.Fatalf("sent %d − read %d = %d, but SocketDrops = %d", n, got, uint64(n)-got, drops)
	}
	if read.Passed == 0 || read.Passed == sent.Passed {
		t.Fatalf("read %d of %d valid datagrams: the burst did not overflow the buffer, or nothing arrived", read.Passed, sent.Passed)
	}
	var overflows uint64
	if classic {
		if c, ok, err := f.Counts(); ok || err != nil || c != (Counts{}) {
			t.Fatalf("classic Counts = %+v, %v, %v", c, ok, err)
		}
		// Every refusal read came as a marker of its reason, and there is
		// one of each reason the burst holds.
		markers.Passed = read.Passed
		if markers != read {
			t.Fatalf("markers %+v, want %+v", markers, read)
		}
		if read.BadSize == 0 || read.BadSync == 0 || (kind == KindRTP && read.BadRTP == 0) {
			t.Fatalf("a reason without markers: %+v", read)
		}
		overflows = drops
	} else {
		c, ok, err := f.Counts()
		if !ok || err != nil {
			t.Fatalf("Counts: %v, %v", ok, err)
		}
		if c != sent { // the filter passed every valid one; some overflowed
			t.Fatalf("eBPF counters %+v, want %+v", c, sent)
		}
		if read.Refused != 0 {
			t.Fatalf("eBPF mode delivered refused datagrams: %+v", read)
		}
		// Only valid datagrams were queued: those not read overflowed.
		overflows = drops - c.Refused
		if overflows != sent.Passed-read.Passed {
			t.Fatalf("SocketDrops %d − Refused %d = %d, but %d valid datagrams were lost", drops, c.Refused, overflows, sent.Passed-read.Passed)
		}
	}
	if overflows == 0 {
		t.Fatal("nothing overflowed")
	}
	if isolated {
		if d := udpRcvbufErrors(t) - rcvbuf0; d != overflows {
			t.Fatalf("Udp RcvbufErrors rose by %d, want %d overflows", d, overflows)
		}
	} else {
		t.Log("not in a private network namespace: Udp RcvbufErrors not checked")
	}
}
