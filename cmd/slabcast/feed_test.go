package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
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

var feedClips = []string{"h264_aac.ts", "hevc_mp2.ts", "mpeg2_mp2.ts"}

func readFeedClip(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pesTime is the decode time of a PES: DTS, or PTS when there is no DTS.
func pesTime(p []byte) (uint64, bool) {
	if !ts.PUSI(p) {
		return 0, false
	}
	var h ts.PESHeader
	if ts.ParsePESHeader(ts.Payload(p), &h) != nil || !h.HasPTS {
		return 0, false
	}
	if h.HasDTS {
		return h.DTS, true
	}
	return h.PTS, true
}

// timeSteps measures, over a sequence of packets, the largest PCR step on
// pcrPID and the largest and smallest decode-time step per PES PID.
type timeSteps struct {
	pcrPID         uint16
	lastPCR        uint64
	havePCR        bool
	maxPCR, minPCR int64
	last           map[uint16]uint64
	max, min       map[uint16]int64
}

func newTimeSteps(pcrPID uint16) *timeSteps {
	return &timeSteps{pcrPID: pcrPID, minPCR: 1 << 62, last: map[uint16]uint64{}, max: map[uint16]int64{}, min: map[uint16]int64{}}
}

func (s *timeSteps) add(p []byte) {
	pid := ts.PID(p)
	if pcr, ok := ts.PCR(p); ok && pid == s.pcrPID {
		if s.havePCR {
			d := ts.PCRDiff(pcr, s.lastPCR)
			s.maxPCR, s.minPCR = max(s.maxPCR, d), min(s.minPCR, d)
		}
		s.lastPCR, s.havePCR = pcr, true
	}
	if t, ok := pesTime(p); ok {
		if prev, seen := s.last[pid]; seen {
			d := ts.PTSDiff(t, prev)
			if _, had := s.min[pid]; !had {
				s.min[pid] = d
			}
			s.max[pid], s.min[pid] = max(s.max[pid], d), min(s.min[pid], d)
		}
		s.last[pid] = t
	}
}

func TestFeedLoopIsSeamless(t *testing.T) {
	type loopCase struct {
		name string
		data []byte
		cut  bool
	}
	var cases []loopCase
	for _, name := range feedClips {
		cases = append(cases, loopCase{name, readFeedClip(t, name), false})
	}
	// A clip cut mid-stream (2.5 s by PCR) ends with frames whose PTS runs
	// ahead of its last PCR: the loop is longer than its PCR span, and
	// PCR-only packets bridge the gap.
	_, cut := sliceClip(t, "h264_aac.ts", 2.5)
	cases = append(cases, loopCase{"h264_aac.ts cut at 2.5 s", cut, true})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.data
			clip, err := newFeedClip(data)
			if err != nil {
				t.Fatal(err)
			}
			if clip.pcrPID != 0x100 {
				t.Fatalf("PCR PID 0x%x, want 0x100 (from the PMT)", clip.pcrPID)
			}
			in := newTimeSteps(clip.pcrPID)
			for off := 0; off < len(data); off += ts.PacketSize {
				in.add(data[off : off+ts.PacketSize])
			}

			lp := newFeedLooper(clip, true)
			out := newTimeSteps(clip.pcrPID)
			var cc ts.ContinuityChecker
			var pkt [ts.PacketSize]byte
			var pass0 []byte
			lastDue := int64(-1 << 62)
			var firstPCR uint64
			var firstPCRDue int64
			havePCR := false
			for lp.pass < 3 {
				due, ok := lp.next(pkt[:])
				if !ok {
					t.Fatal("looping feed ended")
				}
				p := pkt[:]
				if due < lastDue {
					t.Fatalf("pass %d: due time goes back from %d to %d", lp.pass, lastDue, due)
				}
				lastDue = due
				if errs, lost := cc.Check(p); errs != 0 {
					t.Fatalf("pass %d: continuity error on PID 0x%x (CC %d, %d lost)", lp.pass, ts.PID(p), ts.CC(p), lost)
				}
				if ts.DiscontinuityIndicator(p) {
					t.Fatalf("pass %d: discontinuity_indicator on PID 0x%x", lp.pass, ts.PID(p))
				}
				// A PCR packet is due exactly at its PCR.
				if pcr, ok := ts.PCR(p); ok && ts.PID(p) == clip.pcrPID {
					if !havePCR {
						firstPCR, firstPCRDue, havePCR = pcr, due, true
					} else if got := due - firstPCRDue; got != ts.PCRDiff(pcr, firstPCR) {
						t.Fatalf("pass %d: PCR packet due at %d, its PCR says %d", lp.pass, got, ts.PCRDiff(pcr, firstPCR))
					}
				}
				out.add(p)
				if lp.pass == 0 {
					pass0 = append(pass0, p...)
				}
			}
			// The first pass is the file, plus PCR-only packets in the gap.
			var kept []byte
			for off := 0; off < len(pass0); off += ts.PacketSize {
				p := pass0[off : off+ts.PacketSize]
				if !isFiller(p) {
					kept = append(kept, p...)
				}
			}
			if !bytes.Equal(kept, data) {
				t.Fatalf("pass 0 is not the file (%d vs %d bytes)", len(kept), len(data))
			}

			if out.minPCR <= 0 || out.maxPCR > in.maxPCR {
				t.Errorf("PCR steps over 3 passes %d..%d ticks; in the clip up to %d", out.minPCR, out.maxPCR, in.maxPCR)
			}
			fillers := 0
			for _, e := range clip.sched {
				if e.idx < 0 {
					fillers++
				}
			}
			if tc.cut {
				// The cut leaves holes in presentation (B-frames and audio
				// after the cut are missing), so the loop point can only
				// promise that decode times go forward.
				if fillers == 0 {
					t.Error("no PCR-only packets in the gap of a cut clip")
				}
				for pid, mn := range out.min {
					if mn <= 0 {
						t.Errorf("PID 0x%x: decode time step %d over 3 passes", pid, mn)
					}
				}
				return
			}
			for pid, mx := range in.max {
				if out.min[pid] <= 0 || out.max[pid] > mx {
					t.Errorf("PID 0x%x: decode time steps %d..%d over 3 passes; in the clip %d..%d", pid, out.min[pid], out.max[pid], in.min[pid], mx)
				}
			}
			// The video is the clip's longest stream, so it continues frame
			// by frame: every step one frame (3600 ticks at 25 fps).
			if out.min[0x100] != 3600 || out.max[0x100] != 3600 {
				t.Errorf("video DTS steps %d..%d over 3 passes, want 3600", out.min[0x100], out.max[0x100])
			}
		})
	}
}

