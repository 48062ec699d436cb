package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/slabcast/slabcast/config"
	tsfeed "github.com/slabcast/slabcast/feed"
	"github.com/slabcast/slabcast/hls/m3u8"
	"github.com/slabcast/slabcast/internal/hlstest"
	"github.com/slabcast/slabcast/ts"
)

var epoch = time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)

func testPool(t testing.TB, size int64) *Pool {
	t.Helper()
	p, err := NewPool(size)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func testStream(t testing.TB, pool *Pool, segDur time.Duration) *Stream {
	t.Helper()
	cfg := config.Stream{Name: "t", SegmentDuration: segDur, SegmentCount: 6, SourceTimeout: 10 * time.Second,
		Inputs: []config.Input{{URL: "udp://239.0.0.1:1234"}}}
	return newStream(cfg, pool, t.Logf)
}

func readClip(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// feed sends data as 7-packet datagrams in batches of 16, the clock moving
// evenly over dur, the way a worker would.
func feed(s *Stream, data []byte, from time.Time, dur time.Duration) time.Time {
	const dg = 7 * ts.PacketSize
	n := (len(data) + dg - 1) / dg
	now := from
	for i := 0; i < n; i++ {
		now = from.Add(dur * time.Duration(i) / time.Duration(n))
		s.seg.now = now
		end := min((i+1)*dg, len(data))
		s.seg.datagram(data[i*dg : end])
		if i%16 == 15 {
			s.seg.commit()
		}
	}
	s.seg.commit()
	return now
}

// playlistOf renders the stream's timeline as package hls serves it.
func playlistOf(s *Stream) []byte {
	tl := s.Timeline()
	if tl == nil {
		return nil
	}
	m := m3u8.Media{Target: tl.Target, MediaSequence: tl.MediaSequence, DiscontinuitySequence: tl.DiscontinuitySequence}
	for _, g := range tl.Listed() {
		m.Segments = append(m.Segments, m3u8.Segment{Start: g.Start, PTS: g.startPTS, Duration: g.Duration, Discontinuity: g.Discontinuity})
	}
	return m3u8.AppendMedia(nil, &m)
}

// segmentNamed finds a segment by the name a playlist gives it.
func segmentNamed(s *Stream, name string) *Segment {
	start, d, pts, ok := m3u8.ParseSegmentName([]byte(name))
	if !ok || s.Timeline() == nil {
		return nil
	}
	return s.Timeline().Find(start, d, pts)
}

func segmentBytes(t testing.TB, g *Segment) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := g.Reader().WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	if int64(b.Len()) != g.Size() {
		t.Fatalf("segment %s: read %d bytes, size %d", m3u8.SegmentName(g.Start, g.Duration, g.startPTS), b.Len(), g.Size())
	}
	return b.Bytes()
}

func TestSegmenterClips(t *testing.T) {
	hlstest.RequireFFmpeg(t)
	f := func(clip string, clipDur time.Duration, wantSegs int) {
		t.Helper()
		t.Run(clip, func(t *testing.T) {
			s := testStream(t, testPool(t, MinMemory), 2*time.Second)
			end := feed(s, readClip(t, clip), epoch, clipDur)
			pmtPID := uint16(s.seg.prog.pmtPID)
			s.seg.now = end.Add(11 * time.Second)
			s.seg.sourceLost() // ends the last segment where its media ends
			sn := s.Timeline()
			if sn == nil || len(sn.Segments) != wantSegs {
				t.Fatalf("got %v segments, want %d", sn, wantSegs)
			}
			dir := t.TempDir()
			var all []byte
			var total time.Duration
			for i, g := range sn.Segments {
				b := segmentBytes(t, g)
				if !hlstest.FirstPacketIsPAT(b) {
					t.Errorf("segment %d: first packet is not a PAT", i)
				}
				if ts.PID(b[ts.PacketSize:]) != pmtPID {
					t.Errorf("segment %d: second packet is PID %d, not the PMT", i, ts.PID(b[ts.PacketSize:]))
				}
				if n := hlstest.ContinuityErrors(b); n != 0 {
					t.Errorf("segment %d: %d continuity errors", i, n)
				}
				p := filepath.Join(dir, filepath.Base(m3u8.SegmentName(g.Start, g.Duration, g.startPTS)))
				os.WriteFile(p, b, 0o644)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				key, pt, err := hlstest.FirstVideoFrame(ctx, p)
				if err != nil || !key {
					t.Errorf("segment %d: first video frame key=%v type=%s err=%v", i, key, pt, err)
				}
				if err := hlstest.Decode(ctx, p, 0); err != nil {
					t.Errorf("segment %d does not decode cleanly: %v", i, err)
				}
				cancel()
				if i > 0 && i < len(sn.Segments)-1 && g.Duration != 2*time.Second {
					t.Errorf("segment %d lasts %v, want 2s (GOP 1 s, segment_duration 2 s)", i, g.Duration)
				}
				total += g.Duration
				all = append(all, b...)
			}
			// All but what came before the first keyframe after the media
			// clock's first second of measurement (a GOP of at most 1 s).
			if total < clipDur-2100*time.Millisecond || total > clipDur+100*time.Millisecond {
				t.Errorf("segments add up to %v, clip is %v", total, clipDur)
			}
			// Played back to back, the segments are one clean stream.
			p := filepath.Join(dir, "all.ts")
			os.WriteFile(p, all, 0o644)
			if err := hlstest.Decode(context.Background(), p, 0); err != nil {
				t.Errorf("concatenated segments: %v", err)
			}
			pl, err := hlstest.ParsePlaylist(playlistOf(s))
			if err != nil {
				t.Fatal(err)
			}
			if err := hlstest.Check(pl); err != nil {
				t.Errorf("playlist:\n%s\n%v", playlistOf(s), err)
			}
		})
	}
	// The first segment starts at the first keyframe after a second of
	// the media clock's measurement (mediaclock.go), a second before the
	// first 2 s boundary: it is shorter, and the clip's first second is
	// in none.
	f("h264_aac.ts", 10*time.Second, 5)
	f("hevc_mp2.ts", 4*time.Second, 2)
	f("mpeg2_mp2.ts", 4*time.Second, 2)
}

// A client still reading a segment when its memory is reused gets an error,
// never a mix of old and new bytes.
func TestSegmentReuseIsDetected(t *testing.T) {
	pool := testPool(t, MinMemory)
	s := testStream(t, pool, 2*time.Second)
	feed(s, readClip(t, "h264_aac.ts"), epoch, 10*time.Second)
	g := s.Timeline().Segments[0]
	want := segmentBytes(t, g)
	r := g.Reader()
	half := make([]byte, len(want)/2)
	if _, err := r.Read(half); err != nil {
		t.Fatal(err)
	}
	// The stream ends and its memory goes to another stream.
	s.seg.stop()
	other := testStream(t, pool, 2*time.Second)
	feed(other, readClip(t, "h264_aac.ts"), epoch, 10*time.Second)
	var rest bytes.Buffer
	_, err := r.WriteTo(&rest)
	if !errors.Is(err, ErrOverwritten) {
		t.Fatalf("reading reused memory: err %v, want ErrOverwritten", err)
	}
	got := append(half[:len(half):len(half)], rest.Bytes()...)
	if !bytes.Equal(got, want[:len(got)]) {
		t.Fatal("bytes handed out before the error differ from the segment")
	}
	if s.Timeline().Find(g.Start.UnixMilli(), g.Duration.Milliseconds(), g.startPTS) != nil {
		t.Fatal("a reused segment is still offered")
	}
}

func TestSourceLossMarksDiscontinuity(t *testing.T) {
	s := testStream(t, testPool(t, MinMemory), 2*time.Second)
	clip := readClip(t, "h264_aac.ts")
	end := feed(s, clip, epoch, 10*time.Second)
	s.seg.now = end.Add(11 * time.Second)
	s.seg.sourceLost()
	// The source comes back later, restarting its timeline.
	feed(s, clip, end.Add(20*time.Second), 10*time.Second)
	pl, err := hlstest.ParsePlaylist(playlistOf(s))
	if err != nil {
		t.Fatal(err)
	}
	if err := hlstest.Check(pl); err != nil {
		t.Errorf("playlist:\n%s\n%v", playlistOf(s), err)
	}
	var disc int
	for _, sg := range pl.Segments {
		if sg.Discontinuity {
			disc++
		}
	}
	if disc != 1 || s.Stats().Count[Discontinuities] != 1 {
		t.Fatalf("discontinuities: playlist %d, counter %d, want 1\n%s", disc, s.Stats().Count[Discontinuities], playlistOf(s))
	}
}

// Garbage and truncated datagrams are counted and skipped; the stream goes on.
func TestBadDatagrams(t *testing.T) {
	s := testStream(t, testPool(t, MinMemory), 2*time.Second)
	clip := readClip(t, "h264_aac.ts")
	half := len(clip) / 2 / (7 * ts.PacketSize) * (7 * ts.PacketSize)
	feed(s, clip[:half], epoch, 5*time.Second)
	s.seg.datagram([]byte("GET / HTTP/1.0\r\n\r\n"))                      // not TS
	s.seg.datagram(bytes.Repeat([]byte{0x47}, 100))                       // shorter than a packet
	s.seg.datagram(make([]byte, 7*ts.PacketSize))                         // zeros: no sync byte
	s.seg.datagram(append([]byte{}, clip[half:half+ts.PacketSize+50]...)) // one packet and a cut-off tail
	feed(s, clip[half+ts.PacketSize:], epoch.Add(5*time.Second), 5*time.Second)
	st := s.Stats()
	if st.Count[BadDatagrams] != 4 {
		t.Errorf("bad datagrams %d, want 4", st.Count[BadDatagrams])
	}
	if st.Count[Segments] != 4 {
		t.Errorf("segments %d, want 4: the stream must carry on", st.Count[Segments])
	}
}

// The receive, parse and splice path allocates nothing per datagram.
func TestIngestAllocations(t *testing.T) {
	s := testStream(t, testPool(t, MinMemory), 60*time.Second) // no cut in the measured stretch
	clip := readClip(t, "h264_aac.ts")
	feed(s, clip[:100*7*ts.PacketSize], epoch, time.Second) // past PSI and the first keyframe
	const dg = 7 * ts.PacketSize
	i := 100
	allocs := testing.AllocsPerRun(500, func() {
		s.seg.datagram(clip[i*dg : (i+1)*dg])
		s.seg.commit()
		i++
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per datagram, want 0", allocs)
	}
	if s.seg.state != inSeg {
		t.Fatal("the measured stretch was not inside a segment")
	}
}

// A program with no video is cut on time alone, at PES starts.
func TestSegmenterAudioOnly(t *testing.T) {
	hlstest.RequireFFmpeg(t)
	s := testStream(t, testPool(t, MinMemory), 2*time.Second)
	end := feed(s, readClip(t, "audio_aac.ts"), epoch, 5*time.Second)
	s.seg.now = end.Add(11 * time.Second)
	s.seg.sourceLost()
	sn := s.Timeline()
	if sn == nil || len(sn.Segments) != 3 {
		t.Fatalf("got %v segments, want 3 (the first up to the first boundary)", sn)
	}
	dir := t.TempDir()
	var total time.Duration
	for i, g := range sn.Segments {
		total += g.Duration
		// Cuts fall on the first audio PES at or after 2 s: one AAC frame
		// (21.3 ms) a PES here.
		if i > 0 && i < len(sn.Segments)-1 && (g.Duration < 2*time.Second || g.Duration > 2022*time.Millisecond) {
			t.Errorf("segment %d lasts %v, want 2 s to 2.022 s", i, g.Duration)
		}
		b := segmentBytes(t, g)
		if !hlstest.FirstPacketIsPAT(b) {
			t.Errorf("segment %d does not start with a PAT", i)
		}
		p := filepath.Join(dir, "a.ts")
		os.WriteFile(p, b, 0o644)
		if err := hlstest.Decode(context.Background(), p, 0); err != nil {
			t.Errorf("segment %d: %v", i, err)
		}
	}
	// All but the media clock's first second of measurement.
	if total < 3900*time.Millisecond || total > 5100*time.Millisecond {
		t.Errorf("segments add up to %v for a 5 s clip", total)
	}
}

// shiftClip moves every PCR, PTS and DTS of a clip by delta (mod 2^33).
func shiftClip(t *testing.T, clip []byte, delta uint64) []byte {
	out := append([]byte(nil), clip...)
	for off := 0; off+ts.PacketSize <= len(out); off += ts.PacketSize {
		p := out[off : off+ts.PacketSize]
		if pcr, ok := ts.PCR(p); ok {
			ts.SetPCR(p, (pcr+delta*300)%(ts.PTSWrap*300))
		}
		if ts.PUSI(p) && ts.PID(p) != 0 {
			ts.ShiftPESTimestamps(ts.Payload(p), delta)
		}
	}
	return out
}

// The 33-bit PTS wraps mid-stream: durations stay right and nothing is
// taken for a discontinuity.
func TestSegmenterPTSWrap(t *testing.T) {
	clip := readClip(t, "h264_aac.ts")
	// Put the wrap 5 s into the clip.
	var first uint64
	var pes ts.PESHeader
	for off := 0; off+ts.PacketSize <= len(clip); off += ts.PacketSize {
		p := clip[off : off+ts.PacketSize]
		if ts.PUSI(p) && ts.PID(p) == 0x100 && ts.ParsePESHeader(ts.Payload(p), &pes) == nil && pes.HasPTS {
			first = pes.PTS
			break
		}
	}
	if first == 0 {
		t.Fatal("no video PTS in the clip")
	}
	delta := (ts.PTSWrap - first - 5*ptsPerSec) % ts.PTSWrap
	s := testStream(t, testPool(t, MinMemory), 2*time.Second)
	feed(s, shiftClip(t, clip, delta), epoch, 10*time.Second)
	sn := s.Timeline()
	if sn == nil || len(sn.Segments) != 4 {
		t.Fatalf("got %v segments, want 4", sn)
	}
	for i, g := range sn.Segments {
		if i > 0 && g.Duration != 2*time.Second || g.Discontinuity {
			t.Errorf("segment %d: %v, discontinuity %v", i, g.Duration, g.Discontinuity)
		}
	}
	if d := s.Stats().Count[Discontinuities]; d != 0 {
		t.Errorf("%d discontinuities across a PTS wrap", d)
	}
}

// An MPTS input feeds one stream per program: each segment holds only its
// program, with a PAT naming only it.
func TestSegmenterMPTS(t *testing.T) {
	hlstest.RequireFFmpeg(t)
	clip := readClip(t, "mpts.ts")
	pool := testPool(t, MinMemory)
	for _, program := range []int{1, 2} {
		t.Run(fmt.Sprint("program", program), func(t *testing.T) {
			cfg := config.Stream{Name: "t", SegmentDuration: time.Second, SegmentCount: 6, SourceTimeout: 10 * time.Second,
				Inputs: []config.Input{{URL: "udp://239.0.0.1:1234", Program: program}}}
			s := newStream(cfg, pool, t.Logf)
			end := feed(s, clip, epoch, 4*time.Second)
			s.seg.now = end.Add(11 * time.Second)
			s.seg.sourceLost()
			sn := s.Timeline()
			if sn == nil || len(sn.Segments) != 3 {
				t.Fatalf("got %v segments, want 3 (the media clock measures a second first)", sn)
			}
			dir := t.TempDir()
			var all []byte
			for i, g := range sn.Segments {
				b := segmentBytes(t, g)
				if !hlstest.FirstPacketIsPAT(b) {
					t.Fatalf("segment %d does not start with a PAT", i)
				}
				var asm ts.SectionAssembler
				sec, ok := asm.Push(b[:ts.PacketSize])
				if !ok {
					t.Fatalf("segment %d: the first packet is not a whole PAT", i)
				}
				pat, err := ts.ParsePAT(sec)
				if err != nil || len(pat.Programs) != 1 || int(pat.Programs[0].Number) != program {
					t.Fatalf("segment %d: PAT %+v, %v; want only program %d", i, pat, err, program)
				}
				if n := hlstest.ContinuityErrors(b); n != 0 {
					t.Errorf("segment %d: %d continuity errors", i, n)
				}
				all = append(all, b...)
			}
			p := filepath.Join(dir, "all.ts")
			os.WriteFile(p, all, 0o644)
			ctx := context.Background()
			streams, err := hlstest.Probe(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			if len(streams) != 2 {
				t.Fatalf("segments carry %d streams, want the program's 2: %+v", len(streams), streams)
			}
			if err := hlstest.Decode(ctx, p, 0); err != nil {
				t.Error(err)
			}
			key, pt, err := hlstest.FirstVideoFrame(ctx, p)
			if err != nil || !key {
				t.Errorf("first frame key=%v %s %v", key, pt, err)
			}
		})
	}
}

// One long segment (a late keyframe) raises TARGETDURATION; the window must
// not reach back to segments an earlier playlist had dropped, and a segment
// that leaves the playlist stays fetchable for its duration plus the
// playlist's (RFC 8216 §6.2.2).
func TestWindowNeverGoesBack(t *testing.T) {
	s := testStream(t, testPool(t, MinMemory), 2*time.Second)
	s.cfg.SegmentCount = 3
	s.seg.init(s)
	g := &s.seg
	now := epoch
	pts := uint64(90000)
	var prev *hlstest.Playlist
	left := map[string]time.Time{}        // segment name -> when it must still be there
	longest := map[string]time.Duration{} // segment name -> longest playlist listing it
	for i, d := range []float64{2, 2, 2, 2, 2, 2, 2, 2, 4.6, 2, 2, 2, 2, 2, 2, 2} {
		g.now = now
		g.start(pts, wall90(now))
		pts += uint64(d * ptsPerSec)
		now = now.Add(time.Duration(d * float64(time.Second)))
		g.now = now
		g.finish(pts)
		pl, err := hlstest.ParsePlaylist(playlistOf(s))
		if err != nil {
			t.Fatal(err)
		}
		if prev != nil {
			if pl.MediaSequence < prev.MediaSequence {
				t.Fatalf("segment %d: media sequence went back from %d to %d", i, prev.MediaSequence, pl.MediaSequence)
			}
			listed := map[string]bool{}
			for _, sg := range pl.Segments {
				listed[sg.URI] = true
			}
			for _, sg := range prev.Segments {
				if _, ok := left[sg.URI]; !ok && !listed[sg.URI] {
					left[sg.URI] = now.Add(time.Duration(sg.Duration*float64(time.Second)) + longest[sg.URI])
				}
			}
		}
		for _, sg := range pl.Segments {
			longest[sg.URI] = max(longest[sg.URI], time.Duration(pl.TotalDuration()*float64(time.Second)))
		}
		// Every segment that left the playlist stays for its duration plus
		// the longest playlist that listed it.
		for name, until := range left {
			if now.Before(until) && segmentNamed(s, name) == nil {
				t.Fatalf("segment %d: %s is gone %v before its time", i, name, until.Sub(now))
			}
		}
		prev = pl
	}
	if len(g.win.segs) > g.win.maxKeep {
		t.Fatalf("%d segments kept", len(g.win.segs))
	}
}

// Programs sharing one PMT PID (common on DVB headends): the stream keeps
// to the program it selected, does not flap, and parses nothing per packet.

func section(tableID byte, ext uint16, body []byte) []byte {
	n := 5 + len(body) + 4
	s := []byte{tableID, 0xB0 | byte(n>>8)&0x0F, byte(n), byte(ext >> 8), byte(ext), 0xC1, 0, 0}
	s = append(s, body...)
	crc := ts.CRC32(s)
	return append(s, byte(crc>>24), byte(crc>>16), byte(crc>>8), byte(crc))
}

func onePacket(pid uint16, cc byte, sec []byte) []byte {
	p := make([]byte, ts.PacketSize)
	for i := range p {
		p[i] = 0xFF
	}
	p[0], p[1], p[2], p[3], p[4] = 0x47, 0x40|byte(pid>>8), byte(pid), 0x10|cc&0x0F, 0
	copy(p[5:], sec)
	return p
}

// sharedPMTTables are the PAT of a two-program MPTS whose programs' PMTs
// share PID 0x1000, and program 2's PMT: PCR 0x200, H.264 on 0x200, AAC on
// 0x201.
func sharedPMTTables() (pat, pmt2 []byte) {
	pat = section(0x00, 1, []byte{0, 1, 0xF0, 0x00, 0, 2, 0xF0, 0x00})
	pmt2 = section(0x02, 2, []byte{0xE2, 0x00, 0xF0, 0x00, 0x1B, 0xE2, 0x00, 0xF0, 0x00, 0x0F, 0xE2, 0x01, 0xF0, 0x00})
	return pat, pmt2
}

// sharedPMTClip is the demo clip as an MPTS whose second program's PMT
// shares PID 0x1000 with the first's.
func sharedPMTClip(t testing.TB) []byte {
	clip := readClip(t, "h264_aac.ts")
	pat, pmt2 := sharedPMTTables()
	var out []byte
	var patCC, pmtCC byte
	for off := 0; off+ts.PacketSize <= len(clip); off += ts.PacketSize {
		p := append([]byte(nil), clip[off:off+ts.PacketSize]...)
		switch ts.PID(p) {
		case 0:
			out = append(out, onePacket(0, patCC, pat)...)
			patCC++
		case 0x1000:
			ts.SetCC(p, pmtCC)
			pmtCC++
			out = append(out, p...)
			out = append(out, onePacket(0x1000, pmtCC, pmt2)...)
			pmtCC++
		default:
			out = append(out, p...)
		}
	}
	return out
}

// Programs sharing one PMT PID (common on DVB headends): the stream keeps
// to the program it selected, does not flap, and parses nothing per packet.
func TestMPTSSharedPMTPID(t *testing.T) {
	s := testStream(t, testPool(t, MinMemory), 2*time.Second)
	data := sharedPMTClip(t)
	feed(s, data, epoch, 10*time.Second)
	st := s.Stats()
	if st.Count[Segments] != 4 || s.seg.prog.videoPID != 0x100 {
		t.Errorf("segments %d, video PID %#x: want 4 segments of program 1", st.Count[Segments], s.seg.prog.videoPID)
	}
	if st.Count[Discontinuities] != 0 {
		t.Errorf("a steady MPTS made %d discontinuities", st.Count[Discontinuities])
	}
	// per-packet allocation: the PMT is re-parsed every time it alternates
	s2 := testStream(t, testPool(t, MinMemory), 60*time.Second)
	feed(s2, data[:100*7*ts.PacketSize], epoch, time.Second)
	const dg = 7 * ts.PacketSize
	i := 100
	allocs := testing.AllocsPerRun(200, func() {
		s2.seg.datagram(data[i*dg : (i+1)*dg])
		i++
	})
	if allocs != 0 {
		t.Errorf("%v allocations per datagram on an MPTS", allocs)
	}
}

// twoPMTsAPacketClip is the demo clip as an MPTS whose PMT packets each
// carry two sections: program 2's first, then program 1's own.
func twoPMTsAPacketClip(t testing.TB) []byte {
	clip := readClip(t, "h264_aac.ts")
	pat, pmt2 := sharedPMTTables()
	var out []byte
	var patCC byte
	for off := 0; off+ts.PacketSize <= len(clip); off += ts.PacketSize {
		p := append([]byte(nil), clip[off:off+ts.PacketSize]...)
		switch ts.PID(p) {
		case 0:
			out = append(out, onePacket(0, patCC, pat)...)
			patCC++
		case 0x1000:
			pl := ts.Payload(p)
			sec := pl[1+int(pl[0]):]
			pmt1 := sec[:3+(int(sec[1]&0x0F)<<8|int(sec[2]))]
			q := onePacket(0x1000, ts.CC(p), append(append([]byte(nil), pmt2...), pmt1...))
			out = append(out, q...)
		default:
			out = append(out, p...)
		}
	}
	return out
}

// A packet that completes two PMT sections: the segmenter and the health
// monitor both find the selected program's, the second one.
func TestPMTSectionsShareAPacket(t *testing.T) {
	s := testStream(t, testPool(t, MinMemory), 2*time.Second)
	feed(s, twoPMTsAPacketClip(t), epoch, 10*time.Second)
	s.seg.publishHealth(epoch.Add(10 * time.Second))
	st := s.Stats()
	if st.Count[Segments] != 4 || s.seg.prog.videoPID != 0x100 {
		t.Errorf("segments %d, video PID %#x: want 4 segments of program 1", st.Count[Segments], s.seg.prog.videoPID)
	}
	if n := st.TS[ts.PMTError2]; n != 0 {
		t.Errorf("health monitor counts %d PMT_error_2: it misses program 1's PMT", n)
	}
}

// mptsPIDs returns, for program of mpts.ts, its PMT PID and its video PID.
func mptsPIDs(t *testing.T, clip []byte, program uint16) (pmt, video uint16) {
	t.Helper()
	var pt ts.ProgramTracker
	pt.SetProgram(program)
	for off := 0; off+ts.PacketSize <= len(clip) && !pt.HavePMT(); off += ts.PacketSize {
		p := clip[off : off+ts.PacketSize]
		pid, ok := pt.PMTPID()
		switch {
		case ts.PID(p) == ts.PATPID:
			pt.PAT(p)
		case ok && ts.PID(p) == pid:
			pt.PMT(p)
		}
	}
	pmt, _ = pt.PMTPID()
	for _, es := range pt.Streams() {
		if es.Codec.IsVideo() {
			video = es.PID
		}
	}
	if pmt == 0 || video == 0 {
		t.Fatalf("program %d of mpts.ts: PMT PID %d, video PID %d", program, pmt, video)
	}
	return pmt, video
}

// pids= picks a program by its PMT PID, or keeps only the streams it names.
func TestInputPIDs(t *testing.T) {
	hlstest.RequireFFmpeg(t)
	clip := readClip(t, "mpts.ts")
	pmt2, _ := mptsPIDs(t, clip, 2)
	_, video1 := mptsPIDs(t, clip, 1)
	pool := testPool(t, MinMemory)
	run := func(pids string) []byte {
		cfg := config.Stream{Name: "t", SegmentDuration: time.Second, SegmentCount: 6, SourceTimeout: 10 * time.Second,
			Inputs: []config.Input{{URL: "udp://239.0.0.1:1234", PIDs: pids}}}
		s := newStream(cfg, pool, t.Logf)
		end := feed(s, clip, epoch, 4*time.Second)
		s.seg.now = end.Add(11 * time.Second)
		s.seg.sourceLost()
		if s.Timeline() == nil || len(s.Timeline().Segments) == 0 {
			t.Fatalf("pids=%s: no segment", pids)
		}
		return segmentBytes(t, s.Timeline().Segments[0])
	}
	b := run(fmt.Sprint(pmt2))
	var asm ts.SectionAssembler
	sec, _ := asm.Push(b[:ts.PacketSize])
	if pat, err := ts.ParsePAT(sec); err != nil || len(pat.Programs) != 1 || pat.Programs[0].Number != 2 {
		t.Fatalf("pids=%d (program 2's PMT): PAT %+v, %v", pmt2, pat, err)
	}
	p := filepath.Join(t.TempDir(), "v.ts")
	os.WriteFile(p, run(fmt.Sprint(video1)), 0o644)
	streams, err := hlstest.Probe(context.Background(), p)
	if err != nil || len(streams) != 1 {
		t.Fatalf("pids=%d (program 1's video): streams %+v, %v; want the video alone", video1, streams, err)
	}
}

// A pool too small for the stream: the stream gives up its own segments,
// listed ones last, and cuts short (or abandons) a segment it cannot hold
// rather than write on past a hole. Whatever it publishes is whole: it
// starts with PAT, PMT and a keyframe and has no continuity error; the
// playlist stays valid, its media sequence never goes back, and segments
// keep coming.
func TestPoolTooSmall(t *testing.T) {
	c, err := tsfeed.NewClip(readClip(t, "h264_aac.ts")) // 2 s segments of it are ~200 KB: over one chunk
	if err != nil {
		t.Fatal(err)
	}
	// A stream needs two segments' memory to list one while it writes the
	// next; from three chunks up it can (each segment here wants two).
	for _, chunks := range []int64{3, 4, 8} {
		t.Run(fmt.Sprint(chunks, " chunks"), func(t *testing.T) {
			s := testStream(t, testPool(t, chunks*ChunkSize), 2*time.Second)
			buf := tsfeed.NewBuffer(c) // loops without a seam: one continuous source
			var lastMSN uint64
			seen := map[string]bool{}
			for pass := 0; pass < 4; pass++ {
				for i := 0; i < buf.Datagrams(); i++ {
					s.seg.now = epoch.Add(time.Duration(pass)*buf.Duration() + buf.Due(i))
					s.seg.datagram(buf.Datagram(i))
					if i%16 == 15 {
						s.seg.commit()
					}
				}
				s.seg.commit()
				buf.Advance()
				pl, err := hlstest.ParsePlaylist(playlistOf(s))
				if err != nil {
					t.Fatalf("pass %d: %v", pass, err)
				}
				if err := hlstest.Check(pl); err != nil {
					t.Fatalf("pass %d: %v\n%s", pass, err, playlistOf(s))
				}
				if pl.MediaSequence < lastMSN {
					t.Fatalf("pass %d: media sequence went back from %d to %d", pass, lastMSN, pl.MediaSequence)
				}
				lastMSN = pl.MediaSequence
				for _, sg := range s.Timeline().Listed() {
					name := m3u8.SegmentName(sg.Start, sg.Duration, sg.startPTS)
					seen[name] = true
					b := segmentBytes(t, sg)
					if err := hlstest.StartsWithPATPMT(b); err != nil {
						t.Errorf("segment %s: %v", name, err)
					}
					if n := hlstest.ContinuityErrors(b); n != 0 {
						t.Errorf("segment %s: %d continuity errors: written past a hole", name, n)
					}
				}
			}
			st := s.Stats()
			if st.Count[Segments] < 8 || len(seen) < 4 {
				t.Errorf("%d segments published, %d seen listed: the stream stalled", st.Count[Segments], len(seen))
			}
			if s.pool.Exhausted() == 0 {
				t.Errorf("the pool never ran out: the test tests nothing")
			}
			t.Logf("%d segments, %d packets dropped, pool exhausted %d times", st.Count[Segments], st.Count[Dropped], s.pool.Exhausted())
		})
	}
}
