package fmp4

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"

	mcfmp4 "github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"

	"github.com/slabcast/slabcast/ts"
)

// needTool skips when a tool is missing, unless CI=true.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI: %v", name, err)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

// cutClip cuts a committed clip into keyframe-aligned TS chunks, each
// starting with PAT, PMT and a keyframe, keeping the source timestamps.
func cutClip(t *testing.T, clip string, seconds string) [][]byte {
	t.Helper()
	ffmpeg := needTool(t, "ffmpeg")
	dir := t.TempDir()
	cmd := exec.Command(ffmpeg, "-v", "error", "-i", filepath.Join("..", "..", "testdata", clip),
		"-map", "0", "-c", "copy", "-f", "segment", "-segment_time", seconds,
		"-segment_format", "mpegts", "-reset_timestamps", "0",
		filepath.Join(dir, "seg%03d.ts"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg segment: %v\n%s", err, out)
	}
	names, _ := filepath.Glob(filepath.Join(dir, "seg*.ts"))
	sort.Strings(names)
	var chunks [][]byte
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		chunks = append(chunks, b)
	}
	if len(chunks) < 3 {
		t.Fatalf("%s: %d chunks, want at least 3", clip, len(chunks))
	}
	return chunks
}

type probe struct {
	Streams []struct {
		Index      int    `json:"index"`
		CodecName  string `json:"codec_name"`
		CodecType  string `json:"codec_type"`
		Width      int    `json:"width"`
		Height     int    `json:"height"`
		SampleRate string `json:"sample_rate"`
		TimeBase   string `json:"time_base"`
	} `json:"streams"`
	Packets []struct {
		StreamIndex int    `json:"stream_index"`
		PTS         *int64 `json:"pts"`
		DTS         *int64 `json:"dts"`
		Duration    int64  `json:"duration"`
		Flags       string `json:"flags"`
	} `json:"packets"`
}

// packageTwo packages chunks a and b as init+media(1)+media(2), b's
// timestamps unwrapped next to a's End.
func packageTwo(t *testing.T, a, b []byte, ref uint64) (file []byte, sa, sb *Segment) {
	t.Helper()
	sa, err := Parse(a)
	if err != nil {
		t.Fatal(err)
	}
	sb, err = Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	init, err := sa.Init()
	if err != nil {
		t.Fatal(err)
	}
	m1, err := sa.Media(1, ref)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := sb.Media(2, sa.End(ref))
	if err != nil {
		t.Fatal(err)
	}
	return append(append(append([]byte{}, init...), m1...), m2...), sa, sb
}

func TestClips(t *testing.T) {
	cases := []struct {
		clip    string
		codecs  []string // per fMP4 stream
		skipped ts.Codec
	}{
		{"h264_aac.ts", []string{"h264", "aac"}, ts.CodecUnknown},
		{"hevc_mp2.ts", []string{"hevc"}, ts.CodecMPEGAudio},
	}
	for _, c := range cases {
		t.Run(c.clip, func(t *testing.T) {
			ffprobe := needTool(t, "ffprobe")
			ffmpeg := needTool(t, "ffmpeg")
			chunks := cutClip(t, c.clip, "1")
			file, sa, sb := packageTwo(t, chunks[1], chunks[2], 0)
			if c.skipped != ts.CodecUnknown {
				if len(sa.Skipped) != 1 || sa.Skipped[0].Codec != c.skipped {
					t.Errorf("Skipped = %+v, want one %s stream", sa.Skipped, c.skipped)
				}
			}
			for i, tr := range sa.Tracks {
				if tr.CodecString == "" {
					t.Errorf("track %d: no codec string", tr.ID)
				}
				t.Logf("track %d %s %s %dx%d %d Hz, %d+%d samples", tr.ID, tr.Codec, tr.CodecString,
					tr.Width, tr.Height, tr.SampleRate, tr.Samples(), sb.Tracks[i].Samples())
			}
			path := filepath.Join(t.TempDir(), "out.mp4")
			if err := os.WriteFile(path, file, 0o644); err != nil {
				t.Fatal(err)
			}
			if dir := os.Getenv("FMP4_KEEP_DIR"); dir != "" { // for inspection by hand
				_ = os.WriteFile(filepath.Join(dir, c.clip+".mp4"), file, 0o644)
			}
			out, err := exec.Command(ffprobe, "-v", "error", "-of", "json",
				"-show_streams", "-show_packets", path).Output()
			if err != nil {
				t.Fatalf("ffprobe: %v", err)
			}
			var p probe
			if err := json.Unmarshal(out, &p); err != nil {
				t.Fatal(err)
			}
			if len(p.Streams) != len(c.codecs) {
				t.Fatalf("%d streams, want %d", len(p.Streams), len(c.codecs))
			}
			for i, st := range p.Streams {
				if st.CodecName != c.codecs[i] {
					t.Errorf("stream %d: codec %s, want %s", i, st.CodecName, c.codecs[i])
				}
				switch st.CodecType {
				case "video":
					if st.Width != 640 || st.Height != 360 {
						t.Errorf("stream %d: %dx%d, want 640x360", i, st.Width, st.Height)
					}
				case "audio":
					if st.SampleRate != "48000" {
						t.Errorf("stream %d: %s Hz, want 48000", i, st.SampleRate)
					}
				}
				// Samples per track: both segments' samples, no more, no less.
				want := sa.Tracks[i].Samples() + sb.Tracks[i].Samples()
				var dts []int64
				var durs []int64
				keys := 0
				for _, pk := range p.Packets {
					if pk.StreamIndex != st.Index {
						continue
					}
					if pk.DTS == nil {
						t.Fatalf("stream %d: packet without dts", i)
					}
					dts = append(dts, *pk.DTS)
					durs = append(durs, pk.Duration)
					if len(pk.Flags) > 0 && pk.Flags[0] == 'K' {
						keys++
					}
				}
				if len(dts) != want {
					t.Errorf("stream %d: %d packets, want %d", i, len(dts), want)
				}
				if st.CodecType == "video" && keys < 2 {
					t.Errorf("stream %d: %d keyframes, want one per segment", i, keys)
				}
				// Continuity: each packet starts where the previous one
				// ended, within one frame, across the segment boundary too.
				for j := 1; j < len(dts); j++ {
					step := dts[j] - dts[j-1]
					frame := durs[j-1]
					if frame <= 0 { // ffprobe reports no duration for the first AAC packet
						frame = durs[j]
					}
					if step <= 0 || math.Abs(float64(step-frame)) > float64(frame) {
						t.Errorf("stream %d: packet %d at dts %d, previous at %d lasting %d: gap or overlap",
							i, j, dts[j], dts[j-1], frame)
					}
				}
			}
			dec := exec.Command(ffmpeg, "-v", "error", "-xerror", "-i", path, "-f", "null", "-")
			if out, err := dec.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
				t.Errorf("ffmpeg -xerror: %v\n%s", err, out)
			}
		})
	}
}

