package rtmp

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/codecs"

	"github.com/slabcast/slabcast/config"
	"github.com/slabcast/slabcast/pipeline"
	"github.com/slabcast/slabcast/ts"
)

func TestSplitURL(t *testing.T) {
	for _, c := range []struct{ raw, app, key, password string }{
		{"rtmp://h/live/studio", "live", "studio", ""},
		{"rtmp://h:1935/live/studio?password=x", "live", "studio", "x"},
		{"rtmp://h/live?password=x/studio", "live", "studio", "x"}, // the query on the server URL
		{"rtmp://h/live?password=x/studio?token=t", "live", "studio", "x"},
		{"rtmp://h/studio", "", "studio", ""},
		{"rtmp://h/a/b/news/hd", "a/b/news", "hd", ""},
		{"rtmp://h/", "", "", ""},
	} {
		u, err := url.Parse(c.raw)
		if err != nil {
			t.Fatal(err)
		}
		app, key, q := SplitURL(u)
		if app != c.app || key != c.key || q.Get("password") != c.password {
			t.Errorf("%s: app %q key %q password %q, want %q %q %q", c.raw, app, key, q.Get("password"), c.app, c.key, c.password)
		}
	}
}

// Whatever URL a peer's commands make, SplitURL gives a key with no '/'
// and does not panic.
func FuzzSplitURL(f *testing.F) {
	for _, s := range []string{"rtmp://h/live/studio?password=x", "rtmp://h/live?a=b/c?d=e", "rtmp://h//", "rtmp://h/%2F/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := url.Parse(s)
		if err != nil {
			return
		}
		_, key, _ := SplitURL(u)
		if strings.Contains(key, "/") {
			t.Fatalf("%q: key %q", s, key)
		}
	})
}

func TestBudgetConn(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go b.Write(make([]byte, 100))
	c := &budgetConn{Conn: a, budget: 60}
	buf := make([]byte, 100)
	n, err := c.Read(buf)
	if n != 60 || err != nil {
		t.Fatalf("read %d, %v; want the budget, 60", n, err)
	}
	if _, err := c.Read(buf); err != errBudget {
		t.Fatalf("past the budget: %v", err)
	}
	c.budget = -1
	if n, err := c.Read(buf); n != 40 || err != nil {
		t.Fatalf("without a budget: %d, %v", n, err)
	}
}

// An HEVC publisher over enhanced RTMP (FourCC hvc1; ffmpeg 5.1 cannot put
// HEVC in FLV, so gortmplib's own client publishes here): the committed
// HEVC clip's access units become segments that ffmpeg decodes as HEVC
// with as many frames.
func TestPublishHEVC(t *testing.T) {
	if _, err := exec.LookPath("ffprobe"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("ffprobe is missing")
		}
		t.Skip("ffprobe not installed")
	}
	clip, err := os.ReadFile("../testdata/hevc_mp2.ts")
	if err != nil {
		t.Fatal(err)
	}
	aus := videoAUs(t, clip)
	p, srv, addr := publishFixture(t)
	defer p.Close()
	defer srv.Close()

	var vps, sps, pps []byte
	for _, n := range aus[0].nalus {
		switch n[0] >> 1 & 0x3F {
		case 32:
			vps = n
		case 33:
			sps = n
		case 34:
			pps = n
		}
	}
	c, w, track := publishClient(t, addr, &codecs.H265{VPS: vps, SPS: sps, PPS: pps})
	defer c.Close()
	base := aus[0].dts
	for _, a := range aus {
		d := time.Duration(a.dts-base) * time.Second / 90000
		pts := time.Duration(a.pts-base) * time.Second / 90000
		if err := w.WriteH265(track, pts, d, a.nalus); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	st := p.Lookup("studio")
	deadline := time.Now().Add(15 * time.Second)
	// The publisher's end ends the segment being written (pipeline:
	// Publisher.Close), so every access unit is in a finished segment.
	for !(st.Stats().Count[pipeline.Segments] >= 4 && !st.Publishing()) {
		if time.Now().After(deadline) {
			t.Fatalf("%d segments, publishing %v", st.Stats().Count[pipeline.Segments], st.Publishing())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Every segment, and what the publisher's end left in the last: all
	// of it decodes as HEVC.
	var out bytes.Buffer
	for _, seg := range st.Timeline().Segments {
		if _, err := seg.WriteRange(&out, 0, seg.Size()); err != nil {
			t.Fatal(err)
		}
	}
	f := filepath.Join(t.TempDir(), "out.ts")
	os.WriteFile(f, out.Bytes(), 0o644)
	o, err := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-xerror", "-i", f, "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg does not decode the published HEVC: %v\n%s", err, o)
	}
	o, err = exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames",
		"-show_entries", "stream=codec_name,nb_read_frames", "-of", "csv=p=0", f).Output()
	first, _, _ := strings.Cut(strings.TrimSpace(string(o)), "\n")
	// The stream ends a source that stops before its last access unit,
	// which may be cut short (pipeline: sourceLost), so one may be missing.
	if err != nil || first != fmt.Sprintf("hevc,%d", len(aus)) && first != fmt.Sprintf("hevc,%d", len(aus)-1) {
		t.Fatalf("ffprobe: %q %v, want hevc and %d frames", o, err, len(aus))
	}
	if n := pipeline.Ended("rtmp", "eof"); n < 1 {
		t.Errorf("the session's end was not counted: %d", n)
	}
}

