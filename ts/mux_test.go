package ts

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// au is an access unit taken out of a TS file.
type au struct {
	pid      uint16
	pts, dts uint64
	key      bool
	data     []byte
}

// demuxAUs reassembles the PES packets of the video and audio PIDs of a
// single-program TS file (as ffmpeg writes it: one access unit a video PES).
func demuxAUs(t *testing.T, b []byte, video, audio uint16) []au {
	var out []au
	cur := map[uint16]*au{}
	flush := func(pid uint16) {
		if a := cur[pid]; a != nil && len(a.data) > 0 {
			out = append(out, *a)
		}
		delete(cur, pid)
	}
	for off := 0; off+PacketSize <= len(b); off += PacketSize {
		p := b[off : off+PacketSize]
		pid := PID(p)
		if pid != video && pid != audio {
			continue
		}
		pl := Payload(p)
		if PUSI(p) {
			flush(pid)
			var h PESHeader
			if err := ParsePESHeader(pl, &h); err != nil || !h.HasPTS {
				t.Fatalf("PES on %d: %v", pid, err)
			}
			dts := h.PTS
			if h.HasDTS {
				dts = h.DTS
			}
			cur[pid] = &au{pid: pid, pts: h.PTS, dts: dts, key: RandomAccessIndicator(p), data: append([]byte(nil), pl[h.DataOffset:]...)}
			continue
		}
		if a := cur[pid]; a != nil {
			a.data = append(a.data, pl...)
		}
	}
	flush(video)
	flush(audio)
	return out
}

// The clip's frames, taken out of its TS and muxed again, make a TS that
// ffmpeg decodes without an error, with as many frames, starting with PAT
// and PMT, without a continuity error; AAC goes in raw and comes out ADTS.
func TestMuxerRoundTrip(t *testing.T) {
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Skip("ffprobe not installed")
	}
	clip, err := os.ReadFile("../testdata/h264_aac.ts")
	if err != nil {
		t.Fatal(err)
	}
	aus := demuxAUs(t, clip, 0x100, 0x101)
	var out bytes.Buffer
	m, err := NewMuxer(CodecH264, CodecAAC, func(run []byte) error {
		if len(run)%PacketSize != 0 || len(run) > 7*PacketSize {
			t.Fatalf("a run of %d bytes", len(run))
		}
		out.Write(run)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var video, audio int
	for _, a := range aus {
		if a.pid == 0x100 {
			if err := m.WriteVideo(a.pts, a.dts, a.key, a.data); err != nil {
				t.Fatal(err)
			}
			video++
			continue
		}
		// Split the PES's ADTS frames into raw frames, as RTMP hands them.
		d := a.data
		for k := 0; len(d) >= 7; k++ {
			if d[0] != 0xFF || d[1]&0xF0 != 0xF0 {
				t.Fatalf("not ADTS")
			}
			n := int(d[3]&3)<<11 | int(d[4])<<3 | int(d[5])>>5
			if !m.asc {
				obj, freq, ch := d[2]>>6+1, d[2]>>2&0x0F, (d[2]&1)<<2|d[3]>>6
				if err := m.SetAudioConfig([]byte{obj<<3 | freq>>1, (freq&1)<<7 | ch<<3}); err != nil {
					t.Fatal(err)
				}
			}
			hdr := 7
			if d[1]&1 == 0 {
				hdr = 9 // with CRC
			}
			if err := m.WriteAudio(a.pts+uint64(k)*1024*90000/48000, d[hdr:n]); err != nil {
				t.Fatal(err)
			}
			audio++
			d = d[n:]
		}
	}
	if err := m.Flush(); err != nil {
		t.Fatal(err)
	}
	b := out.Bytes()
	if PID(b) != PATPID || PID(b[PacketSize:]) != MuxPMTPID {
		t.Fatalf("the stream starts with PIDs %d, %d", PID(b), PID(b[PacketSize:]))
	}
	var cc ContinuityChecker
	for off := 0; off < len(b); off += PacketSize {
		if e, _ := cc.Check(b[off : off+PacketSize]); e != 0 {
			t.Fatalf("continuity error at packet %d", off/PacketSize)
		}
	}
	f := filepath.Join(t.TempDir(), "out.ts")
	if err := os.WriteFile(f, b, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if o, err := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-xerror", "-i", f, "-f", "null", "-").CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg does not decode the muxed stream: %v\n%s", err, o)
	}
	count := func(file, stream string) string {
		o, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-select_streams", stream, "-count_packets",
			"-show_entries", "stream=codec_name,nb_read_packets", "-of", "csv=p=0", file).Output()
		if err != nil {
			t.Fatalf("ffprobe: %v", err)
		}
		return strings.TrimSpace(string(o))
	}
	in := filepath.Join("..", "testdata", "h264_aac.ts")
	for _, s := range []string{"v:0", "a:0"} {
		if got, want := count(f, s), count(in, s); got != want {
			t.Errorf("stream %s: muxed %q, the clip %q", s, got, want)
		}
	}
	t.Logf("%d video and %d audio frames, %d bytes of TS", video, audio, len(b))
}

