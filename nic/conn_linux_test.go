package nic

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slabcast/slabcast/internal/testnet"
	"golang.org/x/sys/unix"
)

// sender is a plain UDP socket for tests: bound to one source address,
// multicast TTL 1, loopback on, multicast leaving through lo.
type sender struct{ fd int }

func newSender(t testing.TB, from string) *sender {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: netip.MustParseAddr(from).As4()}); err != nil {
		t.Fatalf("bind sender to %s: %v", from, err)
	}
	must(t, unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, 1))
	must(t, unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, 1))
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	must(t, unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, &unix.IPMreqn{Ifindex: int32(lo.Index)}))
	return &sender{fd: fd}
}

func (s *sender) send(t testing.TB, to netip.AddrPort, p []byte) {
	t.Helper()
	if to.Addr().IsMulticast() && !testnet.Isolated() {
		t.Fatal("BUG: test sends multicast outside a private network namespace")
	}
	if !to.Addr().IsMulticast() && !to.Addr().IsLoopback() {
		t.Fatalf("BUG: test sends to %s, outside 127.0.0.0/8", to)
	}
	sa := &unix.SockaddrInet4{Port: int(to.Port()), Addr: to.Addr().As4()}
	if err := unix.Sendto(s.fd, p, 0, sa); err != nil {
		t.Fatalf("send to %s: %v", to, err)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// payload returns datagram seq of stream id: 188*k bytes, k = 1..7,
// with a recognisable pattern.
func payload(id byte, seq int) []byte {
	p := make([]byte, 188*(seq%7+1))
	p[0] = id
	binary.BigEndian.PutUint16(p[1:], uint16(seq))
	for i := 3; i < len(p); i++ {
		p[i] = byte(i*7 + seq)
	}
	return p
}

func listenT(t testing.TB, url string, opt Options) *Conn {
	t.Helper()
	src, err := ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Listen(src, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// recvN reads until want datagrams arrived (or 2 s passed) and returns
// copies of them.
func recvN(t testing.TB, c *Conn, b *Batch, want int) [][]byte {
	t.Helper()
	var got [][]byte
	deadline := time.Now().Add(2 * time.Second)
	for len(got) < want && time.Now().Before(deadline) {
		n, err := c.ReadBatch(b)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			time.Sleep(time.Millisecond)
			continue
		}
		if n != b.Len() {
			t.Fatalf("ReadBatch returned %d, Batch.Len %d", n, b.Len())
		}
		for i := range n {
			got = append(got, bytes.Clone(b.Msg(i)))
		}
	}
	if len(got) < want {
		t.Fatalf("%s: received %d datagrams, want %d", c.Source(), len(got), want)
	}
	return got
}

// expectNothing checks that nothing more arrives on c within 20 ms.
func expectNothing(t testing.TB, c *Conn, b *Batch) {
	t.Helper()
	time.Sleep(20 * time.Millisecond)
	n, err := c.ReadBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%s: %d unexpected datagrams, first %d bytes starting % x", c.Source(), n, len(b.Msg(0)), b.Msg(0)[:3])
	}
}

func freePort(t testing.TB) uint16 {
	t.Helper()
	l, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return uint16(l.LocalAddr().(*net.UDPAddr).Port)
}

func TestGroupsSharePort(t *testing.T) {
	testnet.Require(t)
	c1 := listenT(t, "udp://239.1.1.1:5000", Options{})
	c2 := listenT(t, "udp://239.1.1.2:5000", Options{})
	s := newSender(t, "127.0.0.1")
	g1, g2 := netip.MustParseAddrPort("239.1.1.1:5000"), netip.MustParseAddrPort("239.1.1.2:5000")
	other := netip.MustParseAddrPort("239.1.1.3:5000") // nobody joined it
	const n = 50
	for seq := range n {
		s.send(t, g1, payload(1, seq))
		s.send(t, g2, payload(2, seq))
		s.send(t, other, payload(3, seq))
	}
	b := NewBatch(8, 2048) // several reads, more than one full batch
	for _, tc := range []struct {
		c  *Conn
		id byte
	}{{c1, 1}, {c2, 2}} {
		got := recvN(t, tc.c, b, n)
		for seq, p := range got {
			if want := payload(tc.id, seq); !bytes.Equal(p, want) {
				t.Fatalf("%s: datagram %d: %d bytes starting % x, want %d bytes starting % x",
					tc.c.Source(), seq, len(p), p[:3], len(want), want[:3])
			}
		}
		expectNothing(t, tc.c, b)
	}
}

func TestTruncated(t *testing.T) {
	port := freePort(t)
	c := listenT(t, "udp://127.0.0.1:"+strconv.Itoa(int(port)), Options{})
	s := newSender(t, "127.0.0.1")
	to := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)
	s.send(t, to, payload(1, 6)) // 1316 bytes
	s.send(t, to, payload(1, 0)) // 188 bytes
	b := NewBatch(4, 200)
	got := recvN(t, c, b, 2)
	if len(got[0]) != 200 || !bytes.Equal(got[0], payload(1, 6)[:200]) {
		t.Fatalf("truncated datagram: %d bytes, want the first 200", len(got[0]))
	}
	if !bytes.Equal(got[1], payload(1, 0)) {
		t.Fatalf("short datagram: %d bytes, want 188", len(got[1]))
	}
	if !b.Truncated(0) || b.Truncated(1) {
		t.Fatalf("Truncated = %v, %v; want true, false", b.Truncated(0), b.Truncated(1))
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("Msg(2) after a read of 2 did not panic")
			}
		}()
		b.Msg(2)
	}()
}

