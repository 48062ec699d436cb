package nic

import (
	"encoding/binary"
	"fmt"
	"math"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Poller is an epoll instance for one receive worker. Wait is called by one
// goroutine at a time; Add, Del and Wake may be called from any goroutine.
type Poller struct {
	epfd   int
	wakefd int // eventfd; its epoll data has pad=wakeMark so no user tag collides
	events [128]unix.EpollEvent
	drain  [8]byte // scratch for reading the eventfd, used only by Wait
	one    [8]byte // the eventfd increment, read-only after NewPoller
	close  sync.Once
}

// wakeMark marks the eventfd's epoll event in the upper half of epoll_data;
// user tags live in the lower half.
const wakeMark = 1

// NewPoller makes an epoll instance with its wake eventfd.
func NewPoller() (*Poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("nic: epoll_create1: %w", err)
	}
	wfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("nic: eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Pad: wakeMark}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wfd, &ev); err != nil {
		unix.Close(wfd)
		unix.Close(epfd)
		return nil, fmt.Errorf("nic: epoll_ctl add eventfd: %w", err)
	}
	p := &Poller{epfd: epfd, wakefd: wfd}
	binary.NativeEndian.PutUint64(p.one[:], 1) // eventfd adds a host-order uint64
	return p, nil
}

// Add watches fd for input (EPOLLIN, level-triggered); Wait reports it as
// tag. Any uint32 is a valid tag.
func (p *Poller) Add(fd int, tag uint32) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(tag)}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return fmt.Errorf("nic: epoll add fd %d: %w", fd, err)
	}
	return nil
}

// Del stops watching fd.
func (p *Poller) Del(fd int) error {
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, nil); err != nil {
		return fmt.Errorf("nic: epoll del fd %d: %w", fd, err)
	}
	return nil
}

// Wait blocks until a watched fd is readable, Wake is called, or timeout
// passes (negative: no timeout; rounded up to whole milliseconds), then
// stores the tags of the ready fds in tags and returns how many. It returns
// (0, nil) on timeout, on EINTR and when only woken. It does not allocate.
// At most min(len(tags), 128) tags are reported per call; level triggering
// reports the rest on the next call.
func (p *Poller) Wait(tags []uint32, timeout time.Duration) (int, error) {
	msec := -1
	if timeout >= 0 {
		msec = int(min((timeout+time.Millisecond-1)/time.Millisecond, math.MaxInt32))
	}
	// One slot beyond len(tags) leaves room for the wake event.
	evs := p.events[:min(len(tags)+1, len(p.events))]
	n, err := unix.EpollWait(p.epfd, evs, msec)
	if err != nil {
		if err == unix.EINTR {
			return 0, nil
		}
		return 0, fmt.Errorf("nic: epoll_wait: %w", err)
	}
	k := 0
	for i := range evs[:n] {
		if evs[i].Pad == wakeMark {
			p.drainWake()
			continue
		}
		if k < len(tags) {
			tags[k] = uint32(evs[i].Fd)
			k++
		}
	}
	return k, nil
}

// drainWake resets the eventfd counter so that the next Wait blocks again.
func (p *Poller) drainWake() {
	for {
		_, err := unix.Read(p.wakefd, p.drain[:])
		if err != unix.EINTR {
			return
		}
	}
}

// Wake makes a blocked Wait (or the next one) return promptly.
func (p *Poller) Wake() error {
	for {
		_, err := unix.Write(p.wakefd, p.one[:])
		switch err {
		case nil, unix.EAGAIN: // EAGAIN: counter saturated, a wake is pending anyway
			return nil
		case unix.EINTR:
			continue
		}
		return fmt.Errorf("nic: wake: %w", err)
	}
}

// Close releases the epoll instance and its eventfd. It does not close the
// watched fds. Call it after the waiting goroutine has returned from Wait
// (Wake it first); later calls return nil.
func (p *Poller) Close() error {
	var err error
	p.close.Do(func() {
		e1 := unix.Close(p.wakefd)
		e2 := unix.Close(p.epfd)
		if e1 == nil {
			e1 = e2
		}
		if e1 != nil {
			err = fmt.Errorf("nic: poller close: %w", e1)
		}
	})
	return err
}
