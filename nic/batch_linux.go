package nic

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmsghdr is struct mmsghdr from <sys/socket.h>, which x/sys/unix does not
// define. Go lays it out like C on every Linux architecture: msghdr, then a
// uint32, padded to msghdr's alignment (64 bytes on 64-bit, 32 on 32-bit).
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

// ctrlSpace is room for the control messages a datagram can carry: its
// socket's SO_RXQ_OVFL count (a uint32) and, on a shared socket, its
// IP_PKTINFO (struct in_pktinfo, 12 bytes), rounded up to whole uint64s for
// alignment.
var ctrlSpace = (unix.CmsgSpace(4) + unix.CmsgSpace(unix.SizeofInet4Pktinfo) + 7) / 8 * 8

// Batch is caller-owned memory for one recvmmsg call: count datagrams of up
// to size bytes each, with their headers, iovecs and control buffers, all
// allocated once by NewBatch. A Batch is used by one goroutine at a time.
//
// Pointer soundness: the kernel writes through pointers stored in msgs
// (iovec bases into bufs, control pointers into ctrl). They are ordinary,
// typed Go pointers into slices the Batch itself holds, so the collector
// sees them and keeps the memory alive, and Go's collector never moves heap
// objects; the address of msgs is converted to uintptr inside the syscall
// call expression, which keeps msgs alive for the call.
type Batch struct {
	msgs  []mmsghdr
	iovs  []unix.Iovec
	bufs  []byte
	ctrl  []uint64 // uint64 for cmsghdr alignment
	size  int
	n     int // datagrams in the last read
	ctrlW int // control buffer length in uint64s per datagram
}

// NewBatch allocates a Batch for count datagrams of up to size bytes each.
// Longer datagrams are truncated to size and flagged by Truncated. It
// panics if count or size is not positive.
func NewBatch(count, size int) *Batch {
	if count <= 0 || size <= 0 {
		panic(fmt.Sprintf("BUG: nic.NewBatch(%d, %d): count and size must be positive", count, size))
	}
	w := ctrlSpace / 8
	b := &Batch{
		msgs:  make([]mmsghdr, count),
		iovs:  make([]unix.Iovec, count),
		bufs:  make([]byte, count*size),
		ctrl:  make([]uint64, count*w),
		size:  size,
		ctrlW: w,
	}
	for i := range b.msgs {
		b.iovs[i].Base = &b.bufs[i*size]
		b.iovs[i].SetLen(size)
		h := &b.msgs[i].hdr
		h.Iov = &b.iovs[i]
		h.SetIovlen(1)
		h.Control = (*byte)(unsafe.Pointer(&b.ctrl[i*w]))
		h.SetControllen(ctrlSpace)
	}
	return b
}

// Len returns the number of datagrams the last ReadBatch stored.
func (b *Batch) Len() int { return b.n }

// Cap returns the number of datagrams one ReadBatch can store.
func (b *Batch) Cap() int { return len(b.msgs) }

// Msg returns datagram i (0 <= i < Len()) of the last read. The slice points
// into the Batch and stays valid until the next ReadBatch into it.
func (b *Batch) Msg(i int) []byte {
	if uint(i) >= uint(b.n) {
		panic("BUG: nic.Batch.Msg index beyond the last read")
	}
	n := min(int(b.msgs[i].n), b.size)
	off := i * b.size
	return b.bufs[off : off+n : off+n]
}

// Truncated reports whether datagram i was longer than the Batch's size and
// lost its tail (MSG_TRUNC).
func (b *Batch) Truncated(i int) bool {
	if uint(i) >= uint(b.n) {
		panic("BUG: nic.Batch.Truncated index beyond the last read")
	}
	return b.msgs[i].hdr.Flags&unix.MSG_TRUNC != 0
}

// Reset empties the batch, for a source that fills it with Put.
func (b *Batch) Reset() {
	for i := range b.msgs[:b.n] {
		b.msgs[i].hdr.SetControllen(ctrlSpace)
	}
	b.n = 0
}

// Put stores a copy of p as the next datagram of the batch, as if a read
// had received it, and reports whether there was room. A p longer than the
// batch's size is cut to it and flagged Truncated. Sources that are not
// sockets (a publisher's TS handed over in memory, a test) fill the batch
// this way, so whoever reads it cannot tell.
func (b *Batch) Put(p []byte) bool {
	if b.n == len(b.msgs) {
		return false
	}
	i := b.n
	copy(b.bufs[i*b.size:(i+1)*b.size], p)
	b.msgs[i].n = uint32(min(len(p), b.size))
	b.msgs[i].hdr.Flags = 0
	b.msgs[i].hdr.SetControllen(0)
	if len(p) > b.size {
		b.msgs[i].n = uint32(b.size)
		b.msgs[i].hdr.Flags = unix.MSG_TRUNC
	}
	b.n++
	return true
}

