package pipeline

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/slabcast/slabcast/bpf"
	"github.com/slabcast/slabcast/nic"
)

// Multicast inputs of one worker that arrive on the same port share one
// socket (nic.ListenShared), joined to all their groups: with hundreds of
// low-rate channels a socket each costs a recvmmsg and an epoll event per
// datagram, where a shared socket's one recvmmsg carries the datagrams of
// every channel that arrived while the worker napped (bench/results/
// channels.md, the one-port layout). Each datagram names its group
// (IP_PKTINFO) and goes to the input that joined it.
//
// Loss stays exact per stream although the kernel keeps one drop counter
// per socket. The shared eBPF filter (bpf.NewShared) counts, per group,
// the datagrams it passed and refused. What it passed is, later, either
// read or lost in the receive queue, so once the queue has been read empty
// a group's losses are what passed minus what was read. count does that
// ten times a second: it takes the filter's counts first, then reads the
// queue until it is empty; a datagram that passes in between is read but
// not yet in the counts, so the difference never overstates a group's
// losses, and it is exact whenever nothing of the group arrived in those
// microseconds, so the per-stream counters catch up at the next tick. The
// socket's own counter (sk_drops) bounds the total: every group's share,
// added up, is never more than what the kernel says the queue lost.
//
// A socket takes as many groups as the kernel lets one socket join
// (net.ipv4.igmp_max_memberships, 20 by default): the groups beyond go to
// another shared socket of the port, as does a second input of a group
// already on one. Sharing needs the eBPF filter: classic BPF has no
// per-group counts, and without eBPF every input has a socket of its own,
// as before.

// sharedKey is what inputs must have in common to share a socket.
type sharedKey struct {
	port   uint16
	iface  string
	ifaddr netip.Addr
	kind   bpf.Kind
	rcvbuf int
}

// sharedConn is one shared socket, owned by its worker's goroutine.
type sharedConn struct {
	w       *worker
	key     sharedKey
	conn    *nic.Conn
	filter  *bpf.Filter
	tag     int
	members map[[4]byte]*input
	touched []*input               // inputs that took datagrams in the current read
	recent  int                    // datagrams read since the worker's last tick (see worker.pace)
	full    bool                   // a join found the kernel's (or the map's) limit
	counts  map[[4]byte]bpf.Counts // scratch for GroupCounts
	// What groups that left took with them, still part of the socket's
	// drop counter.
	goneRefused, goneDrops uint64
}

// cannotShare is why an input cannot share a socket, and gets one of its
// own at once; other errors of join (an interface not up yet) are retried
// like a failing Listen.
type cannotShare struct{ err error }

func (e *cannotShare) Error() string { return e.err.Error() }
func (e *cannotShare) Unwrap() error { return e.err }

// errFirstOnPort: the first input of a port has a socket of its own.
var errFirstOnPort = &cannotShare{errors.New("the first input of its port")}

func keyOf(src nic.Source, kind bpf.Kind, rcvbuf int) sharedKey {
	return sharedKey{port: src.Addr.Port(), iface: src.Iface, ifaddr: src.IfaceAddr, kind: kind, rcvbuf: rcvbuf}
}

