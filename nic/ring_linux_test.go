package nic

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/slabcast/slabcast/internal/testnet"
)

// A ring takes every datagram the host receives (here: those a
// membership socket's groups bring in on lo), each with its group, port
// and payload whole, in order per group, and none of the host's own
// outgoing copies; a group left brings no more.
func TestRing(t *testing.T) {
	testnet.Require(t)
	src1, src2 := mustParse(t, "udp://239.1.3.1:5010"), mustParse(t, "udp://239.1.3.2:5011")
	// Enough blocks for every datagram even when a loaded machine spreads
	// the sends over many 1 ms block timeouts before the reads begin.
	r, m := ringT(t, RingOptions{Blocks: 128, Timeout: time.Millisecond}, src1, src2)
	if err := m.Join(mustParse(t, "udp://127.0.0.1:5012")); err == nil {
		t.Fatal("a membership socket joined a unicast address")
	}
	s := newSender(t, "127.0.0.1")
	g1, g2 := src1.Addr, src2.Addr
	const n = 50
	for seq := range n {
		s.send(t, g1, payload(1, seq))
		s.send(t, g2, payload(2, seq))
	}
	seq := map[byte]int{}
	got := 0
	take := func(dst [4]byte, port uint16, ts int64, p []byte) {
		if d := time.Since(time.Unix(0, ts)); d < 0 || d > 5*time.Second {
			t.Errorf("a datagram stamped %v ago", d)
		}
		id := p[0]
		want := map[byte]netip.AddrPort{1: g1, 2: g2}[id]
		if dst != want.Addr().As4() || port != want.Port() {
			t.Errorf("datagram of stream %d: %v:%d, want %v", id, dst, port, want)
		}
		if !bytes.Equal(p, payload(id, seq[id])) {
			t.Errorf("stream %d datagram %d differs", id, seq[id])
		}
		seq[id]++
		got++
	}
	deadline := time.Now().Add(5 * time.Second)
	pfd := []unix.PollFd{{Fd: int32(r.Fd()), Events: unix.POLLIN}}
	for got < 2*n && time.Now().Before(deadline) {
		unix.Poll(pfd, 100)
		r.Read(4, take)
	}
	if seq[1] != n || seq[2] != n {
		t.Fatalf("received %v, want %d of each (the host's outgoing copies must not count)", seq, n)
	}
	if d, err := r.Drops(); err != nil || d != 0 {
		t.Errorf("drops %d, %v", d, err)
	}
	must(t, m.Leave(src1))
	s.send(t, g2, payload(2, n))
	s.send(t, g1, payload(1, n)) // not joined any more: lo does not loop it back to the host
	time.Sleep(20 * time.Millisecond)
	for i := 0; i < 5; i++ {
		unix.Poll(pfd, 10)
		r.Read(4, take)
	}
	if seq[2] != n+1 {
		t.Errorf("stream 2 after leaving 1: %d datagrams, want %d", seq[2], n+1)
	}
}

// A ring the reader does not empty fills and counts what it drops.
func TestRingDrops(t *testing.T) {
	testnet.Require(t)
	src := mustParse(t, "udp://239.1.3.9:5013")
	r, _ := ringT(t, RingOptions{BlockSize: 8192, Blocks: 4, Timeout: time.Millisecond, Control: udpPortFilter(5013)}, src)
	s := newSender(t, "127.0.0.1")
	const n = 200      // 200 × 1316 bytes: far more than 4 blocks of 8 KiB
	p := payload(3, 6) // 7 packets: 1316 bytes
	for range n {
		s.send(t, src.Addr, p)
	}
	time.Sleep(20 * time.Millisecond)
	got := 0
	for {
		k, _ := r.Read(4, func([4]byte, uint16, int64, []byte) { got++ })
		if k == 0 {
			break
		}
	}
	d, err := r.Drops()
	if err != nil {
		t.Fatal(err)
	}
	if d == 0 || got+int(d) != n {
		t.Fatalf("read %d, dropped %d, of %d sent", got, d, n)
	}
}

// Reading a ring allocates nothing.
func TestRingAllocations(t *testing.T) {
	testnet.Require(t)
	src := mustParse(t, "udp://239.1.3.10:5014")
	r, _ := ringT(t, RingOptions{Blocks: 8}, src)
	s := newSender(t, "127.0.0.1")
	n := 0
	take := func([4]byte, uint16, int64, []byte) { n++ }
	p := payload(4, 6)
	for range 60 {
		s.send(t, src.Addr, p)
		time.Sleep(time.Millisecond) // a block each, or nearly
	}
	time.Sleep(5 * time.Millisecond)
	if a := testing.AllocsPerRun(50, func() { r.Read(1, take) }); a != 0 {
		t.Fatalf("%v allocations per read", a)
	}
	if n == 0 {
		t.Fatal("nothing read")
	}
}

// udpPortFilter is a classic socket filter for a packet socket (data at
// the IPv4 header) keeping UDP datagrams to port, without IP options.
func udpPortFilter(port uint16) func(fd int) error {
	prog := []unix.SockFilter{
		{Code: 0x30, K: 0},                              // ldb [0]
		{Code: 0x15, Jt: 0, Jf: 5, K: 0x45},             // jeq IPv4 without options
		{Code: 0x30, K: 9},                              // ldb [9]
		{Code: 0x15, Jt: 0, Jf: 3, K: unix.IPPROTO_UDP}, // jeq UDP
		{Code: 0x28, K: 22},                             // ldh [22]: destination port
		{Code: 0x15, Jt: 0, Jf: 1, K: uint32(port)},     // jeq port
		{Code: 0x06, K: 0xffff},                         // ret: keep
		{Code: 0x06, K: 0},                              // ret: drop
	}
	return func(fd int) error {
		return unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]})
	}
}

// ringT opens a ring of o and a membership socket joined to srcs, both
// closed when the test ends.
func ringT(t *testing.T, o RingOptions, srcs ...Source) (*Ring, *Conn) {
	t.Helper()
	r, err := NewRing(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	m, err := ListenMembership()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	for _, src := range srcs {
		must(t, m.Join(src))
	}
	return r, m
}
