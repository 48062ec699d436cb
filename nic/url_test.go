package nic

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	a := netip.MustParseAddr
	ap := netip.MustParseAddrPort
	ok := func(in string, want Source, canon string) {
		t.Helper()
		got, err := ParseURL(in)
		if err != nil {
			t.Fatalf("ParseURL(%q): %v", in, err)
		}
		if got != want {
			t.Fatalf("ParseURL(%q) = %+v, want %+v", in, got, want)
		}
		if s := got.String(); s != canon {
			t.Fatalf("ParseURL(%q).String() = %q, want %q", in, s, canon)
		}
	}
	ok("udp://239.0.0.1:1234", Source{Addr: ap("239.0.0.1:1234"), Multicast: true}, "udp://239.0.0.1:1234")
	ok("UDP://239.0.0.1:1234", Source{Addr: ap("239.0.0.1:1234"), Multicast: true}, "udp://239.0.0.1:1234")
	ok("udp://@239.0.0.1:1234", Source{Addr: ap("239.0.0.1:1234"), Multicast: true}, "udp://239.0.0.1:1234")
	ok("udp://239.0.0.1:1234/10.0.0.5", Source{Addr: ap("239.0.0.1:1234"), Multicast: true, IfaceAddr: a("10.0.0.5")}, "udp://239.0.0.1:1234/10.0.0.5")
	ok("udp://eth0@239.0.0.1:1234", Source{Addr: ap("239.0.0.1:1234"), Multicast: true, Iface: "eth0"}, "udp://eth0@239.0.0.1:1234")
	ok("udp://eth0.100@239.0.0.1:1234", Source{Addr: ap("239.0.0.1:1234"), Multicast: true, Iface: "eth0.100"}, "udp://eth0.100@239.0.0.1:1234")
	ok("udp://232.1.1.1:5000?source=10.1.1.1", Source{Addr: ap("232.1.1.1:5000"), Multicast: true, SSM: a("10.1.1.1")}, "udp://232.1.1.1:5000?source=10.1.1.1")
	ok("udp://eth1@232.1.1.1:5000?source=10.1.1.1", Source{Addr: ap("232.1.1.1:5000"), Multicast: true, Iface: "eth1", SSM: a("10.1.1.1")}, "udp://eth1@232.1.1.1:5000?source=10.1.1.1")
	ok("udp://232.1.1.1:5000/192.168.0.2?source=10.1.1.1", Source{Addr: ap("232.1.1.1:5000"), Multicast: true, IfaceAddr: a("192.168.0.2"), SSM: a("10.1.1.1")}, "udp://232.1.1.1:5000/192.168.0.2?source=10.1.1.1")
	ok("udp://127.0.0.1:9000", Source{Addr: ap("127.0.0.1:9000")}, "udp://127.0.0.1:9000")
	ok("udp://:9000", Source{Addr: ap("0.0.0.0:9000")}, "udp://:9000")
	ok("udp://0.0.0.0:9000", Source{Addr: ap("0.0.0.0:9000")}, "udp://:9000")
	ok("udp://239.0.0.1:65535", Source{Addr: ap("239.0.0.1:65535"), Multicast: true}, "udp://239.0.0.1:65535")
	ok("udp://239.0.0.1:1", Source{Addr: ap("239.0.0.1:1"), Multicast: true}, "udp://239.0.0.1:1")
	ok("rtp://239.0.0.1:1234", Source{Addr: ap("239.0.0.1:1234"), Multicast: true, RTP: true}, "rtp://239.0.0.1:1234")
	// Flussonic's other spellings of udp://.
	ok("udp2://239.0.0.1:1234", Source{Addr: ap("239.0.0.1:1234"), Multicast: true}, "udp://239.0.0.1:1234")
	ok("mpts-udp://239.0.0.1:1234", Source{Addr: ap("239.0.0.1:1234"), Multicast: true}, "udp://239.0.0.1:1234")
	ok("RTP://239.0.0.1:1234", Source{Addr: ap("239.0.0.1:1234"), Multicast: true, RTP: true}, "rtp://239.0.0.1:1234")
	ok("rtp://@239.0.0.1:1234", Source{Addr: ap("239.0.0.1:1234"), Multicast: true, RTP: true}, "rtp://239.0.0.1:1234")
	ok("rtp://239.0.0.1:1234/10.0.0.5", Source{Addr: ap("239.0.0.1:1234"), Multicast: true, IfaceAddr: a("10.0.0.5"), RTP: true}, "rtp://239.0.0.1:1234/10.0.0.5")
	ok("rtp://eth0@239.0.0.1:1234", Source{Addr: ap("239.0.0.1:1234"), Multicast: true, Iface: "eth0", RTP: true}, "rtp://eth0@239.0.0.1:1234")
	ok("rtp://eth1@232.1.1.1:5000?source=10.1.1.1", Source{Addr: ap("232.1.1.1:5000"), Multicast: true, Iface: "eth1", SSM: a("10.1.1.1"), RTP: true}, "rtp://eth1@232.1.1.1:5000?source=10.1.1.1")
	ok("rtp://232.1.1.1:5000/192.168.0.2?source=10.1.1.1", Source{Addr: ap("232.1.1.1:5000"), Multicast: true, IfaceAddr: a("192.168.0.2"), SSM: a("10.1.1.1"), RTP: true}, "rtp://232.1.1.1:5000/192.168.0.2?source=10.1.1.1")
	ok("rtp://127.0.0.1:9000", Source{Addr: ap("127.0.0.1:9000"), RTP: true}, "rtp://127.0.0.1:9000")
	ok("rtp://:9000", Source{Addr: ap("0.0.0.0:9000"), RTP: true}, "rtp://:9000")

	bad := func(in, wantErr string) {
		t.Helper()
		_, err := ParseURL(in)
		if err == nil {
			t.Fatalf("ParseURL(%q) succeeded, want error containing %q", in, wantErr)
		}
		var ue *URLError
		if !errors.As(err, &ue) || ue.URL != in {
			t.Fatalf("ParseURL(%q) error %v is not a *URLError for the input", in, err)
		}
		if !strings.HasPrefix(err.Error(), "nic: "+in+": ") || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("ParseURL(%q) error %q, want \"nic: %s: ...%s...\"", in, err, in, wantErr)
		}
	}
	bad("239.0.0.1:1234", "missing udp:// or rtp:// scheme")
	bad("http://239.0.0.1:1234", `unsupported scheme "http" (only udp:// and rtp://)`)
	bad("rtsp://239.0.0.1:1234", `unsupported scheme "rtsp"`)
	bad("srt://239.0.0.1:1234", `unsupported scheme "srt"`)
	bad("rtp://239.0.0.1", "missing port")
	bad("rtp://127.0.0.1:1234?source=10.0.0.1", "source= needs a multicast group")
	bad("rtp://eth0@127.0.0.1:1234", "an interface can only be chosen for a multicast group")
	bad("rtp://239.0.0.1:1234?ttl=3", `unknown query parameter "ttl"`)
	bad("udp://239.0.0.1", "missing port")
	bad("udp://239.0.0.1:", `bad port ""`)
	bad("udp://239.0.0.1:0", `bad port "0"`)
	bad("udp://239.0.0.1:65536", `bad port "65536"`)
	bad("udp://239.0.0.1:-1", `bad port "-1"`)
	bad("udp://239.0.0.1:+80", `bad port "+80"`)
	bad("udp://239.0.0.1:12ab", `bad port "12ab"`)
	bad("udp://239.0.0.300:1234", `address "239.0.0.300" is not an IPv4 address`)
	bad("udp://example.com:1234", `address "example.com" is not an IPv4 address`)
	bad("udp://239.0.0.01:1234", `is not an IPv4 address`)
	bad("udp://[ff02::1]:1234", "IPv6 is not supported")
	bad("udp://ff02::1:1234", "IPv6 is not supported")
	bad("udp://::ffff:239.0.0.1:1234", "IPv6 is not supported")
	bad("udp://239.0.0.1:1234?source=fe80::1", "IPv6 is not supported")
	bad("udp://127.0.0.1:1234?source=10.0.0.1", "source= needs a multicast group")
	bad("udp://:1234?source=10.0.0.1", "source= needs a multicast group")
	bad("udp://eth0@127.0.0.1:1234", "an interface can only be chosen for a multicast group")
	bad("udp://127.0.0.1:1234/127.0.0.1", "an interface can only be chosen for a multicast group")
	bad("udp://239.0.0.1:1234?ttl=3", `unknown query parameter "ttl"`)
	bad("udp://239.0.0.1:1234?source=10.0.0.1&fifo_size=100", `unknown query parameter "fifo_size"`)
	bad("udp://239.0.0.1:1234?source=10.0.0.1&source=10.0.0.2", "source= given twice")
	bad("udp://239.0.0.1:1234?source=", "empty source=")
	bad("udp://239.0.0.1:1234?source=239.0.0.2", "not a unicast address")
	bad("udp://239.0.0.1:1234?source=0.0.0.0", "not a unicast address")
	bad("udp://239.0.0.1:1234?source=x", `source "x" is not an IPv4 address`)
	bad("udp://239.0.0.1:1234/", "empty interface address")
	bad("udp://239.0.0.1:1234/eth0", `interface address "eth0" is not an IPv4 address`)
	bad("udp://239.0.0.1:1234/239.0.0.2", "not a unicast address")
	bad("udp://eth0@239.0.0.1:1234/10.0.0.1", "names the interface twice")
	bad("udp://eth0@eth1@239.0.0.1:1234", "is not an IPv4 address")
	bad("udp://averyveryverylongname@239.0.0.1:1234", "longer than 15 bytes")
	bad("udp://e th0@239.0.0.1:1234", "bad interface name")
	bad("udp://..@239.0.0.1:1234", "bad interface name")
	bad("udp://239.0.0.1:1234#x", "unexpected fragment")
}

