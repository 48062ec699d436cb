package main

// slabcast feed: a PCR-paced MPEG-TS sender, like tsplay or multicat. The
// pacing and the seamless loop are package feed's; this file parses the
// command line and opens the socket.

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/slabcast/slabcast/feed"
)

const feedUsage = `usage: slabcast feed FILE.ts udp://HOST:PORT [--loop] [--iface NAME] [--ttl N]

Sends an MPEG-TS file as UDP, 7 packets (1316 bytes) a datagram, paced by
the PCR the way a live encoder would send it. HOST may be a unicast or a
multicast address; multicast goes out with loopback on, so a receiver on this
host gets it too. Stops at the end of the file, or on SIGINT/SIGTERM.

Options:
`

// feedOptions is the parsed command line.
type feedOptions struct {
	file, dest string
	loop       bool
	iface      string
	ttl        int
	ttlSet     bool
}

// parseFeedArgs parses the command line; flags may come before, between or
// after the two positional arguments. -h prints the usage to out and
// returns flag.ErrHelp.
func parseFeedArgs(args []string, out io.Writer) (feedOptions, error) {
	var o feedOptions
	fs := flag.NewFlagSet("feed", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.BoolVar(&o.loop, "loop", false, "replay the file forever, seamlessly (timestamps and continuity counters carry on)")
	fs.StringVar(&o.iface, "iface", "", "send multicast out of this interface (default: the route's)")
	fs.IntVar(&o.ttl, "ttl", 1, "multicast TTL (and unicast TTL when given)")
	fs.Usage = func() {
		fmt.Fprint(out, feedUsage)
		fs.PrintDefaults()
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return o, err
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "ttl" {
			o.ttlSet = true
		}
	})
	if len(pos) != 2 {
		fs.Usage()
		return o, fmt.Errorf("feed: want FILE.ts and udp://HOST:PORT, got %d arguments", len(pos))
	}
	if o.ttl < 0 || o.ttl > 255 {
		return o, fmt.Errorf("feed: --ttl %d: want 0..255", o.ttl)
	}
	o.file, o.dest = pos[0], pos[1]
	return o, nil
}

// runFeed is `slabcast feed`.
func runFeed(args []string) error {
	o, err := parseFeedArgs(args, os.Stderr)
	if err != nil {
		return err
	}
	clip, err := feed.LoadClip(o.file)
	if err != nil {
		return err
	}
	conn, err := dialFeed(o)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return feed.Send(ctx, conn, feed.NewLooper(clip, o.loop))
}

// parseFeedDest turns udp://HOST:PORT (also udp://@HOST:PORT) into an
// address.
func parseFeedDest(dest string) (*net.UDPAddr, error) {
	u, err := url.Parse(dest)
	if err != nil {
		return nil, fmt.Errorf("feed: destination %q: %w", dest, err)
	}
	if u.Scheme != "udp" || u.Opaque != "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, fmt.Errorf("feed: destination %q: want udp://HOST:PORT", dest)
	}
	host := u.Host // udp://@239.0.0.1:1234 (VLC style) parses as an empty user
	if u.User != nil && u.User.String() != "" {
		return nil, fmt.Errorf("feed: destination %q: want udp://HOST:PORT", dest)
	}
	h, port, err := net.SplitHostPort(host)
	if err != nil {
		return nil, fmt.Errorf("feed: destination %q: %w", dest, err)
	}
	if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
		return nil, fmt.Errorf("feed: destination %q: bad port %q", dest, port)
	}
	if h == "" {
		return nil, fmt.Errorf("feed: destination %q: no host", dest)
	}
	addr, err := net.ResolveUDPAddr("udp", host)
	if err != nil {
		return nil, fmt.Errorf("feed: destination %q: %w", dest, err)
	}
	return addr, nil
}

// dialFeed opens the sending socket. Multicast options are set before
// connect, so the route the kernel caches already uses them.
func dialFeed(o feedOptions) (*net.UDPConn, error) {
	addr, err := parseFeedDest(o.dest)
	if err != nil {
		return nil, err
	}
	mcast := addr.IP.IsMulticast()
	ifindex := 0
	if o.iface != "" {
		if !mcast {
			return nil, fmt.Errorf("feed: --iface applies to multicast destinations only, %s is unicast", addr.IP)
		}
		ifi, err := net.InterfaceByName(o.iface)
		if err != nil {
			return nil, fmt.Errorf("feed: --iface %s: %w", o.iface, err)
		}
		ifindex = ifi.Index
	}
	v4 := addr.IP.To4() != nil
	setOpts := func(fd int) error {
		switch {
		case mcast && v4:
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, o.ttl); err != nil {
				return fmt.Errorf("IP_MULTICAST_TTL: %w", err)
			}
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, 1); err != nil {
				return fmt.Errorf("IP_MULTICAST_LOOP: %w", err)
			}
			if ifindex != 0 {
				if err := unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, &unix.IPMreqn{Ifindex: int32(ifindex)}); err != nil {
					return fmt.Errorf("IP_MULTICAST_IF: %w", err)
				}
			}
		case mcast:
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_HOPS, o.ttl); err != nil {
				return fmt.Errorf("IPV6_MULTICAST_HOPS: %w", err)
			}
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_LOOP, 1); err != nil {
				return fmt.Errorf("IPV6_MULTICAST_LOOP: %w", err)
			}
			if ifindex != 0 {
				if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_IF, ifindex); err != nil {
					return fmt.Errorf("IPV6_MULTICAST_IF: %w", err)
				}
			}
		case o.ttlSet && v4:
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TTL, o.ttl); err != nil {
				return fmt.Errorf("IP_TTL: %w", err)
			}
		case o.ttlSet:
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, o.ttl); err != nil {
				return fmt.Errorf("IPV6_UNICAST_HOPS: %w", err)
			}
		}
		return nil
	}
	d := net.Dialer{Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) { serr = setOpts(int(fd)) }); err != nil {
			return err
		}
		return serr
	}}
	c, err := d.Dial("udp", addr.String())
	if err != nil {
		return nil, fmt.Errorf("feed: %s: %w", o.dest, err)
	}
	return c.(*net.UDPConn), nil
}