func TestSSM(t *testing.T) {
	testnet.Require(t)
	c := listenT(t, "udp://232.1.1.1:5001?source=127.0.0.1", Options{})
	good, evil := newSender(t, "127.0.0.1"), newSender(t, "127.0.0.2")
	g := netip.MustParseAddrPort("232.1.1.1:5001")
	for seq := range 10 {
		evil.send(t, g, payload(2, seq))
		good.send(t, g, payload(1, seq))
	}
	b := NewBatch(64, 2048)
	for seq, p := range recvN(t, c, b, 10) {
		if !bytes.Equal(p, payload(1, seq)) {
			t.Fatalf("datagram %d is % x..., want source 127.0.0.1's", seq, p[:3])
		}
	}
	expectNothing(t, c, b)
}

// igmpGroups returns the groups /proc/net/igmp lists for device dev.
func igmpGroups(t *testing.T, dev string) []netip.Addr {
	t.Helper()
	raw, err := os.ReadFile("/proc/net/igmp")
	if err != nil {
		t.Fatal(err)
	}
	var groups []netip.Addr
	cur := ""
	for _, line := range strings.Split(string(raw), "\n")[1:] {
		f := strings.Fields(line)
		switch {
		case len(f) >= 2 && !strings.HasPrefix(line, "\t"):
			cur = f[1]
		case len(f) >= 1 && cur == dev:
			v, err := strconv.ParseUint(f[0], 16, 32)
			if err != nil {
				t.Fatalf("/proc/net/igmp: %q: %v", line, err)
			}
			var a [4]byte
			binary.NativeEndian.PutUint32(a[:], uint32(v))
			groups = append(groups, netip.AddrFrom4(a))
		}
	}
	return groups
}

func TestInterfaceForms(t *testing.T) {
	testnet.Require(t)
	s := newSender(t, "127.0.0.1")
	b := NewBatch(64, 2048)
	for i, url := range []string{
		"udp://239.2.0.1:5002/127.0.0.1",
		"udp://lo@239.2.0.2:5002",
		"udp://lo@232.2.0.3:5002?source=127.0.0.1",
		"udp://232.2.0.4:5002/127.0.0.1?source=127.0.0.1",
	} {
		c := listenT(t, url, Options{})
		g := c.Source().Addr
		found := false
		for _, a := range igmpGroups(t, "lo") {
			found = found || a == g.Addr()
		}
		if !found {
			t.Fatalf("%s: group %s not joined on lo (/proc/net/igmp)", url, g.Addr())
		}
		for seq := range 3 {
			s.send(t, g, payload(byte(i), seq))
		}
		for seq, p := range recvN(t, c, b, 3) {
			if !bytes.Equal(p, payload(byte(i), seq)) {
				t.Fatalf("%s: datagram %d wrong", url, seq)
			}
		}
		c.Close()
	}
	for _, tc := range []struct{ url, err string }{
		{"udp://nosuch0@239.2.0.9:5002", `interface "nosuch0"`},
		{"udp://239.2.0.9:5002/10.9.9.9", "IP_ADD_MEMBERSHIP"},
		{"udp://nosuch0@232.2.0.9:5002?source=127.0.0.1", `interface "nosuch0"`},
	} {
		src, err := ParseURL(tc.url)
		must(t, err)
		c, err := Listen(src, Options{})
		if err == nil {
			c.Close()
			t.Fatalf("Listen(%s) succeeded, want an error", tc.url)
		}
		if want := "nic: listen " + tc.url + ": "; !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), tc.err) {
			t.Fatalf("Listen(%s): %q, want %q...%q", tc.url, err, want, tc.err)
		}
	}
}

