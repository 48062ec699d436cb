package ts

import (
	"os/exec"
	"strings"
	"testing"
)

// scan runs a fresh scanner over chunks and returns the final verdict.
func scan(c Codec, chunks [][]byte) Verdict {
	var s KeyframeScanner
	s.Reset(c)
	v := Undecided
	for _, ch := range chunks {
		v = s.Feed(ch)
	}
	if v == Undecided {
		v = s.Verdict()
	}
	return v
}

// scanBytewise feeds es one byte at a time, so that every start code is
// split across calls.
func scanBytewise(c Codec, es []byte) Verdict {
	var s KeyframeScanner
	s.Reset(c)
	for i := range es {
		if v := s.Feed(es[i : i+1]); v != Undecided {
			return v
		}
	}
	return s.Verdict()
}

// ffprobeKeyframes returns ffprobe's key flag for each video packet of
// the clip, or nil when ffprobe is not installed.
func ffprobeKeyframes(t *testing.T, name string) []bool {
	t.Helper()
	if _, err := exec.LookPath("ffprobe"); err != nil {
		return nil
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v",
		"-show_entries", "packet=flags", "-of", "csv=p=0", "../testdata/"+name).Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	var keys []bool
	for _, l := range strings.Split(string(out), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			keys = append(keys, strings.HasPrefix(l, "K"))
		}
	}
	return keys
}

func TestKeyframeScannerClips(t *testing.T) {
	for _, c := range clips {
		data := readClip(t, c.name)
		units := collectPES(t, data, 0x100)
		probe := ffprobeKeyframes(t, c.name)
		if probe != nil && len(probe) != len(units) {
			t.Fatalf("%s: ffprobe sees %d video packets, we see %d PES", c.name, len(probe), len(units))
		}
		keys := 0
		for i, u := range units {
			v := scan(c.video, u.chunks)
			if v == Undecided {
				t.Fatalf("%s: PES %d undecided after all %d bytes", c.name, i, len(u.es))
			}
			if b := scanBytewise(c.video, u.es); b != v {
				t.Fatalf("%s: PES %d: byte-at-a-time verdict %v, per packet %v", c.name, i, b, v)
			}
			if v == Keyframe {
				keys++
			}
			if probe != nil && probe[i] != (v == Keyframe) {
				t.Errorf("%s: PES %d: verdict %v, ffprobe key=%v", c.name, i, v, probe[i])
			}
			// ffmpeg's muxer flags keyframes with random_access_indicator.
			if u.randAcc != (v == Keyframe) {
				t.Errorf("%s: PES %d: verdict %v, random_access_indicator %v", c.name, i, v, u.randAcc)
			}
		}
		if keys != c.keyframes {
			t.Errorf("%s: %d keyframes, want %d", c.name, keys, c.keyframes)
		}
		if scan(c.video, units[0].chunks) != Keyframe {
			t.Errorf("%s: first access unit is not a keyframe", c.name)
		}
		// x264 and x265 put kilobytes of headers and SEI before the first
		// slice, so that verdict needs several packets.
		if c.video != CodecMPEG2Video && scan(c.video, units[0].chunks[:1]) != Undecided {
			t.Errorf("%s: first access unit decided within one packet; the split case is not exercised", c.name)
		}
	}
}

