package hls

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Limits bound what clients can hold of the server: connections in all and
// per address, and how long a live reader may take nothing.
type Limits struct {
	// MaxConns is the most connections open at once over every listener
	// of the server; 0: no limit.
	MaxConns int
	// MaxConnsPerIP is the most connections open at once from one client
	// address; 0: no limit. An edge cache or a NAT is one address, so it
	// is set well above what one player opens.
	MaxConnsPerIP int
	// StallTimeout is how long a /mpegts reader may take no bytes before
	// it is closed and counted (a write of one buffer that does not finish
	// in that time).
	StallTimeout time.Duration
	// LiveSendBuffer is SO_SNDBUF of a /mpegts connection: what the kernel
	// may queue for one live reader. A reader that stops reading holds at
	// most this much (the kernel doubles it for its overhead).
	LiveSendBuffer int
	// ReadTimeout bounds the reading of a request, its first byte
	// included (an idle client, a slowloris: 408); IdleTimeout the wait for
	// the next request on a kept-alive connection. Zero: the defaults.
	ReadTimeout, IdleTimeout time.Duration
}

// DefaultLimits are the limits of a server whose config sets none.
var DefaultLimits = Limits{MaxConns: 20000, MaxConnsPerIP: 1000, StallTimeout: 10 * time.Second, LiveSendBuffer: 256 << 10,
	ReadTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second}

// Why a connection ended, for slabcast_http_connections_closed_total.
const (
	closedClient  = iota // the client closed it
	closedIdle           // it sent nothing within the read or idle timeout
	closedError          // the server answered an error it could not go on from (400, 408, 431, …)
	closedStalled        // a /mpegts reader took nothing for StallTimeout
	closedServer         // the server ended it: Connection: close, the end of a stream, shutdown
	numClosed
)

var closedReasons = [numClosed]string{"client", "idle", "error", "stalled", "server"}

// Why a connection was refused, for slabcast_http_connections_refused_total.
const (
	refusedTotal = iota // MaxConns were open
	refusedPerIP        // MaxConnsPerIP were open from the client's address
	numRefused
)

var refusedReasons = [numRefused]string{"max_connections", "max_connections_per_ip"}

// conns counts the server's connections and refuses those beyond its
// limits. One conns serves every listener of a server, so the limits hold
// over all of them.
type conns struct {
	s *Server

	mu    sync.Mutex
	open  int
	perIP map[netip.Addr]int

	closed  [numClosed]atomic.Uint64
	refused [numRefused]atomic.Uint64
	// refusing is how many refusals are being written; beyond maxRefusing
	// a refused connection is closed without an answer, so a flood cannot
	// make the server hold a goroutine for each connection it refuses.
	refusing atomic.Int32
	// answered holds the remote addresses of open connections whose
	// error handleError answered and logged, so that fasthttp's own line
	// about the same error is not written too.
	answered sync.Map
}

const maxRefusing = 64

// listener wraps ln so that every connection it accepts is counted and
// limited.
type listener struct {
	net.Listener
	c *conns
}

func (l listener) Accept() (net.Conn, error) {
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if tc := l.c.admit(nc); tc != nil {
			return tc, nil
		}
	}
}

// admit returns nc counted, or refuses it (answering 503) and returns nil.
func (c *conns) admit(nc net.Conn) *trackedConn {
	ip := remoteIP(nc)
	lim := c.s.limits
	c.mu.Lock()
	why := -1
	switch {
	case lim.MaxConns > 0 && c.open >= lim.MaxConns:
		why = refusedTotal
	case lim.MaxConnsPerIP > 0 && ip.IsValid() && c.perIP[ip] >= lim.MaxConnsPerIP:
		why = refusedPerIP
	default:
		c.open++
		if ip.IsValid() {
			c.perIP[ip]++
		}
	}
	c.mu.Unlock()
	if why >= 0 {
		c.refuse(nc, ip, why)
		return nil
	}
	return &trackedConn{Conn: nc, c: c, ip: ip}
}

// refusal is the whole answer to a connection over a limit: a client sees
// why, and when to try again.
var refusal = []byte("HTTP/1.1 503 Service Unavailable\r\n" +
	"Server: slabcast\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Retry-After: 1\r\n" +
	"Connection: close\r\n" +
	"Content-Length: 21\r\n\r\n" +
	"too many connections\n")

