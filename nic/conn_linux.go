package nic

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Conn is a non-blocking UDP socket receiving one Source, or (ListenShared)
// several multicast groups on one port.
type Conn struct {
	fd     atomic.Int32 // -1 once closed
	src    Source
	shared bool
	member bool          // holds memberships only (ListenMembership): any group, any port
	rcvbuf int           // effective SO_RCVBUF as the kernel reported it after Listen
	drops  atomic.Uint32 // last SO_RXQ_OVFL count seen
}

// Listen opens a non-blocking UDP socket for src:
//
//   - SO_REUSEADDR, so several streams (and tests) share a port on different
//     groups;
//   - for multicast, IP_MULTICAST_ALL=0 and a bind to the group address, so
//     the socket sees only its own group even when other sockets on the host
//     joined others on the same port; then the join: IP_ADD_MEMBERSHIP
//     (ip_mreqn) for any-source, IP_ADD_SOURCE_MEMBERSHIP for ?source=;
//   - the receive buffer: SO_RCVBUFFORCE when permitted (CAP_NET_ADMIN), else
//     SO_RCVBUF, with a warning through opt.Logf naming net.core.rmem_max
//     when the kernel grants less than requested;
//   - SO_RXQ_OVFL, so each datagram carries the socket's drop count.
func Listen(src Source, opt Options) (*Conn, error) {
	return listen(src, opt, true)
}

// ListenShared opens a socket that many multicast groups on src's port and
// interface share, so that one recvmmsg carries datagrams of many streams:
// with hundreds of low-rate channels, a socket each costs a system call per
// datagram. It is Listen's socket with two differences: it binds to the
// port on every address (IP_MULTICAST_ALL=0 still keeps out the groups it
// did not join), and it sets IP_PKTINFO, so Batch.Dst names each
// datagram's group, instead of SO_RXQ_OVFL: Drops stays 0, and the socket's
// drop counter is read with getsockopt (bpf.SocketDrops). It joins src;
// Join and Leave add and drop more groups. Unicast datagrams to the port
// reach it too: their Dst is no group.
func ListenShared(src Source, opt Options) (*Conn, error) {
	if !src.Multicast {
		return nil, fmt.Errorf("nic: listen shared %s: not a multicast group", src)
	}
	return listenOpt(src, opt, true, true)
}

// listen is Listen with the privileged SO_RCVBUFFORCE path optional, so
// tests can exercise the unprivileged one as root.
func listen(src Source, opt Options, tryForce bool) (*Conn, error) {
	return listenOpt(src, opt, tryForce, false)
}

func listenOpt(src Source, opt Options, tryForce, shared bool) (*Conn, error) {
	if !src.Addr.Addr().Is4() || src.Addr.Port() == 0 {
		return nil, fmt.Errorf("nic: listen %s: not a parsed IPv4 source (use ParseURL)", src)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return nil, fmt.Errorf("nic: listen %s: socket: %w", src, err)
	}
	c := &Conn{src: src, shared: shared}
	c.fd.Store(int32(fd))
	if err := c.setup(fd, opt, tryForce); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("nic: listen %s: %w", src, err)
	}
	return c, nil
}

func (c *Conn) setup(fd int, opt Options, tryForce bool) error {
	src := c.src
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fmt.Errorf("SO_REUSEADDR: %w", err)
	}
	// A shared socket's drop count is read whole on a tick (its groups'
	// shares come from the filter), so its datagrams need not carry it.
	if !c.shared {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 1); err != nil {
			return fmt.Errorf("SO_RXQ_OVFL: %w", err)
		}
	}
	if src.Multicast {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, 0); err != nil {
			return fmt.Errorf("IP_MULTICAST_ALL: %w", err)
		}
	}
	if c.shared {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_PKTINFO, 1); err != nil {
			return fmt.Errorf("IP_PKTINFO: %w", err)
		}
	}
	want := opt.recvBuffer()
	got, err := setRecvBuffer(fd, want, tryForce)
	if err != nil {
		return err
	}
	c.rcvbuf = got
	if recvBufferCapped(want, got) {
		opt.logf("nic: %s: receive buffer capped by the kernel: asked %d bytes, got %d (the kernel reports double); "+
			"raise net.core.rmem_max to at least %d or run with CAP_NET_ADMIN", src, want, got, want)
	}
	if opt.Control != nil {
		if err := opt.Control(fd); err != nil {
			return err
		}
	}
	sa := &unix.SockaddrInet4{Port: int(src.Addr.Port()), Addr: src.Addr.Addr().As4()}
	if c.shared {
		sa.Addr = [4]byte{} // every address: the joins choose the groups
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fmt.Errorf("bind %s: %w", netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), src.Addr.Port()), err)
	}
	if src.Multicast {
		return membership(fd, src, true)
	}
	return nil
}

