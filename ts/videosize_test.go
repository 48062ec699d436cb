package ts

import (
	"os"
	"testing"
)

// The committed clips' picture sizes, as ffprobe gives them; no SPS (the
// wrong PID, an audio codec, a cut that holds no SPS) gives none.
func TestVideoSize(t *testing.T) {
	for _, c := range []struct {
		file          string
		pid           uint16
		codec         Codec
		width, height int
		ok            bool
	}{
		{"h264_aac.ts", 256, CodecH264, 640, 360, true},
		{"hevc_mp2.ts", 256, CodecHEVC, 640, 360, true},
		{"mpts.ts", 256, CodecH264, 320, 180, true},
		{"h264_aac.ts", 257, CodecH264, 0, 0, false},
		{"h264_aac.ts", 256, CodecAAC, 0, 0, false},
		{"hevc_mp2.ts", 256, CodecH264, 0, 0, false},
	} {
		data, err := os.ReadFile("../testdata/" + c.file)
		if err != nil {
			t.Fatal(err)
		}
		w, h, ok := VideoSize(data[:min(len(data), 64<<10)], c.pid, c.codec)
		if w != c.width || h != c.height || ok != c.ok {
			t.Errorf("%s PID %d %v: %dx%d %v, want %dx%d %v", c.file, c.pid, c.codec, w, h, ok, c.width, c.height, c.ok)
		}
	}
	if _, _, ok := VideoSize(make([]byte, 188*10), 256, CodecH264); ok {
		t.Error("zeros have a size")
	}
}

func FuzzVideoSize(f *testing.F) {
	data, err := os.ReadFile("../testdata/h264_aac.ts")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data[:188*20], uint16(256), true)
	f.Fuzz(func(t *testing.T, data []byte, pid uint16, hevc bool) {
		codec := CodecH264
		if hevc {
			codec = CodecHEVC
		}
		if w, h, ok := VideoSize(data, pid, codec); ok && (w <= 0 || h <= 0) {
			t.Fatalf("%dx%d", w, h)
		}
	})
}
