package nic

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/slabcast/slabcast/internal/testnet"
)

// One shared socket joined to two groups of a port receives both, names
// each datagram's group, and nothing of a third group on the port that a
// socket of its own joined; after Leave, a group's new datagrams stay away.
func TestSharedSocket(t *testing.T) {
	testnet.Require(t)
	src1, _ := ParseURL("udp://239.1.2.1:5002")
	src2, _ := ParseURL("udp://239.1.2.2:5002")
	c, err := ListenShared(src1, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !c.Shared() {
		t.Fatal("Shared() = false")
	}
	must(t, c.Join(src2))
	own := listenT(t, "udp://239.1.2.3:5002", Options{}) // joins the third group on its own socket
	if err := c.Join(mustParse(t, "udp://239.1.2.4:5003")); err == nil {
		t.Fatal("Join of another port succeeded")
	}
	if err := listenT(t, "udp://239.1.2.5:5004", Options{}).Join(src2); err == nil {
		t.Fatal("Join on a socket of one group succeeded")
	}

	s := newSender(t, "127.0.0.1")
	g1, g2 := netip.MustParseAddrPort("239.1.2.1:5002"), netip.MustParseAddrPort("239.1.2.2:5002")
	g3 := netip.MustParseAddrPort("239.1.2.3:5002")
	const n = 40
	for seq := range n {
		s.send(t, g1, payload(1, seq))
		s.send(t, g2, payload(2, seq))
		s.send(t, g3, payload(3, seq))
	}
	b := NewBatch(16, 2048)
	got := recvDst(t, c, b, 2*n)
	seq := map[byte]int{}
	for _, d := range got {
		id := d.p[0]
		want := map[byte][4]byte{1: g1.Addr().As4(), 2: g2.Addr().As4()}[id]
		if d.dst != want {
			t.Fatalf("datagram of stream %d names group %v, want %v", id, d.dst, want)
		}
		if !bytes.Equal(d.p, payload(id, seq[id])) {
			t.Fatalf("stream %d datagram %d differs", id, seq[id])
		}
		seq[id]++
	}
	if seq[1] != n || seq[2] != n {
		t.Fatalf("received %v, want %d of each", seq, n)
	}
	expectNothing(t, c, b)
	recvN(t, own, b, n) // the third group's own socket has it

	must(t, c.Leave(src2))
	for seq := range n {
		s.send(t, g2, payload(2, seq))
		s.send(t, g1, payload(1, seq))
	}
	for _, d := range recvDst(t, c, b, n) {
		if d.p[0] != 1 {
			t.Fatalf("a datagram of the group left arrived")
		}
	}
	expectNothing(t, c, b)

	// A batch filled by Put names no group.
	b.Reset()
	b.Put(payload(1, 0))
	if _, ok := b.Dst(0); ok {
		t.Fatal("Dst of a Put datagram reports a group")
	}
	// A socket of one group reports none either.
	s.send(t, g3, payload(3, 0))
	recvN(t, own, b, 1)
	if _, ok := b.Dst(0); ok {
		t.Fatal("Dst on a socket of one group reports a group")
	}
}

type dstDatagram struct {
	dst [4]byte
	p   []byte
}

func recvDst(t *testing.T, c *Conn, b *Batch, want int) []dstDatagram {
	t.Helper()
	var out []dstDatagram
	deadline := time.Now().Add(2 * time.Second)
	for len(out) < want && time.Now().Before(deadline) {
		n, err := c.ReadBatch(b)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			time.Sleep(time.Millisecond)
			continue
		}
		for i := range n {
			dst, ok := b.Dst(i)
			if !ok {
				t.Fatalf("datagram %d carries no destination", i)
			}
			out = append(out, dstDatagram{dst, bytes.Clone(b.Msg(i))})
		}
	}
	if len(out) < want {
		t.Fatalf("received %d datagrams, want %d", len(out), want)
	}
	return out
}

func mustParse(t *testing.T, url string) Source {
	t.Helper()
	src, err := ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	return src
}