// isFiller reports whether p is a PCR-only packet of the looper.
func isFiller(p []byte) bool {
	if ts.HasPayload(p) || p[4] != ts.PacketSize-5 || p[5] != 0x10 {
		return false
	}
	for _, b := range p[12:] {
		if b != 0xFF {
			return false
		}
	}
	return true
}

func TestFeedWithoutLoopIsTheFile(t *testing.T) {
	data := readFeedClip(t, "h264_aac.ts")
	// Leading garbage is skipped up to the first sync.
	clip, err := newFeedClip(append([]byte("junk\x47junk"), data...))
	if err != nil {
		t.Fatal(err)
	}
	lp := newFeedLooper(clip, false)
	var got []byte
	var pkt [ts.PacketSize]byte
	first, last := int64(0), int64(0)
	for i := 0; ; i++ {
		due, ok := lp.next(pkt[:])
		if !ok {
			break
		}
		if i == 0 {
			first = due
		} else if due < last {
			t.Fatalf("packet %d due at %d, before %d", i, due, last)
		}
		last = due
		got = append(got, pkt[:]...)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("sent %d bytes, not the file's %d", len(got), len(data))
	}
	if d := time.Duration(ticksToDuration(last - first)); d < 9500*time.Millisecond || d > 10500*time.Millisecond {
		t.Fatalf("the clip is scheduled over %v, want about 10 s", d)
	}
}

func TestFeedClipErrors(t *testing.T) {
	data := readFeedClip(t, "h264_aac.ts")
	f := func(name string, b []byte, want string) {
		t.Helper()
		_, err := newFeedClip(b)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want it to mention %q", name, err, want)
		}
	}
	f("empty", nil, "no MPEG-TS sync byte")
	f("not TS", bytes.Repeat([]byte("hello"), 100), "no MPEG-TS sync byte")
	f("truncated", data[:len(data)-10], "not a whole number of 188-byte packets")
	broken := append([]byte(nil), data...)
	broken[100*ts.PacketSize] = 0
	f("lost sync", broken, "packet 100 (offset 18800) has no sync byte")
	// Only PAT and PMT: no PCR.
	var psi []byte
	for off := 0; off < len(data); off += ts.PacketSize {
		if pid := ts.PID(data[off:]); pid == 0 || pid == 0x1000 {
			psi = append(psi, data[off:off+ts.PacketSize]...)
		}
	}
	f("no PCR", psi, "at least two PCRs")
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

func TestFeedStopsOnCancel(t *testing.T) {
	clip, err := newFeedClip(readFeedClip(t, "hevc_mp2.ts"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var w countingWriter
	done := make(chan error, 1)
	go func() { done <- sendPaced(ctx, &w, newFeedLooper(clip, true)) }()
	time.Sleep(300 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Second):
		t.Fatal("sendPaced did not stop within 1 s of cancel")
	}
	// 300 ms of a ~740 kbit/s clip is about 28 KB: paced, not the whole
	// loop at once.
	if w.n == 0 || w.n > 200_000 {
		t.Fatalf("sent %d bytes in 300 ms", w.n)
	}
}

type countingWriter struct{ n int }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

var _ io.Writer = (*countingWriter)(nil)

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
