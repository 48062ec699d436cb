package latency

import (
	"bytes"
	"fmt"
	"net/netip"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// relay is the baseline for /mpegts: udpxy's core in a few lines. One
// thread, pinned to the daemon's core, reads each datagram of a group with
// a blocking recv and writes it to the one HTTP client with a blocking
// send, nothing buffered, nothing parsed: the floor any UDP-to-HTTP server
// on this machine pays.
type relay struct {
	udp, ln int
	addr    netip.AddrPort // where the HTTP side listens
	stop    atomic.Bool
}

// newRelay joins group and listens for HTTP on 127.0.0.1.
func newRelay(group netip.AddrPort) (*relay, error) {
	r := &relay{udp: -1, ln: -1}
	fail := func(what string, err error) (*relay, error) {
		r.close()
		return nil, fmt.Errorf("latency: relay %s: %w", what, err)
	}
	var err error
	tv := unix.NsecToTimeval(int64(readTimeout))
	if r.udp, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP); err != nil {
		return fail("socket", err)
	}
	unix.SetsockoptInt(r.udp, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	unix.SetsockoptInt(r.udp, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	if err := unix.SetsockoptTimeval(r.udp, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fail("SO_RCVTIMEO", err)
	}
	if err := unix.Bind(r.udp, &unix.SockaddrInet4{Port: int(group.Port()), Addr: group.Addr().As4()}); err != nil {
		return fail("bind", err)
	}
	mreq := &unix.IPMreq{Multiaddr: group.Addr().As4()}
	if err := unix.SetsockoptIPMreq(r.udp, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, mreq); err != nil {
		return fail("join", err)
	}
	if r.ln, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0); err != nil {
		return fail("listen socket", err)
	}
	unix.SetsockoptInt(r.ln, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	if err := unix.SetsockoptTimeval(r.ln, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fail("SO_RCVTIMEO", err)
	}
	if err := unix.Bind(r.ln, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return fail("bind", err)
	}
	if err := unix.Listen(r.ln, 4); err != nil {
		return fail("listen", err)
	}
	sa, err := unix.Getsockname(r.ln)
	if err != nil {
		return fail("getsockname", err)
	}
	r.addr = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(sa.(*unix.SockaddrInet4).Port))
	return r, nil
}

func (r *relay) close() {
	if r.udp >= 0 {
		unix.Close(r.udp)
	}
	if r.ln >= 0 {
		unix.Close(r.ln)
	}
}

var relayHeader = []byte("HTTP/1.1 200 OK\r\nContent-Type: video/mp2t\r\nConnection: close\r\n\r\n")

// serve accepts one client and relays to it until stop; on the calling
// (pinned) thread.
func (r *relay) serve() error {
	var c int
	for {
		nfd, _, err := unix.Accept4(r.ln, unix.SOCK_CLOEXEC)
		if err == nil {
			c = nfd
			break
		}
		if err != unix.EAGAIN && err != unix.EINTR {
			return fmt.Errorf("latency: relay accept: %w", err)
		}
		if r.stop.Load() {
			return nil
		}
	}
	defer unix.Close(c)
	unix.SetsockoptInt(c, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	req := make([]byte, 0, 4096)
	buf := make([]byte, 64<<10)
	for !bytes.Contains(req, []byte("\r\n\r\n")) {
		n, err := unix.Read(c, buf)
		if err != nil || n == 0 {
			return fmt.Errorf("latency: relay: reading the request: %v", err)
		}
		req = append(req, buf[:n]...)
	}
	if err := writeAll(c, relayHeader); err != nil {
		return fmt.Errorf("latency: relay: %w", err)
	}
	for !r.stop.Load() {
		n, err := unix.Read(r.udp, buf)
		if err == unix.EAGAIN || err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("latency: relay recv: %w", err)
		}
		if err := writeAll(c, buf[:n]); err != nil {
			return fmt.Errorf("latency: relay send: %w", err)
		}
	}
	return nil
}
