package channels

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/slabcast/slabcast/feed"
)

// ClipSeconds is the length of a generated clip: two 2 s segments.
const ClipSeconds = 4

// audioBitrate is the AAC track of a generated clip.
const audioBitrate = 128_000

// MakeClip returns a constant-bitrate MPEG-TS clip of about mbps Mbit/s in
// dir, making it with ffmpeg when it is not there yet: testsrc2 at 1280×720,
// 25 frames/s, H.264 (libx264, CBR with filler, a keyframe every second, no
// scene cuts) and a sine in AAC, ClipSeconds long. The video rate is set so
// that the whole transport stream, overhead included, comes to within
// about 1% of mbps; the sender paces each channel at the clip's own
// measured rate.
func MakeClip(ctx context.Context, dir string, mbps float64) (string, error) {
	if mbps <= 0 {
		return "", fmt.Errorf("channels: clip bitrate %v Mbit/s", mbps)
	}
	name := fmt.Sprintf("testsrc2-720p25-%sM-%ds-v3.ts", strconv.FormatFloat(mbps, 'f', -1, 64), ClipSeconds)
	path := filepath.Join(dir, name)
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		return "", fmt.Errorf("channels: making a %v Mbit/s clip: %w", mbps, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("channels: %w", err)
	}
	size := "1280x720"
	if mbps < 2 {
		size = "640x360"
	}
	tmp := path + ".tmp.ts"
	// x264's CBR lands within a few per cent of the rate asked, and the TS
	// and PES headers add some: encode once, measure, and encode again
	// with the video rate corrected by the difference.
	video := int64(mbps*1e6) - audioBitrate
	for try := 0; ; try++ {
		if video < 100_000 {
			return "", fmt.Errorf("channels: %v Mbit/s leaves no room for video", mbps)
		}
		if err := encodeClip(ctx, tmp, size, video); err != nil {
			os.Remove(tmp)
			return "", fmt.Errorf("channels: ffmpeg making %s: %w", name, err)
		}
		c, err := feed.LoadClip(tmp)
		if err != nil {
			os.Remove(tmp)
			return "", err
		}
		off := mbps*1e6 - c.Bitrate()
		if try == 1 || math.Abs(off) < 0.01*mbps*1e6 {
			break
		}
		video += int64(off)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("channels: %w", err)
	}
	return path, nil
}

func encodeClip(ctx context.Context, out, size string, video int64) error {
	v := strconv.FormatInt(video, 10)
	cmd := exec.CommandContext(ctx, "ffmpeg", "-y", "-nostdin", "-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc2=size="+size+":rate=25",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", strconv.Itoa(ClipSeconds), "-map", "0:v", "-map", "1:a",
		"-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
		"-g", "25", "-keyint_min", "25", "-sc_threshold", "0",
		"-b:v", v, "-minrate", v, "-maxrate", v, "-bufsize", strconv.FormatInt(video/2, 10),
		"-x264-params", "nal-hrd=cbr",
		"-c:a", "aac", "-b:a", strconv.Itoa(audioBitrate), "-f", "mpegts", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%w: %s", err, bytes.TrimSpace(b))
	}
	return nil
}
