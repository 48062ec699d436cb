package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slabcast/slabcast/feed"
	"github.com/slabcast/slabcast/internal/hlstest"
	"github.com/slabcast/slabcast/internal/testnet"
	"github.com/slabcast/slabcast/ts"
)

// The reliability suite's input faults (issue "Hostile clients cost
// nothing"): one live stream whose source goes through every fault an
// operator's headend sees, in turn, with a player polling all along. The
// player never sees a rule broken (media sequence never back, targets and
// durations consistent); a discontinuity is flagged at each change of
// source and none at a PTS wrap; the malformed datagrams are counted
// exactly; the last segments decode; no panic, and the log stays within a
// stated size.
func TestInputFaults(t *testing.T) {
	testnet.Require(t)
	hlstest.RequireFFmpeg(t)
	const group = "239.1.5.1:5000"
	d := startDaemon(t, `stream ch { input udp://`+group+`; segment_duration 1; source_timeout 2; }`)
	pl := d.base + "/ch/index.m3u8"
	url := "udp://" + group

	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	// phase runs one sender until the stream has cut n more segments.
	phase := func(name string, n float64, o hlstest.SenderOptions) {
		t.Helper()
		o.URL = url
		s := hlstest.StartSender(t, o)
		defer s.Stop()
		before := max(d.metric(`slabcast_segments_total{stream="ch"}`), 0)
		d.waitMetric(`slabcast_segments_total{stream="ch"}`, 30*time.Second, func(v float64) bool { return v >= before+n })
		t.Logf("%s: %v segments", name, d.metric(`slabcast_segments_total{stream="ch"}`)-before)
	}
	disc := func() float64 { return max(d.metric(`slabcast_discontinuities_total{stream="ch"}`), 0) }

	// 1. PTS and PCR wrap at 2^33 (95443.7 s) a couple of seconds in:
	// the timeline goes on without a discontinuity.
	s1 := hlstest.StartSender(t, hlstest.SenderOptions{URL: url, ExtraArgs: []string{"-output_ts_offset", "95441"}})
	if _, err := hlstest.Watch(ctx, pl, 500*time.Millisecond, 2); err != nil {
		t.Fatal(err)
	}
	log0 := len(d.Log())
	rss0 := rssOf(t, d.cmd.Process.Pid)
	type watched struct {
		lists []*hlstest.Playlist
		err   error
	}
	player := make(chan watched, 1)
	pctx, stopPlayer := context.WithCancel(ctx)
	defer stopPlayer()
	go func() {
		l, err := hlstest.Watch(pctx, pl, 400*time.Millisecond, 1<<30)
		player <- watched{l, err}
	}()
	before := max(d.metric(`slabcast_segments_total{stream="ch"}`), 0)
	d.waitMetric(`slabcast_segments_total{stream="ch"}`, 30*time.Second, func(v float64) bool { return v >= before+6 })
	s1.Stop()
	if n := disc(); n != 0 {
		t.Errorf("%v discontinuities across a PTS and PCR wrap, want 0", n)
	}

	// Malformed datagrams between sources: 1 byte and 65,000 bytes.
	c, err := net.Dial("udp", group)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	bad0 := max(d.metric(`slabcast_input_filtered_total{stream="ch",reason="bad_size"}`), 0)
	const nbad = 40
	for i := 0; i < nbad/2; i++ {
		c.Write([]byte{ts.SyncByte})
		big := make([]byte, 65000)
		big[0] = ts.SyncByte
		c.Write(big)
	}

	// 2. A new program on the same group: other program number, PMT PID,
	// stream PIDs, PSI version and codecs (MPEG-2 video, MP2 audio).
	d0 := disc()
	phase("new program", 4, hlstest.SenderOptions{Video: "mpeg2", ExtraArgs: []string{"-mpegts_service_id", "7",
		"-mpegts_pmt_start_pid", "0x200", "-mpegts_start_pid", "0x300", "-tables_version", "5"}})
	if disc() <= d0 {
		t.Errorf("no discontinuity at a new program")
	}
	// 3. Back to H.264 and the first layout, PTS starting over (a jump back).
	d0 = disc()
	phase("program back, PTS back", 4, hlstest.SenderOptions{})
	if disc() <= d0 {
		t.Errorf("no discontinuity when the first program came back")
	}
	// 4. The same layout, PTS 1000 s ahead (a jump forward).
	d0 = disc()
	phase("PTS forward", 4, hlstest.SenderOptions{ExtraArgs: []string{"-output_ts_offset", "1000"}})
	if disc() <= d0 {
		t.Errorf("no discontinuity at a PTS jump forward")
	}
	// 5. And back again.
	d0 = disc()
	phase("PTS back", 4, hlstest.SenderOptions{})
	if disc() <= d0 {
		t.Errorf("no discontinuity at a PTS jump back")
	}
	// 6. The source goes away for twice source_timeout, then returns.
	d.waitMetric(`slabcast_stream_up{stream="ch"}`, 10*time.Second, func(v float64) bool { return v == 0 })
	d0 = disc()
	phase("source back", 4, hlstest.SenderOptions{})
	if disc() <= d0 {
		t.Errorf("no discontinuity when the source came back")
	}

	stopPlayer()
	w := <-player
	if w.err != nil && !errors.Is(w.err, context.Canceled) {
		t.Fatalf("the player saw a broken rule: %v", w.err)
	}
	// Every change of source is flagged where it happened: the player saw
	// at least one EXT-X-DISCONTINUITY per change.
	seen := map[string]bool{}
	flagged := 0
	for _, p := range w.lists {
		for _, s := range p.Segments {
			if !seen[s.URI] {
				seen[s.URI] = true
				if s.Discontinuity {
					flagged++
				}
			}
		}
	}
	if flagged < 5 {
		t.Errorf("the player saw %d segments flagged EXT-X-DISCONTINUITY over 5 changes of source", flagged)
	}
	t.Logf("the player fetched %d playlists, saw %d segments, %d flagged discontinuities", len(w.lists), len(seen), flagged)
	d.waitMetric(`slabcast_input_filtered_total{stream="ch",reason="bad_size"}`, 5*time.Second, func(v float64) bool { return v == bad0+nbad })
	final, err := hlstest.FetchPlaylist(ctx, pl)
	if err != nil {
		t.Fatal(err)
	}
	checkSegments(t, pl, final)
	log := d.Log()[log0:]
	if strings.Contains(log, "panic") {
		t.Fatalf("panic in the log:\n%s", log)
	}
	if rss := rssOf(t, d.cmd.Process.Pid); rss-rss0 > 32<<20 {
		t.Errorf("the daemon grew from %d to %d bytes resident through the faults", rss0, rss)
	}
	// A line or two per change of source: 4 KB is the stated bound.
	if len(log) > 4096 {
		t.Errorf("the log grew by %d bytes through the faults:\n%s", len(log), log)
	}
}