func (c *conns) refuse(nc net.Conn, ip netip.Addr, why int) {
	c.refused[why].Add(1)
	c.s.codes[503].Add(1)
	c.s.limited.Logf("refused "+refusedReasons[why]+" "+ip.String(), "http: connections refused ("+refusedReasons[why]+") from "+ip.String(),
		"http: refused a connection from %s: %s reached", ip, refusedReasons[why])
	if c.refusing.Add(1) > maxRefusing {
		c.refusing.Add(-1)
		nc.Close()
		return
	}
	go func() {
		defer c.refusing.Add(-1)
		defer nc.Close()
		// Answer, then read what the client sent until it closes: closing
		// with its request unread would reset the connection, and the
		// client might never see the answer.
		nc.SetDeadline(time.Now().Add(time.Second))
		if _, err := nc.Write(refusal); err != nil {
			return
		}
		if tc, ok := nc.(interface{ CloseWrite() error }); ok {
			tc.CloseWrite()
		}
		io.CopyN(io.Discard, nc, 64<<10)
	}()
}

// release uncounts a closed connection.
func (c *conns) release(tc *trackedConn, why int) {
	c.closed[why].Add(1)
	c.mu.Lock()
	c.open--
	if tc.ip.IsValid() {
		if n := c.perIP[tc.ip] - 1; n > 0 {
			c.perIP[tc.ip] = n
		} else {
			delete(c.perIP, tc.ip)
		}
	}
	c.mu.Unlock()
}

// Open returns the connections open now.
func (c *conns) Open() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.open
}

// trackedConn is an accepted connection that knows why it ended.
type trackedConn struct {
	net.Conn
	c  *conns
	ip netip.Addr

	once     sync.Once
	timedOut atomic.Bool // a read ended at its deadline
	eof      atomic.Bool // the client closed its side
	answered atomic.Bool // the server answered an error and closes
	stalled  atomic.Bool // a live reader took nothing for StallTimeout
}

func (tc *trackedConn) Read(b []byte) (int, error) {
	n, err := tc.Conn.Read(b)
	if err != nil {
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			tc.timedOut.Store(true)
		case err == io.EOF:
			tc.eof.Store(true)
		}
	}
	return n, err
}

func (tc *trackedConn) Close() error {
	err := tc.Conn.Close()
	tc.once.Do(func() {
		why := closedServer
		switch {
		case tc.stalled.Load():
			why = closedStalled
		case tc.answered.Load():
			why = closedError
		case tc.timedOut.Load():
			why = closedIdle
		case tc.eof.Load():
			why = closedClient
		}
		if why == closedError {
			tc.c.answered.Delete(tc.RemoteAddr().String())
		}
		tc.c.release(tc, why)
	})
	return err
}

// tcp returns the TCP connection under tc, if it is one.
func (tc *trackedConn) tcp() *net.TCPConn {
	t, _ := tc.Conn.(*net.TCPConn)
	return t
}

func remoteIP(nc net.Conn) netip.Addr {
	if a, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			return ip.Unmap()
		}
	}
	if ap, err := netip.ParseAddrPort(nc.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// appendMetrics writes the connection families of the exposition.
func (c *conns) appendMetrics(b []byte) []byte {
	b = header(b, "slabcast_http_connections", "gauge", "HTTP connections open now (/mpegts readers included).")
	b = appendPlain(b, "slabcast_http_connections", uint64(c.Open()))
	b = header(b, "slabcast_http_connections_closed_total", "counter",
		"HTTP connections closed, by why: client, idle (sent nothing in time), error (answered 4xx and closed), stalled (a /mpegts reader took nothing for http_stall_timeout), server.")
	for i := range c.closed {
		b = labelled(b, "slabcast_http_connections_closed_total", "reason", closedReasons[i], c.closed[i].Load())
	}
	b = header(b, "slabcast_http_connections_refused_total", "counter",
		"HTTP connections refused with 503 because a limit was reached (http_max_connections, http_max_connections_per_ip).")
	for i := range c.refused {
		b = labelled(b, "slabcast_http_connections_refused_total", "reason", refusedReasons[i], c.refused[i].Load())
	}
	return b
}
