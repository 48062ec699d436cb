package pipeline

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/slabcast/slabcast/bpf"
	"github.com/slabcast/slabcast/nic"
)

// With Options.Ring (config `multicast_ring on;`), the multicast inputs of
// a port take their datagrams from a ring (nic.Ring: an AF_PACKET
// TPACKET_V3 socket) instead of UDP sockets: the kernel writes what the
// ring's filter passes into shared memory and hands it over a block at a
// time, so a wake-up brings every channel's datagrams with no system call
// or copy per datagram. Memberships are held by UDP sockets bound to a
// port of their own (nic.ListenMembership), so the UDP layer drops the
// datagrams at once instead of queueing a second copy. Unicast inputs keep
// their sockets.
//
// Loss stays exact per stream, as on a shared socket (shared.go), though
// the ring has one drop counter: the filter (bpf.NewRing) counts, per
// group, what it passed. What passed is read, lost (the ring full), or
// still in the block the kernel is filling, for at most the ring's
// timeout. So count works in two steps a tick apart: it takes the filter's
// counts at a time T and remembers how much each input had read; by the
// next tick every datagram that passed before T has been handed over and
// read, and the ring stamps each datagram with when it took it, so the
// datagrams read since T that the ring took before T (plus a margin for
// the microseconds between the filter and the stamp) are known: a group's
// loss is what passed before T less what was read of it. A datagram of
// the margin that passed after T makes that an underestimate, never an
// overestimate; it is exact when the group was quiet for those
// microseconds, and the ring's own drop count bounds the total.

// ringMargin is how much later than the filter's count the ring may stamp
// a datagram that passed before it.
const ringMargin = 50 * time.Microsecond

// ringConn is a worker's ring for the multicast inputs of one port and
// interface, owned by the worker's goroutine.
type ringConn struct {
	w       *worker
	key     sharedKey
	ring    *nic.Ring
	filter  *bpf.Filter
	tag     int
	members map[[4]byte]*input
	mships  []*nic.Conn // sockets holding the memberships, up to the kernel's limit each
	touched []*input
	now     time.Time
	take    func(dst [4]byte, port uint16, ts int64, p []byte) // rc.dispatch, made once
	// The two steps of count: the filter's counts at cut (less the
	// margin), taken at the last tick.
	counts    map[[4]byte]bpf.Counts
	cut       int64 // Unix ns; 0 before the first count
	goneDrops uint64
}

// joinRing makes input i of s a member of the worker's ring for its port
// and interface, opening the ring if it is the first; on the worker
// goroutine, like join.
func (w *worker) joinRing(s *Stream, i int, gen uint64, src nic.Source, kind bpf.Kind) (bool, error) {
	if !w.registered(s) || s.gen.Load() != gen {
		return false, nil
	}
	in := s.inputs[i]
	key := keyOf(src, kind, s.cfg.Inputs[i].RecvBuffer)
	g := src.Addr.Addr().As4()
	rc := w.rings[key]
	if rc == nil {
		var err error
		if rc, err = w.openRing(key); err != nil {
			return false, err
		}
	}
	if _, dup := rc.members[g]; dup {
		return false, &cannotShare{errors.New("another input of the worker takes its group from the ring")}
	}
	if err := rc.filter.AddGroup(g); err != nil {
		return false, &cannotShare{err}
	}
	if err := rc.joinGroup(src); err != nil {
		rc.filter.RemoveGroup(g)
		if len(rc.members) == 0 {
			rc.close()
		}
		return false, err
	}
	rc.members[g] = in
	in.ring, in.group, in.sharedRead, in.readAtCount, in.lateRead = rc, g, 0, 0, 0
	in.tag = rc.tag
	in.opened(ringMember{rc}, nil, time.Now())
	return true, nil
}

// joinGroup holds src's membership on a socket with room for it.
func (rc *ringConn) joinGroup(src nic.Source) error {
	for _, m := range rc.mships {
		err := m.Join(src)
		if err == nil {
			return nil
		}
		if !errors.Is(err, nic.ErrGroupLimit) {
			return err
		}
	}
	m, err := nic.ListenMembership()
	if err != nil {
		return err
	}
	if err := m.Join(src); err != nil {
		m.Close()
		return err
	}
	rc.mships = append(rc.mships, m)
	return nil
}

// openRing opens the ring for key with its filter, on the interface key
// names (every interface when it names none: the kernel delivers a group
// joined without one on the interface its route leads to), and starts
// polling it.
func (w *worker) openRing(key sharedKey) (*ringConn, error) {
	ifindex, err := ringIfindex(key)
	if err != nil {
		return nil, err
	}
	f, err := bpf.NewRing(key.kind, key.port)
	if err != nil {
		return nil, &cannotShare{err}
	}
	bs, n := ringSize(key.rcvbuf)
	r, err := nic.NewRing(nic.RingOptions{Ifindex: ifindex, BlockSize: bs, Blocks: n, Control: f.Attach})
	if err != nil {
		f.Close()
		return nil, &cannotShare{err}
	}
	rc := &ringConn{w: w, key: key, ring: r, filter: f, members: map[[4]byte]*input{}, counts: map[[4]byte]bpf.Counts{}}
	rc.take = rc.dispatch
	rc.tag = w.slot(rc)
	if err := w.poller.Add(r.Fd(), uint32(rc.tag)); err != nil {
		w.slots[rc.tag] = nil
		r.Close()
		f.Close()
		return nil, err
	}
	if w.rings == nil {
		w.rings = map[sharedKey]*ringConn{}
	}
	w.rings[key] = rc
	return rc, nil
}