// The pool runs out: ten streams of 8 Mbit/s into `memory 16M`. Every
// stream goes on being served — playlists a player accepts, segments that
// decode — the exhaustion is counted, and the daemon's memory stays within
// its pool and a stated overhead.
func TestPoolExhaustion(t *testing.T) {
	testnet.Require(t)
	hlstest.RequireFFmpeg(t)
	const streams = 10
	var cfg strings.Builder
	cfg.WriteString("memory 16M;\n")
	for i := 0; i < streams; i++ {
		fmt.Fprintf(&cfg, "stream s%d { input udp://239.1.6.%d:5000; segment_duration 1; segment_count 6; }\n", i, i+1)
	}
	d := startDaemon(t, cfg.String())
	// An 8 Mbit/s CBR clip, made here (4 MB is too much to commit).
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	file := filepath.Join(t.TempDir(), "8M.ts")
	if err := hlstest.FFmpeg(ctx, "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", "4", "-map", "0:v", "-map", "1:a", "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast",
		"-g", "25", "-keyint_min", "25", "-sc_threshold", "0", "-b:v", "7800k", "-minrate", "7800k", "-maxrate", "7800k", "-bufsize", "7800k",
		"-x264-params", "nal-hrd=cbr", "-c:a", "aac", "-b:a", "128k", "-f", "mpegts", file); err != nil {
		t.Fatal(err)
	}
	clip, err := feed.LoadClip(file)
	if err != nil {
		t.Fatal(err)
	}
	if r := clip.Bitrate(); r < 6e6 {
		t.Fatalf("the clip is %.1f Mbit/s, not 8", r/1e6)
	}
	const speed = 1
	sendCtx, stopSend := context.WithCancel(ctx)
	defer stopSend()
	errc := make(chan error, streams)
	for i := 0; i < streams; i++ {
		go func() { errc <- sendFast(sendCtx, clip, fmt.Sprintf("239.1.6.%d:5000", i+1), speed) }()
	}
	defer func() {
		stopSend()
		for i := 0; i < streams; i++ {
			if err := <-errc; err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("sender: %v", err)
			}
		}
	}()
	d.waitMetric("slabcast_pool_exhausted_total", 30*time.Second, func(v float64) bool { return v > 0 })
	// Under pressure, each stream still plays: a player's rules hold and
	// what it lists decodes.
	lists := make([][]*hlstest.Playlist, streams)
	errs := make([]error, streams)
	var wg sync.WaitGroup
	for i := 0; i < streams; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lists[i], errs[i] = hlstest.Watch(ctx, fmt.Sprintf("%s/s%d/index.m3u8", d.base, i), 300*time.Millisecond, 8)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("stream s%d under pool pressure: %v", i, err)
		}
	}
	for i := 0; i < streams; i += 3 {
		decodeUnderPressure(t, fmt.Sprintf("%s/s%d/index.m3u8", d.base, i))
	}
	if free := d.metric("slabcast_pool_free_bytes"); free > 2<<20 {
		t.Errorf("the pool was said exhausted, yet %v bytes are free", free)
	}
	if rss := rssOf(t, d.cmd.Process.Pid); rss > 16<<20+96<<20 {
		t.Errorf("the daemon holds %d bytes resident with a 16 MiB pool", rss)
	}
	t.Logf("pool exhausted %v times, %v packets dropped for want of memory, %d bytes resident",
		d.metric("slabcast_pool_exhausted_total"), d.metric(`slabcast_dropped_packets_total{stream="s0"}`), rssOf(t, d.cmd.Process.Pid))
	if log := d.Log(); strings.Contains(log, "panic") || len(log) > 16<<10 {
		t.Errorf("log of %d bytes:\n%.4000s", len(log), log)
	}
}