// An IDR without parameter sets gets the last SPS and PPS, and every
// access unit an AUD.
func TestMuxerParameterSets(t *testing.T) {
	var out []byte
	m, _ := NewMuxer(CodecH264, CodecUnknown, func(run []byte) error { out = append(out, run...); return nil })
	sps, pps := []byte{0, 0, 0, 1, 0x67, 1, 2, 3}, []byte{0, 0, 0, 1, 0x68, 4, 5}
	idr := []byte{0, 0, 0, 1, 0x65, 9, 9, 9}
	m.WriteVideo(3600, 3600, true, append(append(append([]byte(nil), sps...), pps...), idr...))
	m.WriteVideo(7200, 7200, true, idr) // no SPS/PPS of its own
	m.Flush()
	var es []byte
	for off := 0; off < len(out); off += PacketSize {
		if p := out[off : off+PacketSize]; PID(p) == MuxVideoPID {
			es = append(es, Payload(p)...)
		}
	}
	if n := bytes.Count(es, []byte{0, 0, 0, 1, 9, 0xF0}); n != 2 {
		t.Errorf("%d AUDs, want 2", n)
	}
	if n := bytes.Count(es, sps); n != 2 {
		t.Errorf("%d SPS, want 2 (the second IDR's put in)", n)
	}
}

func TestMuxerAllocations(t *testing.T) {
	m, _ := NewMuxer(CodecH264, CodecAAC, func([]byte) error { return nil })
	m.SetAudioConfig([]byte{0x11, 0x90})
	frame := bytes.Repeat([]byte{0, 0, 0, 1, 0x41}, 3000)
	aac := make([]byte, 400)
	m.WriteVideo(0, 0, false, frame) // the first takes its PSI
	pts := uint64(3600)
	if a := testing.AllocsPerRun(200, func() {
		m.WriteVideo(pts, pts, false, frame)
		m.WriteAudio(pts, aac)
		pts += 3600
	}); a != 0 {
		t.Fatalf("%v allocations per access unit", a)
	}
}

// Whatever a publisher's frames hold, the muxer writes whole, well-formed
// packets and does not panic.
func FuzzMuxer(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0x67, 1, 0, 0, 1, 0x68, 2, 0, 0, 1, 0x65, 3}, []byte{0x11, 0x90}, uint64(90000))
	f.Add([]byte{0, 0, 1}, []byte{0xff}, uint64(1<<33-1))
	f.Fuzz(func(t *testing.T, video, audio []byte, pts uint64) {
		m, err := NewMuxer(CodecH264, CodecAAC, func(run []byte) error {
			for off := 0; off < len(run); off += PacketSize {
				if run[off] != SyncByte || len(run)%PacketSize != 0 {
					t.Fatalf("a malformed packet")
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		m.SetAudioConfig(audio)
		m.WriteVideo(pts, pts-3600, true, video)
		m.WriteAudio(pts, audio)
		m.Flush()
	})
}

// HEVC too: the committed HEVC clip's video, muxed again, decodes with as
// many frames; an IRAP picture without parameter sets gets the last ones.
func TestMuxerHEVC(t *testing.T) {
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Skip("ffprobe not installed")
	}
	clip, err := os.ReadFile("../testdata/hevc_mp2.ts")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	m, err := NewMuxer(CodecHEVC, CodecUnknown, func(run []byte) error { out.Write(run); return nil })
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, a := range demuxAUs(t, clip, 0x100, 0x101) {
		if a.pid != 0x100 {
			continue
		}
		if err := m.WriteVideo(a.pts, a.dts, a.key, a.data); err != nil {
			t.Fatal(err)
		}
		n++
	}
	m.Flush()
	f := filepath.Join(t.TempDir(), "hevc.ts")
	os.WriteFile(f, out.Bytes(), 0o644)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if o, err := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-xerror", "-i", f, "-f", "null", "-").CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg does not decode the muxed HEVC: %v\n%s", err, o)
	}
	o, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-select_streams", "v:0", "-count_packets",
		"-show_entries", "stream=codec_name,nb_read_packets", "-of", "csv=p=0", f).Output()
	first, _, _ := strings.Cut(strings.TrimSpace(string(o)), "\n") // ffprobe repeats it under the program
	if err != nil || first != fmt.Sprintf("hevc,%d", n) {
		t.Fatalf("ffprobe: %q %v, want hevc,%d", o, err, n)
	}

	var es []byte
	m2, _ := NewMuxer(CodecHEVC, CodecUnknown, func(run []byte) error {
		for off := 0; off < len(run); off += PacketSize {
			if p := run[off : off+PacketSize]; PID(p) == MuxVideoPID {
				es = append(es, Payload(p)...)
			}
		}
		return nil
	})
	vps, sps, pps := []byte{0, 0, 0, 1, 0x40, 1, 7}, []byte{0, 0, 0, 1, 0x42, 1, 8}, []byte{0, 0, 0, 1, 0x44, 1, 9}
	idr := []byte{0, 0, 0, 1, 0x26, 1, 0xAA} // IDR_W_RADL
	m2.WriteVideo(3600, 3600, true, append(append(append(append([]byte(nil), vps...), sps...), pps...), idr...))
	m2.WriteVideo(7200, 7200, true, idr)
	m2.Flush()
	for _, ps := range [][]byte{vps, sps, pps} {
		if c := bytes.Count(es, ps); c != 2 {
			t.Errorf("parameter set %x: %d times, want 2", ps[4], c)
		}
	}
}

