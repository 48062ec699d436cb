package latency

import (
	"bytes"
	"errors"
	"fmt"
	"hash/maphash"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/slabcast/slabcast/bench/internal/proc"
	"github.com/slabcast/slabcast/ts"
)

// readTimeout bounds each blocking read so that observers notice stop.
const readTimeout = 200 * time.Millisecond

// dialTCP opens a blocking TCP connection to addr with Nagle off and a
// receive timeout.
func dialTCP(addr netip.AddrPort) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("latency: socket: %w", err)
	}
	tv := unix.NsecToTimeval(int64(readTimeout))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("latency: SO_RCVTIMEO: %w", err)
	}
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	if err := unix.Connect(fd, &unix.SockaddrInet4{Port: int(addr.Port()), Addr: addr.Addr().As4()}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("latency: connect %s: %w", addr, err)
	}
	return fd, nil
}

func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// task is a goroutine whose end and error can be waited for, more than
// once.
type task struct {
	done chan struct{}
	err  error
}

func (t *task) ended() bool {
	select {
	case <-t.done:
		return true
	default:
		return false
	}
}

func (t *task) wait() error {
	<-t.done
	return t.err
}

// pinned runs f on a goroutine locked to a thread pinned to cpu (none if cpu
// < 0), the thread's affinity given back afterwards (proc.OnCPU).
func pinned(cpu int, f func() error) *task {
	t := &task{done: make(chan struct{})}
	go func() {
		defer close(t.done)
		t.err = proc.OnCPU(cpu, f)
	}()
	return t
}

// tsClient reads an endless HTTP MPEG-TS answer and logs when each packet
// arrived.
type tsClient struct {
	clk     clock
	seed    maphash.Seed
	stop    atomic.Bool
	log     []seen
	first   atomic.Int64 // clock time of the first body byte, 0 before
	resyncs int          // times the byte stream was not at a packet boundary
}

// run connects to addr, asks for path and reads until stop; on the calling
// (pinned) thread.
func (c *tsClient) run(addr netip.AddrPort, path string) error {
	fd, err := dialTCP(addr)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := writeAll(fd, []byte("GET "+path+" HTTP/1.1\r\nHost: bench\r\n\r\n")); err != nil {
		return fmt.Errorf("latency: %s: %w", path, err)
	}
	buf := make([]byte, 256<<10)
	have := 0 // bytes in buf not yet consumed
	body := false
	for !c.stop.Load() {
		n, err := unix.Read(fd, buf[have:])
		at := c.clk.now()
		if err == unix.EAGAIN || err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("latency: reading %s: %w", path, err)
		}
		if n == 0 {
			if c.stop.Load() {
				return nil
			}
			return fmt.Errorf("latency: %s: the server closed the connection", path)
		}
		have += n
		data := buf[:have]
		if !body {
			i := bytes.Index(data, []byte("\r\n\r\n"))
			if i < 0 {
				if have == len(buf) {
					return fmt.Errorf("latency: %s: no end of header", path)
				}
				continue
			}
			if !bytes.HasPrefix(data, []byte("HTTP/1.1 200")) {
				line, _, _ := bytes.Cut(data, []byte("\r\n"))
				return fmt.Errorf("latency: %s: %q", path, line)
			}
			body = true
			c.first.Store(at)
			data = data[i+4:]
		}
		for len(data) >= ts.PacketSize {
			if data[0] != ts.SyncByte {
				c.resyncs++
				data = data[1:]
				continue
			}
			c.log = append(c.log, seen{maphash.Bytes(c.seed, data[:ts.PacketSize]), at})
			data = data[ts.PacketSize:]
		}
		have = copy(buf, data)
	}
	return nil
}

// poller asks for a playlist every interval on a keep-alive connection
// and logs when each new last segment first appears.
type poller struct {
	clk      clock
	interval time.Duration
	stop     atomic.Bool
	ready    atomic.Bool // a playlist with a segment was read

	starts []int64 // clock time each request was sent
	rtts   []time.Duration
	seen   []appearance
}

var errShortAnswer = errors.New("latency: playlist: malformed answer")

func (p *poller) run(addr netip.AddrPort, path string) error {
	fd, err := dialTCP(addr)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	req := []byte("GET " + path + " HTTP/1.1\r\nHost: bench\r\n\r\n")
	buf := make([]byte, 64<<10)
	var last []byte // the last segment name seen
	for !p.stop.Load() {
		t0 := p.clk.now()
		if err := writeAll(fd, req); err != nil {
			return fmt.Errorf("latency: %s: %w", path, err)
		}
		body, status, err := readAnswer(fd, buf, &p.stop)
		if err != nil {
			return fmt.Errorf("latency: %s: %w", path, err)
		}
		t1 := p.clk.now()
		p.starts = append(p.starts, t0)
		p.rtts = append(p.rtts, time.Duration(t1-t0))
		if status == 200 {
			name, extinf, ok := lastSegment(body)
			if ok && !bytes.Equal(name, last) {
				if last != nil {
					p.seen = append(p.seen, appearance{string(name), extinf, t1})
				}
				last = append(last[:0], name...)
				p.ready.Store(true)
			}
		}
		if p.interval > 0 {
			sl := unix.NsecToTimespec(int64(p.interval))
			unix.Nanosleep(&sl, nil)
		}
	}
	return nil
}

// readAnswer reads one HTTP/1.1 answer with a Content-Length into buf and
// returns its body and status code.
func readAnswer(fd int, buf []byte, stop *atomic.Bool) (body []byte, status int, err error) {
	have, hdr, want := 0, -1, -1
	for {
		if hdr >= 0 && have >= hdr+want {
			return buf[hdr : hdr+want], status, nil
		}
		if have == len(buf) {
			return nil, 0, errors.New("answer larger than the buffer")
		}
		n, err := unix.Read(fd, buf[have:])
		if err == unix.EAGAIN || err == unix.EINTR {
			if stop.Load() {
				return nil, 0, errors.New("stopped waiting for an answer")
			}
			continue
		}
		if err != nil {
			return nil, 0, err
		}
		if n == 0 {
			return nil, 0, errors.New("connection closed")
		}
		have += n
		if hdr < 0 {
			i := bytes.Index(buf[:have], []byte("\r\n\r\n"))
			if i < 0 {
				continue
			}
			head := buf[:i]
			if len(head) < 12 || !bytes.HasPrefix(head, []byte("HTTP/1.1 ")) {
				return nil, 0, errShortAnswer
			}
			status, err = strconv.Atoi(string(head[9:12]))
			if err != nil {
				return nil, 0, errShortAnswer
			}
			hdr, want = i+4, -1
			for line := range bytes.SplitSeq(head, []byte("\r\n")) {
				k, v, ok := bytes.Cut(line, []byte(":"))
				if ok && bytes.EqualFold(bytes.TrimSpace(k), []byte("Content-Length")) {
					if want, err = strconv.Atoi(string(bytes.TrimSpace(v))); err != nil {
						return nil, 0, errShortAnswer
					}
				}
			}
			if want < 0 {
				return nil, 0, errors.New("answer without Content-Length")
			}
		}
	}
}