// join makes input i of s a member of the worker's shared socket for its
// port, opening the socket if it is the first; on the worker goroutine. It
// returns false with a nil error if s is gone or was stopped meanwhile, and
// an error when it did not join: a *cannotShare when the input should have
// a socket of its own, another when joining may work later.
func (w *worker) join(s *Stream, i int, gen uint64, src nic.Source, kind bpf.Kind, opt nic.Options) (bool, error) {
	if w.useRing {
		return w.joinRing(s, i, gen, src, kind)
	}
	if !w.registered(s) || s.gen.Load() != gen {
		return false, nil
	}
	in := s.inputs[i]
	key := keyOf(src, kind, opt.RecvBuffer)
	g := src.Addr.Addr().As4()
	if len(w.shared[key]) == 0 {
		// The first input of a port keeps a socket of its own: alone, a
		// shared socket only adds its costs (IP_PKTINFO, the group lookup,
		// a hash in the filter), which a lone input at a flood rate feels
		// (bench/results/ingest.md). The second input of the port opens
		// the shared socket, and the rest join it.
		if first := w.alone[key]; first == nil || first == in {
			if w.alone == nil {
				w.alone = map[sharedKey]*input{}
			}
			w.alone[key] = in
			return false, errFirstOnPort
		}
	}
	var sc *sharedConn
	for _, x := range w.shared[key] {
		if x.full {
			continue
		}
		if _, dup := x.members[g]; dup {
			continue // two inputs of a group: on two sockets, each its own
		}
		if err := x.filter.AddGroup(g); err != nil {
			x.full = true // bpf.MaxGroups
			continue
		}
		err := x.conn.Join(src)
		if err == nil {
			sc = x
			break
		}
		x.filter.RemoveGroup(g)
		if !errors.Is(err, nic.ErrGroupLimit) {
			return false, err
		}
		// The kernel's per-socket limit (igmp_max_memberships, 20 by
		// default): this socket is full, another takes the group.
		x.full = true
		if !w.hinted {
			w.hinted = true
			w.logf("receive worker on CPU %d: %d groups share a socket on port %d, the most the kernel allows one socket; "+
				"more sockets take the rest (raise net.ipv4.igmp_max_memberships for fewer)", w.cpu, len(x.members), key.port)
		}
	}
	if sc == nil {
		var err error
		if sc, err = w.openShared(key, src, opt); err != nil {
			return false, err
		}
	}
	sc.members[g] = in
	sc.grow(opt)
	in.shared, in.group, in.sharedRead = sc, g, 0
	in.tag = sc.tag
	in.opened(member{sc}, nil, time.Now())
	return true, nil
}

// maxSharedBuffer caps a shared socket's receive buffer (the kernel takes
// at most INT_MAX/2).
const maxSharedBuffer = 512 << 20

// grow sizes the receive buffer for the members: each member's share as
// large as a socket of its own would have, so a socket that takes twenty
// streams' datagrams holds as many seconds of each as before when the
// worker stalls. It is a bound on queued bytes, not an allocation.
func (sc *sharedConn) grow(opt nic.Options) {
	per := opt.RecvBuffer
	if per <= 0 {
		per = nic.DefaultRecvBuffer
	}
	want := min(per*len(sc.members), maxSharedBuffer)
	if want <= sc.conn.RecvBuffer()/2 {
		return
	}
	if _, err := sc.conn.SetRecvBuffer(want); err != nil {
		sc.w.logf("shared socket on port %d: %v", sc.key.port, err)
	}
}

// openShared opens the shared socket for key, joined to src's group and
// counting it, and starts polling it.
func (w *worker) openShared(key sharedKey, src nic.Source, opt nic.Options) (*sharedConn, error) {
	f, err := bpf.NewShared(key.kind)
	if err != nil {
		return nil, &cannotShare{err}
	}
	g := src.Addr.Addr().As4()
	if err := f.AddGroup(g); err != nil {
		f.Close()
		return nil, &cannotShare{err}
	}
	// The filter goes on before bind and join, so nothing is queued
	// unjudged (and uncounted).
	opt.Control = f.Attach
	conn, err := nic.ListenShared(src, opt)
	if err != nil {
		f.Close()
		return nil, err
	}
	sc := &sharedConn{w: w, key: key, conn: conn, filter: f, members: map[[4]byte]*input{}, counts: map[[4]byte]bpf.Counts{}}
	sc.tag = w.slot(sc)
	if err := w.poller.Add(conn.Fd(), uint32(sc.tag)); err != nil {
		w.slots[sc.tag] = nil
		conn.Close()
		f.Close()
		return nil, err
	}
	if w.shared == nil {
		w.shared = map[sharedKey][]*sharedConn{}
	}
	w.shared[key] = append(w.shared[key], sc)
	return sc, nil
}

