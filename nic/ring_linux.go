package nic

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Ring receives UDP datagrams through an AF_PACKET socket's TPACKET_V3
// receive ring instead of a UDP socket: the kernel writes every packet its
// filter passes into blocks of memory shared with this process and hands a
// block over when it is full or has waited its timeout, so one wake-up
// brings the datagrams of every channel that arrived meanwhile, with no
// system call and no copy per datagram. With hundreds of low-rate
// channels that is a small part of what recvmmsg costs: a block costs a
// wake-up, a datagram about 0.1 µs (bench/results/channels.md).
//
// The ring takes what its filter passes, from every interface or the one
// it is bound to; it joins no group. Group membership (IGMP, the card's
// multicast filter) is a UDP socket's business: see ListenMembership,
// whose sockets are bound to a port of their own so that the kernel's
// UDP layer drops the data cheaply instead of queueing a second copy.
//
// A Ring is read by one goroutine (Read, Stats); Close may run on another
// only once reading has stopped.
type Ring struct {
	fd        int
	mem       []byte
	blockSize int
	blocks    int
	cur       int         // the next block to read
	drops     uint64      // PACKET_STATISTICS' drops, summed (the kernel resets them at each read)
	closed    atomic.Bool // Close ran
}

// RingOptions size and place a Ring.
type RingOptions struct {
	// Ifindex is the interface to take packets from; 0 takes every
	// interface's.
	Ifindex int
	// BlockSize and Blocks size the ring: Blocks × Timeout is how long the
	// reader may stall before packets are dropped at low rates,
	// BlockSize × Blocks how many bytes it holds at high ones. Zero takes
	// DefaultRingBlockSize and DefaultRingBlocks.
	BlockSize, Blocks int
	// Timeout is how long a block that is not full waits before the kernel
	// hands it over: the latency the ring adds. Zero takes
	// DefaultRingTimeout; it is rounded to whole milliseconds (at least 1).
	Timeout time.Duration
	// Control, if set, runs on the socket before it binds, to attach a
	// filter (bpf.Filter.Attach): nothing is written to the ring unfiltered.
	Control func(fd int) error
}

// Ring defaults: 128 blocks of 256 KiB, handed over within 1 ms: 32 MiB,
// a few seconds of a few Gbit/s at the most, and at least 128 ms of stall
// at the lowest rates.
const (
	DefaultRingBlockSize = 256 << 10
	DefaultRingBlocks    = 128
	DefaultRingTimeout   = time.Millisecond
)

// ringFrame is the frame size TPACKET_V3 asks for; with V3 packets are
// packed in blocks whatever it is, but it must divide the block size.
const ringFrame = 2048

// NewRing opens a ring of o's size taking IPv4 packets (from o.Ifindex, or
// every interface), its filter attached by o.Control before it binds.
func NewRing(o RingOptions) (*Ring, error) {
	if o.BlockSize <= 0 {
		o.BlockSize = DefaultRingBlockSize
	}
	if o.Blocks <= 0 {
		o.Blocks = DefaultRingBlocks
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultRingTimeout
	}
	if o.BlockSize%unix.Getpagesize() != 0 || o.BlockSize%ringFrame != 0 {
		return nil, fmt.Errorf("nic: ring: block size %d is not a multiple of the page size", o.BlockSize)
	}
	proto := htons(unix.ETH_P_IP)
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, int(proto))
	if err != nil {
		return nil, fmt.Errorf("nic: ring: packet socket: %w", err)
	}
	r := &Ring{fd: fd, blockSize: o.BlockSize, blocks: o.Blocks}
	if err := r.setup(o, proto); err != nil {
		r.Close()
		return nil, fmt.Errorf("nic: ring: %w", err)
	}
	return r, nil
}

func (r *Ring) setup(o RingOptions, proto uint16) error {
	if err := unix.SetsockoptInt(r.fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return fmt.Errorf("PACKET_VERSION TPACKET_V3: %w", err)
	}
	// The host's own datagrams leaving an interface are not input (on lo
	// every packet would otherwise be seen twice).
	if err := unix.SetsockoptInt(r.fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
		return fmt.Errorf("PACKET_IGNORE_OUTGOING: %w", err)
	}
	if o.Control != nil {
		if err := o.Control(r.fd); err != nil {
			return err
		}
	}
	ms := max(1, uint32(o.Timeout/time.Millisecond))
	req := unix.TpacketReq3{
		Block_size:     uint32(o.BlockSize),
		Block_nr:       uint32(o.Blocks),
		Frame_size:     ringFrame,
		Frame_nr:       uint32(o.BlockSize / ringFrame * o.Blocks),
		Retire_blk_tov: ms,
	}
	if err := unix.SetsockoptTpacketReq3(r.fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return fmt.Errorf("PACKET_RX_RING: %w", err)
	}
	mem, err := unix.Mmap(r.fd, 0, o.BlockSize*o.Blocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("mmap: %w", err)
	}
	r.mem = mem
	if err := unix.Bind(r.fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: o.Ifindex}); err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	return nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// Fd is the socket: it polls readable while a block waits to be read.