type accessUnit struct {
	pts, dts uint64
	nalus    [][]byte
}

// videoAUs demuxes the access units of PID 0x100 from a TS clip, each as
// its NAL units.
func videoAUs(t *testing.T, b []byte) []accessUnit {
	t.Helper()
	var out []accessUnit
	var cur *accessUnit
	var es []byte
	flush := func() {
		if cur != nil && len(es) > 0 {
			for _, n := range bytes.Split(es, []byte{0, 0, 1}) {
				n = bytes.TrimRight(n, "\x00")
				if len(n) > 0 {
					cur.nalus = append(cur.nalus, n)
				}
			}
			out = append(out, *cur)
		}
		cur, es = nil, nil
	}
	for off := 0; off+ts.PacketSize <= len(b); off += ts.PacketSize {
		pk := b[off : off+ts.PacketSize]
		if ts.PID(pk) != 0x100 {
			continue
		}
		pl := ts.Payload(pk)
		if ts.PUSI(pk) {
			flush()
			var h ts.PESHeader
			if err := ts.ParsePESHeader(pl, &h); err != nil {
				t.Fatal(err)
			}
			cur = &accessUnit{pts: h.PTS, dts: h.PTS}
			if h.HasDTS {
				cur.dts = h.DTS
			}
			pl = pl[h.DataOffset:]
		}
		es = append(es, pl...)
	}
	flush()
	if len(out) < 10 {
		t.Fatalf("%d access units in the clip", len(out))
	}
	return out
}