func TestKeyframeScannerSynthetic(t *testing.T) {
	sei := append([]byte{0, 0, 0, 1, 0x06}, make([]byte, 700)...) // long SEI of zeros
	for i := 5; i < len(sei); i += 3 {
		sei[i] = 0x80 // keep it free of start codes
	}
	f := func(name string, c Codec, es []byte, want Verdict) {
		t.Helper()
		if got := scan(c, [][]byte{es}); got != want {
			t.Errorf("%s: whole = %v, want %v", name, got, want)
		}
		if got := scanBytewise(c, es); got != want {
			t.Errorf("%s: bytewise = %v, want %v", name, got, want)
		}
		for cut := 1; cut < len(es) && cut < 40; cut++ {
			if got := scan(c, [][]byte{es[:cut], es[cut:]}); got != want {
				t.Errorf("%s: split at %d = %v, want %v", name, cut, got, want)
			}
		}
	}
	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	aud := []byte{0, 0, 0, 1, 0x09, 0xF0}
	sps := []byte{0, 0, 0, 1, 0x67, 0x64, 0x00, 0x1E}
	pps := []byte{0, 0, 1, 0x68, 0xEB, 0xE3}
	idr := []byte{0, 0, 1, 0x65, 0x88, 0x84}
	nonIDR := []byte{0, 0, 1, 0x41, 0x9A, 0x02}
	f("h264 idr", CodecH264, cat(aud, sps, pps, sei, idr), Keyframe)
	f("h264 p", CodecH264, cat(aud, nonIDR), NotKeyframe)
	f("h264 p then idr", CodecH264, cat(aud, nonIDR, idr), NotKeyframe)
	f("h264 4-byte start code", CodecH264, cat([]byte{0, 0, 0, 0, 1, 0x65}), Keyframe)
	f("h264 header only", CodecH264, cat(aud, sps, pps), Undecided)
	f("h264 zeros but no start code", CodecH264, []byte{0, 0, 2, 0x65, 0, 1, 0x65}, Undecided)

	hevcNAL := func(typ byte) []byte { return []byte{0, 0, 1, typ << 1, 0x01, 0xAF} }
	f("hevc idr_w_radl", CodecHEVC, cat(hevcNAL(35), hevcNAL(32), hevcNAL(33), hevcNAL(34), hevcNAL(39), hevcNAL(19)), Keyframe)
	f("hevc cra", CodecHEVC, cat(hevcNAL(35), hevcNAL(21)), Keyframe)
	f("hevc bla", CodecHEVC, cat(hevcNAL(16)), Keyframe)
	f("hevc trail_r", CodecHEVC, cat(hevcNAL(35), hevcNAL(1)), NotKeyframe)
	f("hevc rasl", CodecHEVC, cat(hevcNAL(8)), NotKeyframe)

	seqHdr := []byte{0, 0, 1, 0xB3, 0x28, 0x01, 0x68, 0x13}
	gop := []byte{0, 0, 1, 0xB8, 0x00, 0x08, 0x00, 0x00}
	pic := func(typ byte) []byte { return []byte{0, 0, 1, 0x00, 0x00, typ<<3 | 0x07, 0xFF, 0xF8} }
	f("mpeg2 I", CodecMPEG2Video, cat(seqHdr, gop, pic(1)), Keyframe)
	f("mpeg2 I without sequence header", CodecMPEG2Video, cat(gop, pic(1)), NotKeyframe)
	f("mpeg2 P", CodecMPEG2Video, pic(2), NotKeyframe)
	f("mpeg2 B after sequence header", CodecMPEG2Video, cat(seqHdr, pic(3)), NotKeyframe)
	f("mpeg2 I with temporal_reference 0", CodecMPEG2Video, cat(seqHdr, []byte{0, 0, 1, 0, 0, 0x08}), Keyframe)

	f("audio codec", CodecAAC, cat(idr), NotKeyframe)
	f("unknown codec", CodecUnknown, cat(idr), NotKeyframe)

	// Without a verdict the scanner gives up after 64 KiB.
	var s KeyframeScanner
	s.Reset(CodecH264)
	junk := make([]byte, 4096)
	for i := range junk {
		junk[i] = 0x80
	}
	v := Undecided
	for range 16 {
		v = s.Feed(junk)
	}
	if v != NotKeyframe {
		t.Errorf("after 64 KiB of junk: %v", v)
	}
	// A decided verdict sticks until Reset.
	s.Reset(CodecH264)
	s.Feed(idr)
	if s.Feed(nonIDR) != Keyframe || s.Verdict() != Keyframe {
		t.Error("verdict changed after deciding")
	}
	s.Reset(CodecH264)
	if s.Verdict() != Undecided {
		t.Error("Reset kept the verdict")
	}
}

func TestKeyframeScannerDoesNotAllocate(t *testing.T) {
	data := readClip(t, "h264_aac.ts")
	units := collectPES(t, data, 0x100)
	var s KeyframeScanner
	allocs := testing.AllocsPerRun(20, func() {
		for _, u := range units[:30] {
			s.Reset(CodecH264)
			for _, ch := range u.chunks {
				if s.Feed(ch) != Undecided {
					break
				}
			}
		}
	})
	if allocs != 0 {
		t.Fatalf("KeyframeScanner allocates %v times per run", allocs)
	}
}