func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"udp://239.0.0.1:1234",
		"udp://239.0.0.1:1234/10.0.0.5",
		"udp://eth0@239.0.0.1:1234",
		"udp://@239.0.0.1:1234",
		"udp://232.1.1.1:5000?source=10.1.1.1",
		"udp://127.0.0.1:9000",
		"udp://:9000",
		"udp://[ff02::1]:1234",
		"udp://239.0.0.1:65536",
		"rtp://239.0.0.1:1234",
		"rtp://eth0@232.1.1.1:5000?source=10.1.1.1",
		"RTP://:9000",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		src, err := ParseURL(in)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "nic: ") {
				t.Fatalf("error %q lacks the package prefix", err)
			}
			return
		}
		if !src.Addr.Addr().Is4() || src.Addr.Port() == 0 {
			t.Fatalf("ParseURL(%q) = %+v: not an IPv4 address with a port", in, src)
		}
		if src.Multicast != src.Addr.Addr().IsMulticast() {
			t.Fatalf("ParseURL(%q) = %+v: Multicast flag wrong", in, src)
		}
		if scheme, _, _ := strings.Cut(in, "://"); src.RTP != strings.EqualFold(scheme, "rtp") {
			t.Fatalf("ParseURL(%q) = %+v: RTP flag does not match the scheme", in, src)
		}
		canon := src.String()
		back, err := ParseURL(canon)
		if err != nil {
			t.Fatalf("ParseURL(%q) = %+v, whose String %q does not parse: %v", in, src, canon, err)
		}
		if back != src {
			t.Fatalf("round trip %q -> %q: %+v != %+v", in, canon, back, src)
		}
		if back.String() != canon {
			t.Fatalf("String not canonical: %q -> %q", canon, back.String())
		}
	})
}