// Join adds src's group (and source, for a source-specific src) to a socket
// opened by ListenShared (src on the socket's port) or ListenMembership
// (any port); which interface
// it names is up to the caller (the kernel delivers a group joined on any
// interface). Join must not race with Close.
func (c *Conn) Join(src Source) error {
	if err := c.checkShared(src); err != nil {
		return err
	}
	if err := membership(c.Fd(), src, true); err != nil {
		if errors.Is(err, unix.ENOBUFS) {
			return fmt.Errorf("nic: %w: %w", ErrGroupLimit, err)
		}
		return fmt.Errorf("nic: %w", err)
	}
	return nil
}

// Leave drops what Join (or ListenShared) added for src. Datagrams of the
// group already queued stay queued.
func (c *Conn) Leave(src Source) error {
	if err := c.checkShared(src); err != nil {
		return err
	}
	if err := membership(c.Fd(), src, false); err != nil {
		return fmt.Errorf("nic: %w", err)
	}
	return nil
}

func (c *Conn) checkShared(src Source) error {
	switch {
	case c.member && src.Multicast:
		return nil
	case !c.shared:
		return fmt.Errorf("nic: %s: not a shared socket (ListenShared)", c.src)
	case !src.Multicast || src.Addr.Port() != c.src.Addr.Port():
		return fmt.Errorf("nic: %s: not a multicast group on port %d", src, c.src.Addr.Port())
	}
	return nil
}

// SetRecvBuffer asks for a receive buffer of n bytes, as Listen does
// (SO_RCVBUFFORCE when permitted, else SO_RCVBUF capped by rmem_max), and
// returns what the kernel reports (twice what it granted). A shared
// socket's buffer grows with its groups, so each keeps as much time of
// buffer as a socket of its own would have.
func (c *Conn) SetRecvBuffer(n int) (int, error) {
	got, err := setRecvBuffer(c.Fd(), n, true)
	if err != nil {
		return 0, fmt.Errorf("nic: %s: %w", c.src, err)
	}
	c.rcvbuf = got
	return got, nil
}

// Shared reports whether the Conn came from ListenShared.
func (c *Conn) Shared() bool { return c.shared }

// setRecvBuffer asks for want bytes and returns what the kernel reports.
func setRecvBuffer(fd, want int, tryForce bool) (int, error) {
	forced := false
	if tryForce {
		err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, want)
		switch {
		case err == nil:
			forced = true
		case !errors.Is(err, unix.EPERM):
			return 0, fmt.Errorf("SO_RCVBUFFORCE %d: %w", want, err)
		}
	}
	if !forced {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, want); err != nil {
			return 0, fmt.Errorf("SO_RCVBUF %d: %w", want, err)
		}
	}
	got, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF)
	if err != nil {
		return 0, fmt.Errorf("get SO_RCVBUF: %w", err)
	}
	return got, nil
}

// recvBufferCapped reports whether the kernel granted less than wanted.
// Linux doubles the requested size (the extra half is bookkeeping
// overhead) and reports the doubled value, so a full grant reads as at
// least 2*want; SO_RCVBUF alone is capped at net.core.rmem_max before
// doubling.
func recvBufferCapped(want, reported int) bool {
	return reported/2 < want
}