// useRawSyscall would make recvmmsg skip the scheduler's entersyscall/
// exitsyscall bookkeeping, which MSG_DONTWAIT makes safe. Measured with
// BenchmarkRecvmmsgEmpty (2-core AMD EPYC VM, kernel 6.18, best of 10):
// Syscall6 362 ns, RawSyscall6 371 ns per empty call; BenchmarkReadBatch
// shows no difference beyond noise either. With no gain, Syscall6 stays:
// it lets sysmon hand the P to another goroutine should a large copy make
// a call slow.
const useRawSyscall = false

// ReadBatch receives up to b.Cap() queued datagrams with one
// recvmmsg(MSG_DONTWAIT) call, without allocating. It returns (0, nil) when
// nothing is queued and retries on EINTR. It updates Drops from the last
// datagram's control data (see Drops for when the kernel reports a count).
// A Conn's ReadBatch must not run concurrently with itself or with Close.
func (c *Conn) ReadBatch(b *Batch) (int, error) {
	return c.readBatch(b, useRawSyscall)
}

func (c *Conn) readBatch(b *Batch, raw bool) (int, error) {
	// The kernel overwrote the control lengths of the last read's messages.
	for i := range b.msgs[:b.n] {
		b.msgs[i].hdr.SetControllen(ctrlSpace)
	}
	b.n = 0
	fd := uintptr(c.fd.Load())
	for {
		var r uintptr
		var errno unix.Errno
		if raw {
			r, _, errno = unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.msgs[0])),
				uintptr(len(b.msgs)), unix.MSG_DONTWAIT, 0, 0)
		} else {
			r, _, errno = unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.msgs[0])),
				uintptr(len(b.msgs)), unix.MSG_DONTWAIT, 0, 0)
		}
		switch errno {
		case 0:
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return 0, nil
		default:
			return 0, fmt.Errorf("nic: recvmmsg %s: %w", c.src, errno)
		}
		n := int(r)
		b.n = n
		if n > 0 {
			if d, ok := b.dropCount(n - 1); ok {
				c.drops.Store(d)
			}
		}
		return n, nil
	}
}

// dropCount extracts the SO_RXQ_OVFL count from datagram i's control data.
// The kernel attaches it only once the count is non-zero.
func (b *Batch) dropCount(i int) (uint32, bool) {
	d := b.cmsg(i, unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 4)
	if d == nil {
		return 0, false
	}
	return *(*uint32)(unsafe.Pointer(&d[0])), true
}

// Dst returns the destination address of datagram i as its IP header
// named it: the multicast group it was sent to. Only a socket opened by
// ListenShared reports it (IP_PKTINFO); ok is false otherwise, and for a
// datagram Put into the batch.
func (b *Batch) Dst(i int) (addr [4]byte, ok bool) {
	if uint(i) >= uint(b.n) {
		panic("BUG: nic.Batch.Dst index beyond the last read")
	}
	d := b.cmsg(i, unix.IPPROTO_IP, unix.IP_PKTINFO, unix.SizeofInet4Pktinfo)
	if d == nil {
		return addr, false
	}
	// struct in_pktinfo: ipi_ifindex, ipi_spec_dst, ipi_addr (the header's
	// destination).
	return [4]byte(d[8:12]), true
}

// cmsg returns the data of datagram i's control message of level and typ
// if it holds at least n bytes, else nil.
func (b *Batch) cmsg(i int, level, typ int32, n int) []byte {
	h := &b.msgs[i].hdr
	ctl := unsafe.Slice((*byte)(unsafe.Pointer(&b.ctrl[i*b.ctrlW])), min(int(h.Controllen), b.ctrlW*8))
	for len(ctl) >= unix.SizeofCmsghdr {
		cm := (*unix.Cmsghdr)(unsafe.Pointer(&ctl[0]))
		l := int(cm.Len)
		if l < unix.SizeofCmsghdr || l > len(ctl) {
			return nil
		}
		if cm.Level == level && cm.Type == typ && l >= unix.CmsgLen(n) {
			return ctl[unix.CmsgLen(0):l]
		}
		next := unix.CmsgSpace(l - unix.CmsgLen(0))
		if next >= len(ctl) {
			break
		}
		ctl = ctl[next:]
	}
	return nil
}