// ringSize is the block size and count of a ring whose inputs ask for
// rcvbuf bytes of buffer (rcvbuf=): about that many, in at least four
// blocks; the default ring (nic.DefaultRingBlockSize × DefaultRingBlocks)
// when they ask for none.
func ringSize(rcvbuf int) (blockSize, blocks int) {
	if rcvbuf <= 0 {
		return nic.DefaultRingBlockSize, nic.DefaultRingBlocks
	}
	const page = 4096
	blockSize = min(nic.DefaultRingBlockSize, max(page, rcvbuf/8/page*page))
	return blockSize, max(4, rcvbuf/blockSize)
}

// ringIfindex is the interface a ring for key takes packets from: the one
// its inputs name by name or address, or 0 (every interface).
func ringIfindex(key sharedKey) (int, error) {
	switch {
	case key.iface != "":
		ifi, err := net.InterfaceByName(key.iface)
		if err != nil {
			return 0, fmt.Errorf("interface %q: %w", key.iface, err)
		}
		return ifi.Index, nil
	case key.ifaddr.IsValid():
		ifs, err := net.Interfaces()
		if err != nil {
			return 0, err
		}
		for _, ifi := range ifs {
			addrs, _ := ifi.Addrs()
			for _, a := range addrs {
				if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && [4]byte(n.IP.To4()) == key.ifaddr.As4() {
					return ifi.Index, nil
				}
			}
		}
		return 0, fmt.Errorf("no interface has address %s", key.ifaddr)
	}
	return 0, nil
}

// leave ends in's membership; the ring closes with its last member.
func (rc *ringConn) leave(in *input) {
	if _, err := rc.filter.GroupCounts(rc.counts); err == nil {
		c := rc.counts[in.group]
		in.filtered = [3]uint64{c.BadSize, c.BadSync, c.BadRTP}
	}
	rc.goneDrops += in.drops
	for _, m := range rc.mships {
		if m.Leave(in.url) == nil {
			break
		}
	}
	rc.filter.RemoveGroup(in.group)
	delete(rc.members, in.group)
	in.ring = nil
	if len(rc.members) == 0 {
		rc.close()
	}
}

// close stops polling the ring and closes it and its sockets.
func (rc *ringConn) close() {
	w := rc.w
	w.poller.Del(rc.ring.Fd())
	w.slots[rc.tag] = nil
	rc.ring.Close()
	rc.filter.Close()
	for _, m := range rc.mships {
		m.Close()
	}
	delete(w.rings, rc.key)
}

// read takes the blocks the kernel handed over, at most readsPerWake,
// handing each datagram to the input of its group.
func (rc *ringConn) read(b *nic.Batch, now time.Time) (datagrams int, more bool) {
	rc.now = now
	datagrams, more = rc.ring.Read(readsPerWake, rc.take)
	for _, in := range rc.touched {
		in.touched = false
		in.s.received(in, now)
	}
	clear(rc.touched)
	rc.touched = rc.touched[:0]
	return datagrams, more
}

// dispatch hands one datagram of the ring to its input.
func (rc *ringConn) dispatch(dst [4]byte, port uint16, ts int64, p []byte) {
	in := rc.members[dst]
	if in == nil || port != rc.key.port {
		return // a group just left, or another port (the filter keeps those out)
	}
	in.sharedRead++
	if ts <= rc.cut {
		in.lateRead++
	}
	if !in.touched {
		in.touched = true
		in.s.seg.now = rc.now
		rc.touched = append(rc.touched, in)
	}
	in.takeData(p, false, in.active())
}

// count updates the members' filter and drop counters (see the top of the
// file); on the tick, before the streams' own.
func (rc *ringConn) count(b *nic.Batch, now time.Time) {
	// Every block that holds a datagram the ring took before the last cut
	// has been handed over since (a tick is far longer than the ring's
	// timeout): read them, then judge the last counts.
	drained := false
	for k := 0; k < maxDrain && !drained; k++ {
		_, more := rc.read(b, now)
		drained = !more
	}
	if rc.cut != 0 && drained {
		rc.judge() // a ring flooded faster than the worker reads waits for a tick when it is not
	}
	for _, in := range rc.members {
		in.readAtCount, in.lateRead = in.sharedRead, 0
	}
	if _, err := rc.filter.GroupCounts(rc.counts); err != nil {
		rc.cut = 0
		return
	}
	rc.cut = time.Now().Add(ringMargin).UnixNano()
	for g, c := range rc.counts {
		if in := rc.members[g]; in != nil {
			in.filtered = [3]uint64{c.BadSize, c.BadSync, c.BadRTP}
		}
	}
}

// judge sets each member's drops from the counts of the last cut: what
// passed then, less what was read of it.
func (rc *ringConn) judge() {
	lost, err := rc.ring.Drops()
	if err != nil {
		return
	}
	total := rc.goneDrops
	est := func(g [4]byte, in *input) uint64 {
		read := in.readAtCount + in.lateRead
		if p := rc.counts[g].Passed; p > read {
			return max(in.drops, p-read)
		}
		return in.drops
	}
	for g, in := range rc.members {
		total += est(g, in)
	}
	if total > lost {
		return // an input joined or left between the steps: the next tick
	}
	for g, in := range rc.members {
		in.drops = est(g, in)
	}
}

// ringMember is a ring input's open source as the stream sees it: the
// worker reads the ring, and closing it is leaving (unwatch).
type ringMember struct{ rc *ringConn }

func (m ringMember) Fd() int { return m.rc.ring.Fd() }

func (m ringMember) ReadBatch(*nic.Batch) (int, error) {
	return 0, fmt.Errorf("BUG: read of a ring's member")
}

func (m ringMember) Close() error { return nil }
