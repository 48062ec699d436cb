package fanout

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// readBuffer is each client's read size: slabcast writes up to 64 KiB at a
// time per connection.
const readBuffer = 64 << 10

// client reads one /NAME/mpegts connection to its end, counting body bytes.
type client struct {
	conn  net.Conn
	bytes atomic.Uint64
	dead  atomic.Bool
	_     [40]byte // keep clients' counters on separate cache lines
}

// clients is a growing set of /mpegts readers of one URL.
type clients struct {
	addr, path string
	mu         sync.Mutex
	list       []*client
	wg         sync.WaitGroup
}

// grow connects clients until there are k, dialing at most 64 at once.
// The headers are read before it returns.
func (cs *clients) grow(ctx context.Context, k int) error {
	cs.mu.Lock()
	n := len(cs.list)
	cs.mu.Unlock()
	sem := make(chan struct{}, 64)
	errs := make(chan error, k)
	var wg sync.WaitGroup
	for range max(0, k-n) {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, first, err := cs.dial(ctx)
			if err != nil {
				errs <- err
				return
			}
			c.bytes.Add(uint64(len(first)))
			cs.mu.Lock()
			cs.list = append(cs.list, c)
			cs.mu.Unlock()
			cs.wg.Go(func() { c.read() })
		})
	}
	wg.Wait()
	close(errs)
	return <-errs // nil when none failed
}

// dial connects, asks for the stream and reads the response header; it
// returns the body bytes read with it.
func (cs *clients) dial(ctx context.Context) (*client, []byte, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", cs.addr)
	if err != nil {
		return nil, nil, fmt.Errorf("fanout: dial %s: %w", cs.addr, err)
	}
	fail := func(err error) (*client, []byte, error) {
		conn.Close()
		return nil, nil, err
	}
	conn.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: slabbench-fanout\r\n\r\n", cs.path, cs.addr); err != nil {
		return fail(fmt.Errorf("fanout: request: %w", err))
	}
	buf := make([]byte, 0, 4096)
	for {
		if len(buf) == cap(buf) {
			return fail(fmt.Errorf("fanout: response header longer than %d bytes", cap(buf)))
		}
		n, err := conn.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if i := bytes.Index(buf, []byte("\r\n\r\n")); i >= 0 {
			if !bytes.HasPrefix(buf, []byte("HTTP/1.1 200 ")) {
				line, _, _ := bytes.Cut(buf, []byte("\r\n"))
				return fail(fmt.Errorf("fanout: GET %s: %q", cs.path, line))
			}
			conn.SetDeadline(time.Time{})
			return &client{conn: conn}, bytes.Clone(buf[i+4:]), nil
		}
		if err != nil {
			return fail(fmt.Errorf("fanout: response header: %w", err))
		}
	}
}

// read counts the body until the connection ends.
func (c *client) read() {
	buf := make([]byte, readBuffer)
	for {
		n, err := c.conn.Read(buf)
		c.bytes.Add(uint64(n))
		if err != nil { // io.EOF included: the stream is endless
			c.dead.Store(true)
			return
		}
	}
}

// sample is one client's state at an instant.
type sample struct {
	bytes uint64
	dead  bool
}

// samples returns each client's byte count and state, in connection order.
func (cs *clients) samples(dst []sample) []sample {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	dst = dst[:0]
	for _, c := range cs.list {
		dst = append(dst, sample{c.bytes.Load(), c.dead.Load()})
	}
	return dst
}

// close ends every connection and waits for the readers.
func (cs *clients) close() {
	cs.mu.Lock()
	for _, c := range cs.list {
		c.conn.Close()
	}
	cs.list = nil
	cs.mu.Unlock()
	cs.wg.Wait()
}