// The path from gortmplib's callbacks to the muxer allocates nothing per
// access unit: the Annex B form is built in a buffer the session keeps.
func TestIngestAllocations(t *testing.T) {
	mux, err := ts.NewMuxer(ts.CodecH264, ts.CodecAAC, func([]byte) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if err := mux.SetAudioConfig([]byte{0x11, 0x90}); err != nil {
		t.Fatal(err)
	}
	in := &ingest{mux: mux, video: ts.CodecH264, logf: t.Logf}
	sps, pps := []byte{0x67, 1, 2, 3}, []byte{0x68, 4}
	in.onVideo(0, 0, [][]byte{sps, pps}) // a sequence header: kept for the first picture
	idr := [][]byte{append([]byte{0x65}, make([]byte, 20000)...)}
	in.onVideo(40*time.Millisecond, 0, idr)
	frame := [][]byte{{0x09, 0xF0}, append([]byte{0x41}, make([]byte, 6000)...)}
	aac := make([]byte, 300)
	d := 40 * time.Millisecond
	if a := testing.AllocsPerRun(200, func() {
		in.onVideo(d+40*time.Millisecond, d, frame)
		in.onAudio(d, aac)
		d += 40 * time.Millisecond
	}); a != 0 {
		t.Fatalf("%v allocations per access unit", a)
	}
	if in.err != nil {
		t.Fatal(in.err)
	}
}

// A publisher whose clock jumps back and forward, then sends an access
// unit past every limit: each jump is a discontinuity and what was served
// decodes; the oversized message ends that session only, counted as an
// error.
func TestPublishHostileMedia(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("ffmpeg is missing")
		}
		t.Skip("ffmpeg not installed")
	}
	clip, err := os.ReadFile("../testdata/h264_aac.ts")
	if err != nil {
		t.Fatal(err)
	}
	aus := videoAUs(t, clip)
	p, srv, addr := publishFixture(t)
	defer p.Close()
	defer srv.Close()
	var sps, pps []byte
	for _, n := range aus[0].nalus {
		switch n[0] & 0x1F {
		case 7:
			sps = n
		case 8:
			pps = n
		}
	}
	c, w, track := publishClient(t, addr, &codecs.H264{SPS: sps, PPS: pps})
	defer c.Close()
	errors0 := pipeline.Ended("rtmp", "error")
	send := func(from, to int, offset time.Duration) {
		t.Helper()
		base := aus[from].dts
		for _, a := range aus[from:to] {
			d := time.Duration(a.dts-base)*time.Second/90000 + offset
			pts := time.Duration(a.pts-base)*time.Second/90000 + offset
			if err := w.WriteH264(track, pts, d, a.nalus); err != nil {
				t.Fatal(err)
			}
		}
	}
	send(0, 100, 100*time.Second) // 4 s from 100 s
	send(100, 175, 0)             // back to 0
	send(175, 250, 2000*time.Second)
	big := [][]byte{append([]byte{0x65}, make([]byte, 11<<20)...)} // past gortmplib's 10 MiB message
	w.WriteH264(track, 2010*time.Second, 2010*time.Second, big)
	st := p.Lookup("studio")
	deadline := time.Now().Add(15 * time.Second)
	for st.Publishing() || pipeline.Ended("rtmp", "error") == errors0 {
		if time.Now().After(deadline) {
			t.Fatalf("the oversized message did not end the session: publishing %v, ended in error %d", st.Publishing(), pipeline.Ended("rtmp", "error")-errors0)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := st.Stats().Count[pipeline.Discontinuities]; n < 2 {
		t.Errorf("%d discontinuities over two clock jumps", n)
	}
	dir := t.TempDir()
	for i, seg := range st.Timeline().Segments {
		var b bytes.Buffer
		if _, err := seg.WriteRange(&b, 0, seg.Size()); err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, fmt.Sprintf("%d.ts", i))
		os.WriteFile(f, b.Bytes(), 0o644)
		if o, err := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-xerror", "-i", f, "-f", "null", "-").CombinedOutput(); err != nil {
			t.Errorf("segment %d does not decode: %v\n%s", i, err, o)
		}
	}
}

// publishFixture starts a pipeline with a live stream "studio" and an RTMP
// server in front of it, and returns the server's address.
func publishFixture(t *testing.T) (*pipeline.Pipeline, *Server, string) {
	t.Helper()
	p, err := pipeline.New(pipeline.Options{Memory: pipeline.MinMemory, CPUs: []int{0}, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(config.Stream{Name: "studio", Live: true, SegmentDuration: time.Second, SegmentCount: 6,
		SourceTimeout: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	srv := New(p, t.Logf)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	return p, srv, ln.Addr().String()
}

func TestPlayURL(t *testing.T) {
	for _, c := range []struct{ in, app, key string }{
		{"rtmp://h/live/sport", "/live", "sport"},
		{"rtmp://h:1935/static/news/hd?token=x", "/static", "news/hd?token=x"},
		{"rtmp://h/live#key", "/live", "key"},
		{"rtmp://h/solo", "/solo", ""},
	} {
		u, _ := url.Parse(c.in)
		got := playURL(u)
		if got.Path != c.app || got.Fragment != c.key || got.RawQuery != "" {
			t.Errorf("%s: path %q key %q query %q, want %q %q", c.in, got.Path, got.Fragment, got.RawQuery, c.app, c.key)
		}
	}
}

// publishClient connects gortmplib's client to the server at addr as a
// publisher of stream studio with one video track of codec.
func publishClient(t *testing.T, addr string, codec codecs.Codec) (*gortmplib.Client, *gortmplib.Writer, *gortmplib.Track) {
	t.Helper()
	u, _ := url.Parse("rtmp://" + addr + "/live/studio")
	c := &gortmplib.Client{URL: u, Publish: true}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Initialize(ctx); err != nil {
		t.Fatal(err)
	}
	track := &gortmplib.Track{Codec: codec}
	w := &gortmplib.Writer{Conn: c, Tracks: []*gortmplib.Track{track}}
	if err := w.Initialize(); err != nil {
		c.Close()
		t.Fatal(err)
	}
	return c, w, track
}