// MPEG audio (MP2 here, as RTMP's MP3 would be) goes as it is: the
// committed clip's MP2 frames, muxed alone, decode with as many frames.
func TestMuxerMPEGAudio(t *testing.T) {
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Skip("ffprobe not installed")
	}
	clip, err := os.ReadFile("../testdata/hevc_mp2.ts")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	m, err := NewMuxer(CodecUnknown, CodecMPEGAudio, func(run []byte) error { out.Write(run); return nil })
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, a := range demuxAUs(t, clip, 0x100, 0x101) {
		if a.pid != 0x101 {
			continue
		}
		if err := m.WriteAudio(a.pts, a.data); err != nil {
			t.Fatal(err)
		}
		n++
	}
	m.Flush()
	f := filepath.Join(t.TempDir(), "mp2.ts")
	os.WriteFile(f, out.Bytes(), 0o644)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if o, err := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-xerror", "-i", f, "-f", "null", "-").CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg does not decode the muxed MP2: %v\n%s", err, o)
	}
	frames := func(file string) string { // the MP2 frames ffprobe parses out of the PES
		o, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-select_streams", "a:0", "-count_packets",
			"-show_entries", "stream=codec_name,nb_read_packets", "-of", "csv=p=0", file).Output()
		if err != nil {
			t.Fatalf("ffprobe %s: %v", file, err)
		}
		first, _, _ := strings.Cut(strings.TrimSpace(string(o)), "\n") // repeated under the program
		return first
	}
	if got, want := frames(f), frames("../testdata/hevc_mp2.ts"); n == 0 || got != want || !strings.HasPrefix(got, "mp2,") {
		t.Fatalf("muxed %d PES: ffprobe reads %q, the clip %q", n, got, want)
	}
}

func TestAppendAnnexB(t *testing.T) {
	got := AppendAnnexB([]byte{9}, [][]byte{{0x67, 1}, {0x65, 2, 3}})
	want := []byte{9, 0, 0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x65, 2, 3}
	if !bytes.Equal(got, want) {
		t.Fatalf("%x, want %x", got, want)
	}
}

// HE-AAC's config (object type 5) makes LC ADTS headers at the core rate;
// configs ADTS cannot carry are refused.
func TestMuxerAudioConfigs(t *testing.T) {
	m, _ := NewMuxer(CodecUnknown, CodecAAC, func([]byte) error { return nil })
	// AAC LC, 44.1 kHz (index 4), stereo.
	if err := m.SetAudioConfig([]byte{0x12, 0x10}); err != nil || m.adts[2] != 1<<6|4<<2 {
		t.Fatalf("LC: %v, adts %x", err, m.adts)
	}
	// HE-AAC: type 5, core 24 kHz (index 6), stereo, extension 48 kHz (3), then LC.
	if err := m.SetAudioConfig([]byte{0x2B, 0x11, 0x88, 0x00}); err != nil || m.adts[2] != 1<<6|6<<2 {
		t.Fatalf("HE-AAC: %v, adts %x", err, m.adts)
	}
	for _, bad := range [][]byte{{0x12}, {0x3A, 0x10}, {0x17, 0x90}, {0x12, 0x40}} {
		if err := m.SetAudioConfig(bad); err == nil {
			t.Errorf("config %x: accepted", bad)
		}
	}
}
