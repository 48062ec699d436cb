package nic

import (
	"errors"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// ErrPipeClosed is what Pipe.Write returns once the reading side closed.
var ErrPipeClosed = errors.New("nic: pipe closed")

// Pipe hands datagrams from a source that is not a socket (an HTTP body, a
// publisher's session, running in goroutines of its own) to a receive
// worker as if they came from one: the worker's epoll waits on Fd (an
// eventfd) and ReadBatch fills its Batch. The queue is bounded: a writer
// that outruns the worker waits, so a TCP source is slowed by its own flow
// control instead of growing memory. Write and ReadBatch may run on
// different goroutines; neither allocates.
type Pipe struct {
	efd int

	mu     sync.Mutex
	space  sync.Cond // signalled when ReadBatch made room or Close ran
	slots  []byte    // n slots of size bytes
	lens   []int
	size   int
	head   int // next slot to read
	count  int // slots filled
	closed bool
	done   chan struct{}
}

// NewPipe makes a pipe of n datagrams of at most size bytes.
func NewPipe(n, size int) (*Pipe, error) {
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, err
	}
	p := &Pipe{efd: efd, slots: make([]byte, n*size), lens: make([]int, n), size: size, done: make(chan struct{})}
	p.space.L = &p.mu
	return p, nil
}

// Fd is the descriptor a poller waits on: readable while datagrams wait.
func (p *Pipe) Fd() int { return p.efd }

// Done is closed when the pipe closes: the writer's cue to stop its source.
func (p *Pipe) Done() <-chan struct{} { return p.done }

// Write queues a copy of d (cut to the pipe's datagram size) and wakes the
// reader, waiting while the queue is full; ErrPipeClosed once closed.
func (p *Pipe) Write(d []byte) error {
	p.mu.Lock()
	for p.count == len(p.lens) && !p.closed {
		p.space.Wait()
	}
	if p.closed {
		p.mu.Unlock()
		return ErrPipeClosed
	}
	i := (p.head + p.count) % len(p.lens)
	p.lens[i] = copy(p.slots[i*p.size:(i+1)*p.size], d)
	p.count++
	p.wake() // under the lock: Close cannot close the descriptor meanwhile
	p.mu.Unlock()
	return nil
}

// ReadBatch moves the queued datagrams, as many as b holds, into b and
// returns how many. The eventfd is cleared first, so a datagram queued
// after that wakes the poller again: none waits unseen.
func (p *Pipe) ReadBatch(b *Batch) (int, error) {
	b.Reset()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return 0, ErrPipeClosed
	}
	var buf [8]byte
	unix.Read(p.efd, buf[:])
	for p.count > 0 && b.n < b.Cap() {
		i := p.head
		b.Put(p.slots[i*p.size : i*p.size+p.lens[i]])
		p.head = (p.head + 1) % len(p.lens)
		p.count--
	}
	if p.count > 0 {
		p.wake() // more than one batch waits: keep the descriptor readable
	}
	p.mu.Unlock()
	p.space.Broadcast()
	return b.n, nil
}

// Drain waits until the reader has taken every queued datagram, the pipe
// closed, or within passed; it reports whether the queue is empty. A
// source that ends calls it before detaching, so that its last datagrams
// are not lost with the pipe.
func (p *Pipe) Drain(within time.Duration) bool {
	deadline := time.Now().Add(within)
	for {
		p.mu.Lock()
		empty, closed := p.count == 0, p.closed
		p.mu.Unlock()
		if empty || closed || time.Now().After(deadline) {
			return empty
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// wake makes the eventfd readable; with p.mu held.
func (p *Pipe) wake() {
	one := [8]byte{1}
	unix.Write(p.efd, one[:]) // EAGAIN only at a counter of 2^64-2: readable anyway
}

// Close wakes and refuses the writer, and closes the descriptor.
func (p *Pipe) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.done)
	err := unix.Close(p.efd)
	p.mu.Unlock()
	p.space.Broadcast()
	return err
}