func (r *Ring) Fd() int { return r.fd }

// block returns block i's header.
func (r *Ring) block(i int) *unix.TpacketHdrV1 {
	bd := (*unix.TpacketBlockDesc)(unsafe.Pointer(&r.mem[i*r.blockSize]))
	return (*unix.TpacketHdrV1)(unsafe.Pointer(&bd.Hdr[0]))
}

// Read hands each UDP datagram of the blocks the kernel has handed over,
// at most maxBlocks of them, to f: its destination address, destination
// port, when the ring took it (Unix nanoseconds, CLOCK_REALTIME) and
// payload (valid until f returns; the block goes back to the kernel after). It returns how many datagrams it handed, and more when it
// stopped at maxBlocks with the next block ready. It allocates nothing.
func (r *Ring) Read(maxBlocks int, f func(dst [4]byte, port uint16, ts int64, payload []byte)) (datagrams int, more bool) {
	if r.mem == nil {
		return 0, false
	}
	for b := 0; b < maxBlocks; b++ {
		h := r.block(r.cur)
		if atomic.LoadUint32(&h.Block_status)&unix.TP_STATUS_USER == 0 {
			return datagrams, false
		}
		base := r.cur * r.blockSize
		off := int(h.Offset_to_first_pkt)
		for i := uint32(0); i < h.Num_pkts && off > 0 && off < r.blockSize; i++ {
			ph := (*unix.Tpacket3Hdr)(unsafe.Pointer(&r.mem[base+off]))
			start := off + int(ph.Net)
			end := off + int(ph.Mac) + int(ph.Snaplen)
			if start < end && end <= r.blockSize {
				if dst, port, p, ok := udpOf(r.mem[base+start : base+end]); ok {
					f(dst, port, int64(ph.Sec)*1e9+int64(ph.Nsec), p)
					datagrams++
				}
			}
			if ph.Next_offset == 0 {
				break
			}
			off += int(ph.Next_offset)
		}
		atomic.StoreUint32(&h.Block_status, unix.TP_STATUS_KERNEL)
		r.cur = (r.cur + 1) % r.blocks
	}
	return datagrams, atomic.LoadUint32(&r.block(r.cur).Block_status)&unix.TP_STATUS_USER != 0
}

// udpOf takes an IPv4 packet apart: the destination address and port, and
// the UDP payload as the UDP header's length says (cut to the packet).
func udpOf(ip []byte) (dst [4]byte, port uint16, payload []byte, ok bool) {
	if len(ip) < 20 || ip[0]>>4 != 4 || ip[9] != unix.IPPROTO_UDP {
		return dst, 0, nil, false
	}
	ihl := int(ip[0]&0x0f) * 4
	if ihl < 20 || len(ip) < ihl+8 {
		return dst, 0, nil, false
	}
	copy(dst[:], ip[16:20])
	udp := ip[ihl:]
	port = uint16(udp[2])<<8 | uint16(udp[3])
	n := int(uint16(udp[4])<<8|uint16(udp[5])) - 8
	if n < 0 {
		return dst, 0, nil, false
	}
	n = min(n, len(udp)-8)
	return dst, port, udp[8 : 8+n], true
}

// Drops returns the packets the filter passed that found no room in the
// ring, since NewRing (PACKET_STATISTICS, which the kernel resets at each
// read, summed here); on the reading goroutine.
func (r *Ring) Drops() (uint64, error) {
	st, err := unix.GetsockoptTpacketStatsV3(r.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return r.drops, fmt.Errorf("nic: ring: PACKET_STATISTICS: %w", err)
	}
	r.drops += uint64(st.Drops)
	return r.drops, nil
}

// Close unmaps the ring and closes the socket.
func (r *Ring) Close() error {
	if !r.closed.CompareAndSwap(false, true) {
		return nil
	}
	var errs []error
	if r.mem != nil {
		errs = append(errs, unix.Munmap(r.mem))
		r.mem = nil
	}
	errs = append(errs, unix.Close(r.fd))
	return errors.Join(errs...)
}

// ListenMembership opens a UDP socket that only holds multicast
// memberships (Join, Leave) for a Ring: bound to a port of its own
// (ephemeral) and to no group's address, with IP_MULTICAST_ALL=0 and the
// smallest receive buffer, it never receives the groups' datagrams, and
// the kernel, finding no socket on their port, drops them at once after
// the ring's copy.
func ListenMembership() (*Conn, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return nil, fmt.Errorf("nic: membership socket: %w", err)
	}
	c := &Conn{member: true}
	c.fd.Store(int32(fd))
	err = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, 0)
	if err == nil {
		err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 0)
	}
	if err == nil {
		err = unix.Bind(fd, &unix.SockaddrInet4{}) // an ephemeral port, no group's
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("nic: membership socket: %w", err)
	}
	return c, nil
}