// decodeUnderPressure fetches a stream's playlist and every segment it
// lists, newest first, as a player at the live edge would. A stream short
// of memory gives up its oldest listed segments (pipeline: "better a late
// fetch answering 404 … than live packets lost"), so an older one may
// answer 404, or come short when it was given up while being sent — never
// a whole body of other bytes. Every segment that does arrive whole starts
// with a PAT and a keyframe and decodes, and at least one does: within a
// few playlists, the stream serves something playable.
func decodeUnderPressure(t *testing.T, playlistURL string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	var files []string
	given := 0
	for try := 0; try < 5 && len(files) == 0; try++ {
		p, err := hlstest.FetchPlaylist(ctx, playlistURL)
		if err != nil {
			t.Fatal(err)
		}
		for j := len(p.Segments) - 1; j >= 0; j-- {
			s := p.Segments[j]
			b, _, err := hlstest.Fetch(ctx, hlstest.ResolveURI(playlistURL, s.URI))
			switch {
			case err == nil:
			case errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "404 Not Found"):
				given++
				continue
			default:
				t.Fatalf("a listed segment: %v", err)
			}
			if !hlstest.FirstPacketIsPAT(b) {
				t.Errorf("segment %s: does not start with a PAT", s.URI)
			}
			f := filepath.Join(dir, fmt.Sprintf("%d.ts", s.MSN))
			os.WriteFile(f, b, 0o644)
			files = append(files, f)
		}
	}
	if len(files) == 0 {
		t.Fatalf("%s: in 5 playlists, every listed segment was given up before it could be fetched (%d)", playlistURL, given)
	}
	t.Logf("%s: %d listed segments fetched whole, %d given up for memory first", playlistURL, len(files), given)
	for _, f := range files {
		if key, pt, err := hlstest.FirstVideoFrame(ctx, f); err != nil || !key {
			t.Errorf("segment %s: first video frame key=%v pict_type=%s err=%v", f, key, pt, err)
		}
		if err := hlstest.Decode(ctx, f, 0); err != nil {
			t.Errorf("segment %s: %v", f, err)
		}
	}
}

// sendFast loops clip (without seams) to group at speed times its own
// pace until ctx ends.
func sendFast(ctx context.Context, clip *feed.Clip, group string, speed float64) error {
	c, err := net.Dial("udp", group)
	if err != nil {
		return err
	}
	defer c.Close()
	b := feed.NewBuffer(clip)
	start := time.Now()
	var base time.Duration // media time of the passes already sent
	for {
		for i := 0; i < b.Datagrams(); i++ {
			due := time.Duration(float64(base+b.Due(i)) / speed)
			if wait := due - time.Since(start); wait > time.Millisecond {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(wait):
				}
			}
			if _, err := c.Write(b.Datagram(i)); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
				return err
			}
		}
		base += b.Duration()
		b.Advance()
	}
}