// membership adds (or drops) the multicast membership for src on fd.
func membership(fd int, src Source, add bool) error {
	group := src.Addr.Addr().As4()
	var ifindex int
	ifaddr := [4]byte{}
	if src.IfaceAddr.IsValid() {
		ifaddr = src.IfaceAddr.As4()
	}
	if src.Iface != "" {
		ifi, err := net.InterfaceByName(src.Iface)
		if err != nil {
			return fmt.Errorf("interface %q: %w", src.Iface, err)
		}
		ifindex = ifi.Index
		if src.SSM.IsValid() {
			// ip_mreq_source names the interface by address only.
			a, err := ifaceIPv4(ifi)
			if err != nil {
				return err
			}
			ifaddr = a
		}
	}
	verb, opt, optName := "join", unix.IP_ADD_MEMBERSHIP, "IP_ADD_MEMBERSHIP"
	if !add {
		verb, opt, optName = "leave", unix.IP_DROP_MEMBERSHIP, "IP_DROP_MEMBERSHIP"
	}
	if !src.SSM.IsValid() {
		mreq := unix.IPMreqn{Multiaddr: group, Address: ifaddr, Ifindex: int32(ifindex)}
		if err := unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, opt, &mreq); err != nil {
			return fmt.Errorf("%s %s%s: %s: %w", verb, src.Addr.Addr(), onIface(src), optName, err)
		}
		return nil
	}
	opt, optName = unix.IP_ADD_SOURCE_MEMBERSHIP, "IP_ADD_SOURCE_MEMBERSHIP"
	if !add {
		opt, optName = unix.IP_DROP_SOURCE_MEMBERSHIP, "IP_DROP_SOURCE_MEMBERSHIP"
	}
	// struct ip_mreq_source from <linux/in.h>: three in_addr in this order.
	mreq := struct{ multiaddr, iface, source [4]byte }{group, ifaddr, src.SSM.As4()}
	_, _, errno := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.IPPROTO_IP, uintptr(opt),
		uintptr(unsafe.Pointer(&mreq)), unsafe.Sizeof(mreq), 0)
	if errno != 0 {
		return fmt.Errorf("%s %s source %s%s: %s: %w", verb, src.Addr.Addr(), src.SSM, onIface(src), optName, errno)
	}
	return nil
}

func onIface(src Source) string {
	switch {
	case src.Iface != "":
		return " on " + src.Iface
	case src.IfaceAddr.IsValid():
		return " on " + src.IfaceAddr.String()
	}
	return ""
}

// ifaceIPv4 returns the first IPv4 address of ifi.
func ifaceIPv4(ifi *net.Interface) ([4]byte, error) {
	addrs, err := ifi.Addrs()
	if err != nil {
		return [4]byte{}, fmt.Errorf("interface %q addresses: %w", ifi.Name, err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if v4 := n.IP.To4(); v4 != nil {
				return [4]byte(v4), nil
			}
		}
	}
	return [4]byte{}, fmt.Errorf("interface %q has no IPv4 address for a source-specific join", ifi.Name)
}

// Fd returns the socket's file descriptor, -1 after Close. The Conn keeps
// ownership; do not close it.
func (c *Conn) Fd() int { return int(c.fd.Load()) }

// Source returns what the Conn was opened for.
func (c *Conn) Source() Source { return c.src }

// RecvBuffer returns the effective receive buffer in bytes as the kernel
// reported it (getsockopt SO_RCVBUF) when the socket was opened: twice the
// size granted.
func (c *Conn) RecvBuffer() int { return c.rcvbuf }

// Drops returns the kernel's cumulative count of datagrams dropped because
// this socket's receive queue was full (SO_RXQ_OVFL), as of the newest
// datagram ReadBatch returned: the kernel stamps each datagram with the
// count when it is queued, so drops after the last queued datagram show
// with the next one. 0 until a datagram carried a non-zero count. The
// counter is 32-bit and wraps; subtract successive values as uint32.
func (c *Conn) Drops() uint32 { return c.drops.Load() }

// Close closes the socket, which leaves its multicast group. It is
// idempotent; calls after the first return nil.
func (c *Conn) Close() error {
	fd := c.fd.Swap(-1)
	if fd < 0 {
		return nil
	}
	if err := unix.Close(int(fd)); err != nil {
		return fmt.Errorf("nic: close %s: %w", c.src, err)
	}
	return nil
}
