// Package nic owns slabcast's receive sockets: parsing udp:// input URLs,
// binding and joining multicast groups (any-source, source-specific and
// per-interface), sizing the kernel receive buffer, batched receive with
// recvmmsg, the kernel's receive-queue drop counter (SO_RXQ_OVFL), an epoll
// wrapper for receive workers and CPU pinning helpers.
//
// Memory: a Batch is owned by its caller and preallocated once by NewBatch;
// Conn.ReadBatch fills it without allocating, and a datagram returned by
// Batch.Msg stays valid until the next ReadBatch into the same Batch.
//
// Concurrency: a Conn is read by one goroutine at a time; Drops, Fd,
// RecvBuffer and Source may be called from any goroutine. Close must not race
// with ReadBatch (remove the socket from its Poller, then close it). A Poller
// is waited on by one goroutine; Add, Del and Wake may be called from any.
//
// The Linux mechanics live in *_linux.go. On other systems the package
// compiles, ParseURL and ParseCPUList work, and everything touching the
// kernel returns ErrUnsupported.
package nic

import "errors"

// ErrUnsupported is returned by every socket, poller and CPU call on systems
// other than Linux.
var ErrUnsupported = errors.New("nic: not supported on this operating system")

// ErrGroupLimit is returned by Conn.Join when the socket holds as many
// groups as the kernel lets one socket join: net.ipv4.igmp_max_memberships
// (20 by default), or net.ipv4.igmp_max_msf sources of a source-specific
// group (10). Another socket can take more.
var ErrGroupLimit = errors.New("the socket has all the groups the kernel allows one socket (net.ipv4.igmp_max_memberships, igmp_max_msf)")

// DefaultRecvBuffer is the receive buffer requested when Options.RecvBuffer
// is 0: about 1.3 s of a 100 Mbit/s stream.
const DefaultRecvBuffer = 16 << 20

// Options tunes Listen. The zero value is usable.
type Options struct {
	// RecvBuffer is the requested SO_RCVBUF size in bytes; 0 means
	// DefaultRecvBuffer. The kernel reports (and accounts) twice the
	// requested value; Conn.RecvBuffer returns what it reports.
	RecvBuffer int
	// Logf receives warnings, such as a receive buffer capped by
	// net.core.rmem_max. nil discards them.
	Logf func(format string, args ...any)
	// Control, if set, runs on the new socket before it binds or joins, so
	// a socket filter (package bpf) is in place before the first datagram
	// can be queued. Its error fails Listen.
	Control func(fd int) error
}

func (o *Options) recvBuffer() int {
	if o.RecvBuffer > 0 {
		return o.RecvBuffer
	}
	return DefaultRecvBuffer
}

func (o *Options) logf(format string, args ...any) {
	if o.Logf != nil {
		o.Logf(format, args...)
	}
}