// tfdts returns the base media decode time of every track of a media
// segment.
func tfdts(t *testing.T, media []byte) map[int]uint64 {
	t.Helper()
	var parts mcfmp4.Parts
	if err := parts.Unmarshal(media); err != nil {
		t.Fatalf("media segment does not parse: %v", err)
	}
	m := map[int]uint64{}
	for _, p := range parts {
		for _, tr := range p.Tracks {
			m[tr.ID] = tr.BaseTime
		}
	}
	return m
}

// shift adds delta to every PES timestamp of a TS chunk (copying it).
func shift(chunk []byte, delta uint64) []byte {
	out := append([]byte{}, chunk...)
	for off := 0; off+ts.PacketSize <= len(out); off += ts.PacketSize {
		p := out[off : off+ts.PacketSize]
		if ts.PUSI(p) && ts.PID(p) != ts.PATPID {
			ts.ShiftPESTimestamps(ts.Payload(p), delta) // PSI payloads are left alone
		}
	}
	return out
}

// TestWrap moves two consecutive chunks so that the 33-bit wrap falls inside
// the first, and checks that tfdt stays continuous when the caller passes the
// previous segment's End as ref.
func TestWrap(t *testing.T) {
	chunks := cutClip(t, "h264_aac.ts", "1")
	s0, err := Parse(chunks[1])
	if err != nil {
		t.Fatal(err)
	}
	first := s0.Tracks[0].samples[0].dts
	delta := (ts.PTSWrap - 45000 - first) % ts.PTSWrap // first DTS 0.5 s before the wrap
	a, b := shift(chunks[1], delta), shift(chunks[2], delta)
	sa, err := Parse(a)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	// The caller's 64-bit timeline, five wraps in: the first DTS lands
	// just before 5·2^33, the wrap inside the segment at 5·2^33.
	const ref = 5 * ts.PTSWrap
	ma, err := sa.Media(1, ref)
	if err != nil {
		t.Fatal(err)
	}
	end := sa.End(ref)
	mb, err := sb.Media(2, end)
	if err != nil {
		t.Fatal(err)
	}
	ta, tb := tfdts(t, ma), tfdts(t, mb)
	video := sa.Tracks[0]
	if got, want := ta[video.ID], uint64(5*ts.PTSWrap-45000); got != want {
		t.Errorf("segment 1 video tfdt %d, want %d", got, want)
	}
	var dur uint64
	for _, ts := range video.timeline(ref) {
		dur += uint64(ts.duration)
	}
	if got, want := tb[video.ID], ta[video.ID]+dur; got != want {
		t.Errorf("segment 2 video tfdt %d, want %d (segment 1's %d + %d)", got, want, ta[video.ID], dur)
	}
	if tb[video.ID] < 5*ts.PTSWrap {
		t.Errorf("segment 2 tfdt %d went back across the wrap", tb[video.ID])
	}
	audio := sa.Tracks[1]
	var adur uint64
	for _, ts := range audio.timeline(ref) {
		adur += uint64(ts.duration)
	}
	if got, want := int64(tb[audio.ID]), int64(ta[audio.ID]+adur); got-want > AACFrameSamples || want-got > AACFrameSamples {
		t.Errorf("segment 2 audio tfdt %d, want %d within a frame", got, want)
	}
	// Without a reference the raw 33-bit timeline restarts after the wrap:
	// that is what ref is for.
	raw, err := sb.Media(2, 0)
	if err != nil {
		t.Fatal(err)
	}
	if tfdts(t, raw)[video.ID] >= ts.PTSWrap {
		t.Errorf("ref 0 should give the 33-bit timeline")
	}
}

