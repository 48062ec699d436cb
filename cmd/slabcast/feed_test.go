package main

import (
	"bytes"
	"errors"
	"flag"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slabcast/slabcast/internal/testnet"
	"github.com/slabcast/slabcast/ts"
)

// TestMain puts the package's tests in a private network namespace, where
// the multicast ones may send.
func TestMain(m *testing.M) { testnet.Main(m) }

func readFeedClip(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFeedArgs(t *testing.T) {
	f := func(args string, want feedOptions, wantErr string) {
		t.Helper()
		var out bytes.Buffer
		got, err := parseFeedArgs(strings.Fields(args), &out)
		if wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), wantErr) {
				t.Errorf("%q: err = %v, want %q", args, err, wantErr)
			}
			return
		}
		if err != nil {
			t.Errorf("%q: %v", args, err)
			return
		}
		if got != want {
			t.Errorf("%q: %+v, want %+v", args, got, want)
		}
	}
	f("a.ts udp://239.0.0.1:1234", feedOptions{file: "a.ts", dest: "udp://239.0.0.1:1234", ttl: 1}, "")
	f("a.ts udp://239.0.0.1:1234 --loop --iface lo --ttl 4", feedOptions{file: "a.ts", dest: "udp://239.0.0.1:1234", loop: true, iface: "lo", ttl: 4, ttlSet: true}, "")
	f("--loop a.ts -ttl=2 udp://h:1", feedOptions{file: "a.ts", dest: "udp://h:1", loop: true, ttl: 2, ttlSet: true}, "")
	f("a.ts", feedOptions{}, "want FILE.ts and udp://HOST:PORT")
	f("a.ts udp://h:1 extra", feedOptions{}, "got 3 arguments")
	f("a.ts udp://h:1 --ttl 300", feedOptions{}, "want 0..255")
	f("a.ts udp://h:1 --bogus", feedOptions{}, "flag provided but not defined")

	var out bytes.Buffer
	if _, err := parseFeedArgs([]string{"-h"}, &out); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: err = %v, want flag.ErrHelp", err)
	}
	if !strings.Contains(out.String(), "usage: slabcast feed") || !strings.Contains(out.String(), "-loop") {
		t.Errorf("-h printed %q", out.String())
	}

	d := func(dest, want string) {
		t.Helper()
		addr, err := parseFeedDest(dest)
		if want == "" {
			if err == nil {
				t.Errorf("%q: accepted as %v", dest, addr)
			}
			return
		}
		if err != nil || addr.String() != want {
			t.Errorf("%q: %v, %v; want %s", dest, addr, err, want)
		}
	}
	d("udp://239.0.0.1:1234", "239.0.0.1:1234")
	d("udp://@239.0.0.1:1234", "239.0.0.1:1234")
	d("udp://127.0.0.1:5000/", "127.0.0.1:5000")
	d("udp://[ff02::1]:1234", "[ff02::1]:1234")
	d("http://239.0.0.1:1234", "")
	d("udp://239.0.0.1", "")
	d("udp://239.0.0.1:0", "")
	d("udp://239.0.0.1:1234/lo", "")
	d("udp://x@239.0.0.1:1234", "")
	d("udp://:1234", "")

	if _, err := dialFeed(feedOptions{dest: "udp://127.0.0.1:9", iface: "lo"}); err == nil || !strings.Contains(err.Error(), "multicast destinations only") {
		t.Errorf("--iface with unicast: %v", err)
	}
}

// sliceClip writes the packets of the first `seconds` of the clip (by PCR)
// to a temporary file.
func sliceClip(t *testing.T, name string, seconds float64) (string, []byte) {
	t.Helper()
	data := readFeedClip(t, name)
	var first uint64
	have := false
	end := len(data)
	for off := 0; off < len(data); off += ts.PacketSize {
		if pcr, ok := ts.PCR(data[off:]); ok {
			if !have {
				first, have = pcr, true
			} else if float64(ts.PCRDiff(pcr, first)) >= seconds*27e6 {
				end = off + ts.PacketSize
				break
			}
		}
	}
	path := filepath.Join(t.TempDir(), "slice.ts")
	if err := os.WriteFile(path, data[:end], 0o644); err != nil {
		t.Fatal(err)
	}
	return path, data[:end]
}

// receive reads datagrams from c until want bytes arrived or the sender
// falls silent; it returns the datagrams and the times of the first and
// last.
func receive(t *testing.T, c *net.UDPConn, want int) (dgrams [][]byte, first, last time.Time) {
	t.Helper()
	buf := make([]byte, 65536)
	total := 0
	for total < want {
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, _, err := c.ReadFromUDP(buf)
		if err != nil {
			t.Logf("receive: %v after %d of %d bytes", err, total, want)
			break
		}
		now := time.Now()
		if first.IsZero() {
			first = now
		}
		last = now
		dgrams = append(dgrams, append([]byte(nil), buf[:n]...))
		total += n
	}
	return dgrams, first, last
}

func checkDatagrams(t *testing.T, dgrams [][]byte, want []byte) {
	t.Helper()
	var got []byte
	for i, d := range dgrams {
		if len(d) != 7*ts.PacketSize && i != len(dgrams)-1 {
			t.Fatalf("datagram %d of %d has %d bytes, want 1316", i, len(dgrams), len(d))
		}
		got = append(got, d...)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("received %d bytes, not the %d sent", len(got), len(want))
	}
}

func TestFeedPacing(t *testing.T) {
	path, want := sliceClip(t, "h264_aac.ts", 2)
	rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	rx.SetReadBuffer(4 << 20)
	dest := "udp://127.0.0.1:" + strconv.Itoa(rx.LocalAddr().(*net.UDPAddr).Port)
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- runFeed([]string{path, dest}) }()
	dgrams, first, last := receive(t, rx, len(want))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	checkDatagrams(t, dgrams, want)
	// A functional check of pacing, not a speed claim: two seconds of
	// stream take about two seconds, not a burst and not a crawl.
	if span := last.Sub(first); span < 1500*time.Millisecond || span > 3*time.Second {
		t.Fatalf("2 s of stream arrived over %v", span)
	}
	if startup := first.Sub(start); startup > 500*time.Millisecond {
		t.Fatalf("first datagram after %v", startup)
	}
}

func TestFeedMulticast(t *testing.T) {
	testnet.Require(t)
	path, want := sliceClip(t, "hevc_mp2.ts", 0.5)
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	group := net.IPv4(239, 255, 71, 1)
	rx, err := net.ListenMulticastUDP("udp4", lo, &net.UDPAddr{IP: group})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	rx.SetReadBuffer(4 << 20)
	dest := "udp://" + group.String() + ":" + strconv.Itoa(rx.LocalAddr().(*net.UDPAddr).Port)
	done := make(chan error, 1)
	go func() { done <- runFeed([]string{path, dest, "--iface", "lo", "--ttl", "1"}) }()
	dgrams, _, _ := receive(t, rx, len(want))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	checkDatagrams(t, dgrams, want)
}
