package hlstest

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// makeHLS runs ffmpeg's HLS muxer over seconds of source into a fresh
// directory and returns the playlist path.
func makeHLS(t *testing.T, seconds string, hlsArgs ...string) string {
	t.Helper()
	RequireFFmpeg(t)
	dir := t.TempDir()
	args := append(append([]string(nil), source...), "-t", seconds)
	args = append(args, "-f", "hls", "-hls_time", "1", "-hls_segment_filename", filepath.Join(dir, "seg%03d.ts"))
	args = append(args, hlsArgs...)
	path := filepath.Join(dir, "index.m3u8")
	if err := FFmpeg(testContext(t, 30*time.Second), append(args, path)...); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestFFmpegHLSPassesCheck(t *testing.T) {
	f := func(name, seconds string, wantSegments int, wantMSN uint64, hlsArgs ...string) {
		t.Run(name, func(t *testing.T) {
			path := makeHLS(t, seconds, hlsArgs...)
			p, err := ParsePlaylist(readFile(t, path))
			if err != nil {
				t.Fatal(err)
			}
			if err := Check(p); err != nil {
				t.Fatalf("Check: %v\n%s", err, p.Raw)
			}
			if len(p.Segments) != wantSegments || p.MediaSequence != wantMSN || p.TargetDuration != 1 {
				t.Fatalf("%d segments from MSN %d, target %d; want %d from %d, target 1\n%s",
					len(p.Segments), p.MediaSequence, p.TargetDuration, wantSegments, wantMSN, p.Raw)
			}
			ctx := testContext(t, 20*time.Second)
			for _, s := range p.Segments {
				seg := ResolveURI(path, s.URI)
				key, pict, err := FirstVideoFrame(ctx, seg)
				if err != nil || !key || pict != "I" {
					t.Errorf("%s: first frame key=%v type %q err %v", s.URI, key, pict, err)
				}
				// ffmpeg writes its SDT first; after it each segment
				// must start with PAT and PMT.
				b := readFile(t, seg)
				if FirstPacketIsPAT(b) {
					t.Errorf("%s: FirstPacketIsPAT accepts a segment that starts with the SDT", s.URI)
				}
				b = stripSDT(t, b)
				if !FirstPacketIsPAT(b) {
					t.Errorf("%s: does not start with a PAT", s.URI)
				}
				if err := StartsWithPATPMT(b); err != nil {
					t.Errorf("%s: %v", s.URI, err)
				}
				if n := ContinuityErrors(b); n != 0 {
					t.Errorf("%s: %d continuity errors", s.URI, n)
				}
			}
		})
	}
	f("all segments", "6", 6, 0, "-hls_list_size", "0", "-hls_flags", "program_date_time+omit_endlist+independent_segments")
	f("sliding window", "10", 4, 6, "-hls_list_size", "4", "-hls_flags", "program_date_time+omit_endlist+delete_segments")
}

func TestCheckRejectsFFmpegDefaults(t *testing.T) {
	// Without program_date_time and with the ENDLIST of a finished run,
	// ffmpeg's output breaks two of slabcast's promises.
	path := makeHLS(t, "5", "-hls_list_size", "0")
	p, err := ParsePlaylist(readFile(t, path))
	if err != nil {
		t.Fatal(err)
	}
	wantViolations(t, "ffmpeg defaults", Check(p), ErrNoProgramDateTime, ErrEndList)
}

func TestFirstVideoFrame(t *testing.T) {
	path := clip(t)
	ctx := testContext(t, 20*time.Second)
	key, pict, err := FirstVideoFrame(ctx, path)
	if err != nil || !key || pict != "I" {
		t.Errorf("clip: key=%v type %q err %v", key, pict, err)
	}

	// The same clip cut 0.4 s into a GOP starts with a P frame.
	b := readFile(t, path)
	cut := filepath.Join(t.TempDir(), "cut.ts")
	if err := os.WriteFile(cut, b[midGOPOffset(t, b):], 0o644); err != nil {
		t.Fatal(err)
	}
	key, pict, err = FirstVideoFrame(ctx, cut)
	if err != nil && !errors.Is(err, ErrNoFrame) {
		t.Fatal(err)
	}
	if key {
		t.Errorf("mid-GOP cut: key=%v type %q, want no keyframe", key, pict)
	}

	// The committed HEVC and MPEG-2 clips start with keyframes.
	for _, name := range []string{"hevc_mp2.ts", "mpeg2_mp2.ts"} {
		p := filepath.Join("..", "..", "testdata", name)
		if _, err := os.Stat(p); err != nil {
			t.Logf("%s: %v", name, err)
			continue
		}
		key, pict, err := FirstVideoFrame(ctx, p)
		if err != nil || !key || pict != "I" {
			t.Errorf("%s: key=%v type %q err %v", name, key, pict, err)
		}
	}

	if _, _, err := FirstVideoFrame(ctx, filepath.Join(t.TempDir(), "missing.ts")); err == nil {
		t.Error("missing file: no error")
	}
}

// midGOPOffset returns the offset of the first packet of the 10th video
// PES (0.4 s into the first one-second GOP) in TS bytes b.
func midGOPOffset(t *testing.T, b []byte) int {
	t.Helper()
	const videoPID = 0x100 // ffmpeg's first elementary stream
	n := 0
	for off := 0; off+PacketSize <= len(b); off += PacketSize {
		pkt := b[off : off+PacketSize]
		if pid(pkt) == videoPID && pusi(pkt) {
			n++
			if n == 11 {
				return off
			}
		}
	}
	t.Fatal("clip has fewer than 11 video PES")
	return 0
}

func TestDecode(t *testing.T) {
	path := clip(t)
	ctx := testContext(t, 30*time.Second)
	if err := Decode(ctx, path, 0); err != nil {
		t.Fatalf("clean clip: %v", err)
	}
	if err := Decode(ctx, path, 1.5); err != nil {
		t.Fatalf("clean clip, 1.5 s: %v", err)
	}

	b := readFile(t, path)
	dir := t.TempDir()
	// Garble 20 packets' payloads, headers intact.
	bad := append([]byte(nil), b...)
	for off := 300 * PacketSize; off < 320*PacketSize; off += PacketSize {
		for i := off + 4; i < off+PacketSize; i++ {
			bad[i] = bad[i]*7 + 13
		}
	}
	// Drop one video packet.
	drop := append(append([]byte(nil), b[:200*PacketSize]...), b[201*PacketSize:]...)
	for name, data := range map[string][]byte{"garbled.ts": bad, "dropped.ts": drop} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := Decode(ctx, p, 0); err == nil {
			t.Errorf("%s: decoded without complaint", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

func TestProbe(t *testing.T) {
	streams, err := Probe(testContext(t, 20*time.Second), clip(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(streams) != 2 {
		t.Fatalf("%d streams: %+v", len(streams), streams)
	}
	v, a := streams[0], streams[1]
	if v.Index != 0 || v.CodecType != "video" || v.CodecName != "h264" || v.Width != 320 || v.Height != 180 {
		t.Errorf("video: %+v", v)
	}
	if a.Index != 1 || a.CodecType != "audio" || a.CodecName != "aac" || a.Channels != 1 {
		t.Errorf("audio: %+v", a)
	}
	if _, err := Probe(testContext(t, 20*time.Second), filepath.Join(t.TempDir(), "missing.ts")); err == nil {
		t.Error("missing file: no error")
	}
}