// leave ends in's membership: the group is left and no longer counted, and
// the socket closes with its last member.
func (sc *sharedConn) leave(in *input) {
	// The group's last counts: what it refused stays in the socket's drop
	// counter after its key is gone.
	if _, err := sc.filter.GroupCounts(sc.counts); err == nil {
		c := sc.counts[in.group]
		in.filtered = [3]uint64{c.BadSize, c.BadSync, c.BadRTP}
		sc.goneRefused += c.Refused
	}
	sc.goneDrops += in.drops
	if err := sc.conn.Leave(in.url); err != nil {
		in.s.logf("stream %s: %v", in.s.cfg.Name, err)
	}
	sc.filter.RemoveGroup(in.group)
	delete(sc.members, in.group)
	in.shared = nil
	sc.full = false
	if len(sc.members) > 0 {
		return
	}
	w := sc.w
	w.poller.Del(sc.conn.Fd())
	w.slots[sc.tag] = nil
	sc.conn.Close()
	sc.filter.Close()
	list := w.shared[sc.key]
	for i, x := range list {
		if x == sc {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(w.shared, sc.key)
	} else {
		w.shared[sc.key] = list
	}
}

// read drains the ready socket like input.read, at most readsPerWake
// batches, handing each datagram to the input of its group.
func (sc *sharedConn) read(b *nic.Batch, now time.Time) (datagrams int, more bool) {
	for r := 0; r < readsPerWake; r++ {
		n, err := sc.conn.ReadBatch(b)
		if err != nil {
			sc.w.logf("shared socket on port %d: receive: %v", sc.key.port, err)
			break
		}
		if n == 0 {
			break
		}
		datagrams += n
		sc.recent += n
		for i := 0; i < n; i++ {
			g, _ := b.Dst(i)
			in := sc.members[g]
			if in == nil {
				continue // a group just left: its datagrams were queued before
			}
			in.sharedRead++
			if !in.touched {
				in.touched = true
				in.s.seg.now = now
				sc.touched = append(sc.touched, in)
			}
			in.take(b, i, in.active())
		}
		if n < b.Cap() {
			break
		}
		more = r == readsPerWake-1
	}
	for _, in := range sc.touched {
		in.touched = false
		in.s.received(in, now)
	}
	clear(sc.touched)
	sc.touched = sc.touched[:0]
	return datagrams, more
}

// maxDrain bounds count's read of the queue, in reads of readsPerWake
// batches: a socket flooded faster than the worker reads is never empty,
// and its losses wait for a tick when it is.
const maxDrain = 8

// count updates the members' filter and drop counters (see the top of the
// file); on the tick, before the streams' own.
func (sc *sharedConn) count(b *nic.Batch, now time.Time) {
	stray, err := sc.filter.GroupCounts(sc.counts)
	if err != nil {
		return
	}
	empty := false
	for k := 0; k < maxDrain && !empty; k++ {
		_, more := sc.read(b, now)
		empty = !more
	}
	refused := sc.goneRefused + stray.Refused
	for g, c := range sc.counts {
		refused += c.Refused
		if in := sc.members[g]; in != nil {
			in.filtered = [3]uint64{c.BadSize, c.BadSync, c.BadRTP}
		}
	}
	d, err := bpf.SocketDrops(sc.conn.Fd())
	if err != nil || d < refused || !empty {
		return
	}
	// sk_drops is 32 bits in the kernel; after it wraps this stops
	// growing, as the dedicated sockets' count does.
	lost := d - refused // what the queue lost, every group together
	total := sc.goneDrops
	for g, in := range sc.members {
		est := in.drops
		if p := sc.counts[g].Passed; p > in.sharedRead {
			est = max(est, p-in.sharedRead)
		}
		total += est
	}
	if total > lost {
		// A datagram counted as passed was queued only after the read
		// found the queue empty (its softirq ran on another core): the
		// next tick has it.
		return
	}
	for g, in := range sc.members {
		if p := sc.counts[g].Passed; p > in.sharedRead {
			in.drops = max(in.drops, p-in.sharedRead)
		}
	}
}

// member is a shared input's open source as the stream sees it: the
// worker reads the shared socket, so it is never read through this, and
// closing it is leaving, which the worker does (unwatch).
type member struct{ sc *sharedConn }

func (m member) Fd() int { return m.sc.conn.Fd() }

func (m member) ReadBatch(*nic.Batch) (int, error) {
	return 0, fmt.Errorf("BUG: read of a shared socket's member")
}

func (m member) Close() error { return nil }