func TestUnwrap(t *testing.T) {
	const w = ts.PTSWrap
	cases := []struct{ t, ref, want uint64 }{
		{1000, 0, 1000},
		{w - 100, 0, w - 100},      // would be negative: the raw value
		{100, w - 1000, w + 100},   // just after the wrap
		{w - 100, w + 50, w - 100}, // just before it
		{w + 7, 3*w + 5, 3*w + 7},  // high bits of t ignored
		{5, 1 << 40, 1<<40 + 5 - (1<<40)%w},
	}
	for _, c := range cases {
		if got := Unwrap(c.t, c.ref); got != c.want {
			t.Errorf("Unwrap(%d, %d) = %d, want %d", c.t, c.ref, got, c.want)
		}
	}
}

func TestUnsupported(t *testing.T) {
	chunks := cutClip(t, "mpeg2_mp2.ts", "1")
	_, _, err := Init(chunks[0])
	if !errors.Is(err, ErrNoTracks) {
		t.Fatalf("MPEG-2 video + MP2: err %v, want ErrNoTracks", err)
	}
	t.Log(err)
	if _, err := Media(chunks[0], 1, 0); !errors.Is(err, ErrNoTracks) {
		t.Errorf("Media: err %v, want ErrNoTracks", err)
	}
	for _, bad := range [][]byte{nil, []byte("hello"), bytes.Repeat([]byte{0x47}, 188*3), make([]byte, 188)} {
		if _, err := Media(bad, 1, 0); err == nil {
			t.Errorf("Media(%q...) succeeded", bad[:min(len(bad), 8)])
		}
	}
}

func TestTrackSelection(t *testing.T) {
	chunks := cutClip(t, "h264_aac.ts", "1")
	s, err := Parse(chunks[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range s.Tracks {
		init, err := s.Init(tr.ID)
		if err != nil {
			t.Fatal(err)
		}
		var in mcfmp4.Init
		if err := in.Unmarshal(bytes.NewReader(init)); err != nil {
			t.Fatal(err)
		}
		if len(in.Tracks) != 1 || in.Tracks[0].ID != tr.ID || in.Tracks[0].TimeScale != tr.TimeScale {
			t.Errorf("init for track %d: %+v", tr.ID, in.Tracks)
		}
		m, err := s.Media(7, 0, tr.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got := tfdts(t, m); len(got) != 1 {
			t.Errorf("media for track %d has tracks %v", tr.ID, got)
		}
	}
	if _, err := s.Media(1, 0, 4242); err == nil {
		t.Error("unknown track accepted")
	}
}

func TestSplitADTSWithCRC(t *testing.T) {
	// Two frames: one with CRC (9-byte header), one without.
	frame := func(crc bool, payload []byte) []byte {
		hdr := 7
		b1 := byte(0xF1)
		if crc {
			hdr, b1 = 9, 0xF0
		}
		n := hdr + len(payload)
		f := []byte{0xFF, b1, 0x4C, 0x80 | byte(n>>11), byte(n >> 3), byte(n<<5) | 0x1F, 0xFC}
		if crc {
			f = append(f, 0, 0)
		}
		return append(f, payload...)
	}
	b := append(frame(true, []byte{1, 2, 3}), frame(false, []byte{4, 5})...)
	fr := splitADTS(b)
	if len(fr) != 2 || !bytes.Equal(fr[0].au, []byte{1, 2, 3}) || !bytes.Equal(fr[1].au, []byte{4, 5}) {
		t.Fatalf("frames %+v", fr)
	}
	if fr[0].objectType != 2 || fr[0].freqIndex != 3 || fr[0].channelConfig != 2 {
		t.Errorf("header fields %+v", fr[0])
	}
}

func FuzzMedia(f *testing.F) {
	// Seeds beyond the committed corpus: the start of a real segment.
	if b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "h264_aac.ts")); err == nil {
		f.Add(b[:min(len(b), 40*ts.PacketSize)], uint64(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, ref uint64) {
		s, err := Parse(data)
		if err != nil {
			return
		}
		_, _ = s.Init()
		_, _ = s.Media(1, ref)
		_ = s.End(ref)
		for _, tr := range s.Tracks {
			_, _ = s.Media(2, ref, tr.ID)
			_, _ = s.Init(tr.ID)
		}
		_, _, _ = Init(data)
		if _, err := Media(data, 3, ref); err == nil && len(s.Tracks) == 0 {
			t.Error("media segment without tracks")
		}
	})
}
