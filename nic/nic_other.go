//go:build !linux

package nic

import (
	"runtime"
	"time"
)

// Conn is a UDP receive socket; only Linux implements it.
type Conn struct{ src Source }

// Listen returns ErrUnsupported outside Linux.
func Listen(src Source, opt Options) (*Conn, error) { return nil, ErrUnsupported }

// Fd returns -1 outside Linux.
func (c *Conn) Fd() int { return -1 }

// Source returns what the Conn was opened for.
func (c *Conn) Source() Source { return c.src }

// RecvBuffer returns 0 outside Linux.
func (c *Conn) RecvBuffer() int { return 0 }

// Drops returns 0 outside Linux.
func (c *Conn) Drops() uint32 { return 0 }

// Close does nothing outside Linux.
func (c *Conn) Close() error { return nil }

// ListenShared returns ErrUnsupported outside Linux.
func ListenShared(src Source, opt Options) (*Conn, error) { return nil, ErrUnsupported }

// Join returns ErrUnsupported outside Linux.
func (c *Conn) Join(src Source) error { return ErrUnsupported }

// Leave returns ErrUnsupported outside Linux.
func (c *Conn) Leave(src Source) error { return ErrUnsupported }

// SetRecvBuffer returns ErrUnsupported outside Linux.
func (c *Conn) SetRecvBuffer(n int) (int, error) { return 0, ErrUnsupported }

// Shared reports false outside Linux.
func (c *Conn) Shared() bool { return false }

// ReadBatch returns ErrUnsupported outside Linux.
func (c *Conn) ReadBatch(b *Batch) (int, error) { return 0, ErrUnsupported }

// Dst panics outside Linux: the batch is always empty.
func (b *Batch) Dst(i int) ([4]byte, bool) { panic("BUG: nic.Batch.Dst on an empty Batch") }

// Batch holds datagrams for ReadBatch; only Linux fills it.
type Batch struct{ count int }

// NewBatch returns an empty Batch outside Linux.
func NewBatch(count, size int) *Batch { return &Batch{count: count} }

// Len returns 0 outside Linux.
func (b *Batch) Len() int { return 0 }

// Reset does nothing outside Linux.
func (b *Batch) Reset() {}

// Put stores nothing outside Linux.
func (b *Batch) Put(p []byte) bool { return false }

// Cap returns the count given to NewBatch.
func (b *Batch) Cap() int { return b.count }

// Msg panics outside Linux: no read ever stores a datagram.
func (b *Batch) Msg(i int) []byte { panic("BUG: nic.Batch.Msg on an empty Batch") }

// Truncated panics outside Linux: no read ever stores a datagram.
func (b *Batch) Truncated(i int) bool { panic("BUG: nic.Batch.Truncated on an empty Batch") }

// Poller waits for readable sockets; only Linux implements it.
type Poller struct{}

// NewPoller returns ErrUnsupported outside Linux.
func NewPoller() (*Poller, error) { return nil, ErrUnsupported }

// Add returns ErrUnsupported outside Linux.
func (p *Poller) Add(fd int, tag uint32) error { return ErrUnsupported }

// Del returns ErrUnsupported outside Linux.
func (p *Poller) Del(fd int) error { return ErrUnsupported }

// Wait returns ErrUnsupported outside Linux.
func (p *Poller) Wait(tags []uint32, timeout time.Duration) (int, error) { return 0, ErrUnsupported }

// Wake returns ErrUnsupported outside Linux.
func (p *Poller) Wake() error { return ErrUnsupported }

// Close does nothing outside Linux.
func (p *Poller) Close() error { return nil }

// PinThread returns ErrUnsupported outside Linux.
func PinThread(cpu int) error { return ErrUnsupported }

// OnlineCPUs returns 0..runtime.NumCPU()-1 outside Linux.
func OnlineCPUs() []int {
	cpus := make([]int, runtime.NumCPU())
	for i := range cpus {
		cpus[i] = i
	}
	return cpus
}

// Nap sleeps for d (time.Sleep outside Linux).
func Nap(d time.Duration) { time.Sleep(d) }

// Ring is a TPACKET_V3 receive ring; Linux only.
type Ring struct{}

// RingOptions size and place a Ring.
type RingOptions struct {
	Ifindex, BlockSize, Blocks int
	Timeout                    time.Duration
	Control                    func(fd int) error
}

// NewRing returns ErrUnsupported outside Linux.
func NewRing(o RingOptions) (*Ring, error) { return nil, ErrUnsupported }

func (r *Ring) Fd() int                                                    { return -1 }
func (r *Ring) Drops() (uint64, error)                                     { return 0, ErrUnsupported }
func (r *Ring) Close() error                                               { return nil }
func (r *Ring) Read(int, func([4]byte, uint16, int64, []byte)) (int, bool) { return 0, false }

// ListenMembership returns ErrUnsupported outside Linux.
func ListenMembership() (*Conn, error) { return nil, ErrUnsupported }