func TestUnicast(t *testing.T) {
	for _, host := range []string{"127.0.0.1", ""} {
		port := freePort(t)
		c := listenT(t, fmt.Sprintf("udp://%s:%d", host, port), Options{})
		if c.Fd() < 0 {
			t.Fatal("Fd() < 0 on an open Conn")
		}
		s := newSender(t, "127.0.0.1")
		to := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)
		for seq := range 20 {
			s.send(t, to, payload(1, seq))
		}
		b := NewBatch(64, 2048)
		for seq, p := range recvN(t, c, b, 20) {
			if !bytes.Equal(p, payload(1, seq)) {
				t.Fatalf("%s: datagram %d wrong", c.Source(), seq)
			}
		}
		must(t, c.Close())
		must(t, c.Close()) // idempotent
		if c.Fd() != -1 {
			t.Fatalf("Fd() = %d after Close, want -1", c.Fd())
		}
	}
}

func TestRecvBufferCapped(t *testing.T) {
	f := func(want, reported int, capped bool) {
		t.Helper()
		if got := recvBufferCapped(want, reported); got != capped {
			t.Fatalf("recvBufferCapped(%d, %d) = %v, want %v", want, reported, got, capped)
		}
	}
	f(64<<10, 128<<10, false) // full grant, doubled
	f(64<<20, 128<<20, false)
	f(64<<20, 8<<20, true) // rmem_max 4 MiB
	f(16<<20, 32<<20-2, true)
	f(1000, 4608, false) // below the kernel minimum: rounded up
}

func rmemMax(t *testing.T) int {
	raw, err := os.ReadFile("/proc/sys/net/core/rmem_max")
	if err != nil {
		t.Skipf("cannot read net.core.rmem_max: %v", err)
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	must(t, err)
	return v
}

func TestRecvBuffer(t *testing.T) {
	max := rmemMax(t)
	canForce := func() bool { // CAP_NET_ADMIN
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
		must(t, err)
		defer unix.Close(fd)
		return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 1<<20) == nil
	}()
	for _, tc := range []struct {
		want  int
		force bool
	}{{64 << 10, true}, {64 << 20, true}, {64 << 10, false}, {64 << 20, false}, {0, true}} {
		t.Run(fmt.Sprintf("%d/force=%v", tc.want, tc.force), func(t *testing.T) {
			var logs []string
			opt := Options{RecvBuffer: tc.want, Logf: func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) }}
			src, err := ParseURL(fmt.Sprintf("udp://127.0.0.1:%d", freePort(t)))
			must(t, err)
			c, err := listen(src, opt, tc.force)
			must(t, err)
			defer c.Close()
			kernel, err := unix.GetsockoptInt(c.Fd(), unix.SOL_SOCKET, unix.SO_RCVBUF)
			must(t, err)
			if c.RecvBuffer() != kernel {
				t.Fatalf("RecvBuffer() = %d, kernel says %d", c.RecvBuffer(), kernel)
			}
			want := tc.want
			if want == 0 {
				want = DefaultRecvBuffer
			}
			granted := want
			if !(tc.force && canForce) {
				granted = min(want, max)
			}
			if kernel != 2*granted {
				t.Fatalf("kernel reports %d, want 2*%d (rmem_max %d, forced %v)", kernel, granted, max, tc.force && canForce)
			}
			capped := granted < want
			if capped != (len(logs) == 1) {
				t.Fatalf("capped=%v but warnings %q", capped, logs)
			}
			if capped && !strings.Contains(logs[0], "net.core.rmem_max") {
				t.Fatalf("warning %q does not name net.core.rmem_max", logs[0])
			}
			t.Logf("asked %d, kernel reports %d, warnings %q", want, kernel, logs)
		})
	}
}

