package hlstest

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// mediaDir holds media made once for the package's tests.
var mediaDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hlstest-")
	if err != nil {
		panic(err)
	}
	mediaDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// source is a short testsrc2 + sine source with a fixed one-second GOP.
var source = []string{
	"-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25",
	"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
	"-map", "0:v", "-map", "1:a",
	"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
	"-g", "25", "-keyint_min", "25", "-sc_threshold", "0",
	"-c:a", "aac", "-b:a", "64k",
}

var (
	clipOnce sync.Once
	clipErr  error
)

// clip returns the path of a 4 s MPEG-TS made by ffmpeg from source.
func clip(t *testing.T) string {
	t.Helper()
	RequireFFmpeg(t)
	path := filepath.Join(mediaDir, "clip.ts")
	clipOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		args := append(append([]string(nil), source...), "-t", "4")
		clipErr = FFmpeg(ctx, append(args, "-f", "mpegts", path)...)
	})
	if clipErr != nil {
		t.Fatal(clipErr)
	}
	return path
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testContext(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
