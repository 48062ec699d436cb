package nic

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Source is a parsed udp:// or rtp:// input URL (docs/SPEC.md §3):
//
//	udp://GROUP:PORT                multicast, joined on the interface the route to GROUP uses
//	udp://GROUP:PORT/IFACE_IP       joined on the interface owning IFACE_IP
//	udp://IFACE@GROUP:PORT          joined on the interface named IFACE
//	udp://@GROUP:PORT               same as udp://GROUP:PORT (VLC's spelling)
//	udp://GROUP:PORT?source=SRC_IP  source-specific multicast (IGMPv3 join)
//	udp://HOST:PORT, udp://:PORT    unicast bind
//
// udp2:// and mpts-udp:// are read as udp://. rtp:// takes every form udp:// does and opens the same socket; it only sets
// RTP, telling the receiver that each datagram is MPEG-TS behind an RTP
// header (RFC 2250), to be depacketized with an RTPReceiver.
//
// Only IPv4 is supported. The zero Source is not valid; make one with
// ParseURL.
type Source struct {
	Addr      netip.AddrPort // group, or local unicast address (0.0.0.0 for udp://:PORT)
	Multicast bool           // Addr is a multicast group
	Iface     string         // interface name, "" if none named
	IfaceAddr netip.Addr     // interface address, invalid if none named
	SSM       netip.Addr     // source for source-specific multicast, invalid for any-source
	RTP       bool           // rtp://: datagrams are RTP packets carrying MPEG-TS
}

// URLError reports a udp:// or rtp:// URL that ParseURL refused.
type URLError struct {
	URL string // the input, as given
	Err error  // what is wrong
}

func (e *URLError) Error() string { return "nic: " + e.URL + ": " + e.Err.Error() }

func (e *URLError) Unwrap() error { return e.Err }

// ErrIPv6 is wrapped in the URLError for an IPv6 address.
var ErrIPv6 = errors.New("IPv6 is not supported (IPv4 only)")

// maxIfaceName is IFNAMSIZ-1, the longest Linux interface name.
const maxIfaceName = 15

// ParseURL parses a udp:// or rtp:// input URL. Errors are *URLError and
// say what is wrong, e.g. "nic: udp://239.0.0.1: missing port".
func ParseURL(s string) (Source, error) {
	var src Source
	fail := func(format string, args ...any) (Source, error) {
		return Source{}, &URLError{URL: s, Err: fmt.Errorf(format, args...)}
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return fail("missing udp:// or rtp:// scheme")
	}
	switch {
	case strings.EqualFold(scheme, "udp"), strings.EqualFold(scheme, "udp2"), strings.EqualFold(scheme, "mpts-udp"):
		// udp2:// and mpts-udp:// are Flussonic's other spellings of udp://
		// (the second for a multi-program input, with program=).
	case strings.EqualFold(scheme, "rtp"):
		src.RTP = true
	default:
		return fail("unsupported scheme %q (only udp:// and rtp://)", scheme)
	}
	if strings.ContainsAny(rest, "#") {
		return fail("unexpected fragment (#)")
	}
	rest, query, hasQuery := strings.Cut(rest, "?")
	hostport, path, hasPath := strings.Cut(rest, "/")
	if i := strings.IndexByte(hostport, '@'); i >= 0 {
		src.Iface, hostport = hostport[:i], hostport[i+1:]
		if err := checkIfaceName(src.Iface); err != nil {
			return fail("%w", err)
		}
	}
	if strings.HasPrefix(hostport, "[") {
		return fail("%w", ErrIPv6)
	}
	i := strings.LastIndexByte(hostport, ':')
	if i < 0 {
		return fail("missing port")
	}
	host, portStr := hostport[:i], hostport[i+1:]
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 || portStr[0] == '+' {
		return fail("bad port %q (want 1-65535)", portStr)
	}
	addr := netip.IPv4Unspecified()
	if host != "" {
		if addr, err = parseIPv4(host); err != nil {
			return fail("address %w", err)
		}
	}
	src.Addr = netip.AddrPortFrom(addr, uint16(port))
	src.Multicast = addr.IsMulticast()
	if hasPath {
		if path == "" {
			return fail("empty interface address after /")
		}
		if src.IfaceAddr, err = parseIPv4(path); err != nil {
			return fail("interface address %w", err)
		}
		if src.IfaceAddr.IsMulticast() || src.IfaceAddr.IsUnspecified() {
			return fail("interface address %s is not a unicast address", src.IfaceAddr)
		}
		if src.Iface != "" {
			return fail("names the interface twice (%s@ and /%s)", src.Iface, src.IfaceAddr)
		}
	}
	if hasQuery {
		for _, kv := range strings.Split(query, "&") {
			key, val, _ := strings.Cut(kv, "=")
			if key != "source" {
				return fail("unknown query parameter %q (only source=)", key)
			}
			if src.SSM.IsValid() {
				return fail("source= given twice")
			}
			if val == "" {
				return fail("empty source=")
			}
			if src.SSM, err = parseIPv4(val); err != nil {
				return fail("source %w", err)
			}
			if src.SSM.IsMulticast() || src.SSM.IsUnspecified() {
				return fail("source %s is not a unicast address", src.SSM)
			}
		}
	}
	if !src.Multicast {
		switch {
		case src.SSM.IsValid():
			return fail("source= needs a multicast group, %s is unicast", addr)
		case src.Iface != "" || src.IfaceAddr.IsValid():
			return fail("an interface can only be chosen for a multicast group, %s is unicast", addr)
		}
	}
	return src, nil
}

// parseIPv4 parses a dotted-quad IPv4 address; its errors read well after
// a noun ("address", "source", ...).
func parseIPv4(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		if strings.Contains(s, ":") {
			return netip.Addr{}, fmt.Errorf("%q: %w", s, ErrIPv6)
		}
		return netip.Addr{}, fmt.Errorf("%q is not an IPv4 address", s)
	}
	if !a.Is4() {
		return netip.Addr{}, fmt.Errorf("%s: %w", s, ErrIPv6)
	}
	return a, nil
}

// checkIfaceName accepts what Linux's dev_valid_name accepts, minus the
// characters that would make the URL ambiguous. "" (udp://@GROUP:PORT)
// means no interface.
func checkIfaceName(name string) error {
	if len(name) > maxIfaceName {
		return fmt.Errorf("interface name %q longer than %d bytes", name, maxIfaceName)
	}
	if name == "." || name == ".." {
		return fmt.Errorf("bad interface name %q", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("/:@?#%[]", c) >= 0 {
			return fmt.Errorf("bad interface name %q", name)
		}
	}
	return nil
}

// String returns the canonical URL, which ParseURL parses back to s.
func (s Source) String() string {
	var b strings.Builder
	if s.RTP {
		b.WriteString("rtp://")
	} else {
		b.WriteString("udp://")
	}
	if s.Iface != "" {
		b.WriteString(s.Iface)
		b.WriteByte('@')
	}
	if !s.Addr.Addr().IsUnspecified() {
		b.WriteString(s.Addr.Addr().String())
	}
	b.WriteByte(':')
	b.WriteString(strconv.Itoa(int(s.Addr.Port())))
	if s.IfaceAddr.IsValid() {
		b.WriteByte('/')
		b.WriteString(s.IfaceAddr.String())
	}
	if s.SSM.IsValid() {
		b.WriteString("?source=")
		b.WriteString(s.SSM.String())
	}
	return b.String()
}