// TestKernelDrops floods a socket whose receive buffer holds only a few
// datagrams, reads what fit, then sends one more: the kernel stamps that
// one with the drop count, which must be exactly the flood minus what was
// received.
func TestKernelDrops(t *testing.T) {
	for _, url := range []string{"udp://127.0.0.1:%d", "udp://239.3.0.1:%d"} {
		url = fmt.Sprintf(url, freePort(t))
		t.Run(url, func(t *testing.T) {
			src, err := ParseURL(url)
			must(t, err)
			if src.Multicast {
				testnet.Require(t)
			}
			c, err := listen(src, Options{RecvBuffer: 4 << 10}, false)
			must(t, err)
			defer c.Close()
			s := newSender(t, "127.0.0.1")
			const flood = 500
			for range flood {
				s.send(t, src.Addr, payload(1, 6))
			}
			b := NewBatch(64, 2048)
			received := 0
			for {
				n, err := c.ReadBatch(b)
				must(t, err)
				if n == 0 {
					break
				}
				received += n
			}
			if received == 0 || received == flood {
				t.Fatalf("received %d of %d: the buffer did not overflow as planned", received, flood)
			}
			s.send(t, src.Addr, payload(2, 0))
			recvN(t, c, b, 1)
			if got, want := c.Drops(), uint32(flood-received); got != want {
				t.Fatalf("Drops() = %d, want %d - %d = %d", got, flood, received, want)
			}
			t.Logf("received %d, kernel dropped %d (buffer %d)", received, c.Drops(), c.RecvBuffer())
		})
	}
}

func TestReadBatchAllocs(t *testing.T) {
	port := freePort(t)
	src, err := ParseURL(fmt.Sprintf("udp://127.0.0.1:%d", port))
	must(t, err)
	c, err := listen(src, Options{RecvBuffer: 256 << 10}, false)
	must(t, err)
	defer c.Close()
	s := newSender(t, "127.0.0.1")
	b := NewBatch(2, 2048)
	// Overflow once so every later datagram carries SO_RXQ_OVFL control
	// data and the parse is part of what is measured.
	for range 2000 {
		s.send(t, src.Addr, payload(1, 6))
	}
	for {
		n, err := c.ReadBatch(b)
		must(t, err)
		if n == 0 {
			break
		}
	}
	const runs = 100
	for seq := range 2 * (runs + 1) {
		s.send(t, src.Addr, payload(1, seq*7)) // 188 bytes
	}
	short := 0
	allocs := testing.AllocsPerRun(runs, func() {
		if n, _ := c.ReadBatch(b); n != 2 {
			short++
		}
	})
	if short > 0 {
		t.Fatalf("%d reads found fewer than 2 datagrams queued", short)
	}
	if allocs != 0 {
		t.Fatalf("ReadBatch allocates %.1f times per call", allocs)
	}
	if c.Drops() == 0 {
		t.Fatal("no drop count seen; the control-data path was not measured")
	}
}

// A batch filled from memory reads like one a socket filled.
func TestBatchPut(t *testing.T) {
	b := NewBatch(2, 8)
	b.Reset()
	if !b.Put([]byte("abc")) || !b.Put([]byte("0123456789")) || b.Put([]byte("x")) {
		t.Fatal("Put: want room for exactly two")
	}
	if b.Len() != 2 || string(b.Msg(0)) != "abc" || b.Truncated(0) || string(b.Msg(1)) != "01234567" || !b.Truncated(1) {
		t.Fatalf("batch: %d %q %v %q %v", b.Len(), b.Msg(0), b.Truncated(0), b.Msg(1), b.Truncated(1))
	}
	b.Reset()
	if b.Len() != 0 {
		t.Fatal("Reset left datagrams")
	}
}
