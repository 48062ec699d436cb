// Package clip makes the benchmarks' MPEG-TS clips with ffmpeg: testsrc2
// video in H.264 CBR (filler NAL units, a fixed GOP, no scene cut) and a
// 440 Hz sine in AAC, after a Recipe. Made clips are cached by name.
package clip

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

// Recipe is what ffmpeg is asked for.
type Recipe struct {
	Size    string // "1280x720"
	FPS     int
	Seconds int // the video's length
	// AudioSeconds is the sine's length; 0 cuts audio and video together
	// at Seconds on the output.
	AudioSeconds float64
	GOP          int    // frames
	Preset       string // libx264 preset
	Video        int64  // bit/s: -b:v, -minrate and -maxrate
	Bufsize      int64  // bits
	X264         string // -x264-params
	Channels     int    // audio channels; 0: the sine's one
	PCRPeriod    int    // ms; 0: ffmpeg's default
}

// args is the ffmpeg command line writing r to out.
func (r Recipe) args(out string) []string {
	n := strconv.Itoa
	a := []string{"-hide_banner", "-loglevel", "error", "-y", "-nostdin"}
	if r.AudioSeconds > 0 {
		a = append(a, "-t", n(r.Seconds))
	}
	sine := "sine=frequency=440:sample_rate=48000"
	if r.AudioSeconds > 0 {
		sine += ":duration=" + strconv.FormatFloat(r.AudioSeconds, 'f', -1, 64)
	}
	a = append(a, "-f", "lavfi", "-i", "testsrc2=size="+r.Size+":rate="+n(r.FPS), "-f", "lavfi", "-i", sine)
	if r.AudioSeconds <= 0 {
		a = append(a, "-t", n(r.Seconds))
	}
	v := strconv.FormatInt(r.Video, 10)
	a = append(a, "-map", "0:v", "-map", "1:a",
		"-c:v", "libx264", "-preset", r.Preset, "-pix_fmt", "yuv420p",
		"-g", n(r.GOP), "-keyint_min", n(r.GOP), "-sc_threshold", "0",
		"-b:v", v, "-minrate", v, "-maxrate", v, "-bufsize", strconv.FormatInt(r.Bufsize, 10),
		"-x264-params", r.X264, "-c:a", "aac", "-b:a", "128k")
	if r.Channels > 0 {
		a = append(a, "-ac", n(r.Channels))
	}
	if r.PCRPeriod > 0 {
		a = append(a, "-pcr_period", n(r.PCRPeriod))
	}
	return append(a, "-f", "mpegts", out)
}

// Encode runs ffmpeg for r, writing out.
func Encode(ctx context.Context, out string, r Recipe) error {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		return fmt.Errorf("clip: %w (make deps installs ffmpeg)", err)
	}
	if b, err := exec.CommandContext(ctx, "ffmpeg", r.args(out)...).CombinedOutput(); err != nil {
		return fmt.Errorf("clip: ffmpeg making %s: %w: %s", filepath.Base(out), err, bytes.TrimSpace(b))
	}
	return nil
}

// Cached returns dir/name, making it first when it is not there: make
// writes a temporary file, which becomes dir/name when make succeeds.
func Cached(dir, name string, make func(tmp string) error) (string, error) {
	path := filepath.Join(dir, name)
	if st, err := os.Stat(path); err == nil && st.Size() > 0 {
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("clip: %w", err)
	}
	// A temporary name of its own: test packages run in parallel and may
	// make the same clip at once (a shared name gave one a half-written
	// file). It ends in the clip's extension, which ffmpeg reads the format
	// from.
	f, err := os.CreateTemp(dir, "."+name+".*.part"+filepath.Ext(name))
	if err != nil {
		return "", fmt.Errorf("clip: %w", err)
	}
	tmp := f.Name()
	f.Close()
	if err := make(tmp); err != nil {
		os.Remove(tmp)
		return "", err
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("clip: %w", err)
	}
	return path, nil
}

// ChannelSeconds is the length of a Channel clip: two 2 s segments.
const ChannelSeconds = 4

const audioBitrate = 128_000

// Channel returns a constant-bitrate clip of about mbps Mbit/s in dir,
// making it when it is not there yet: testsrc2 at 1280×720 (640×360 below
// 2 Mbit/s), 25 frames/s, libx264 veryfast, a keyframe every second, AAC,
// ChannelSeconds long. The video rate is set so that the whole transport
// stream, overhead included, comes to within about 1% of mbps as
// feed.Clip.Bitrate measures it; senders pace each channel at that rate.
func Channel(ctx context.Context, dir string, mbps float64) (string, error) {
	if mbps <= 0 {
		return "", fmt.Errorf("clip: bitrate %v Mbit/s", mbps)
	}
	r := Recipe{Size: "1280x720", FPS: 25, Seconds: ChannelSeconds, GOP: 25, Preset: "veryfast", X264: "nal-hrd=cbr"}
	if mbps < 2 {
		r.Size = "640x360"
	}
	name := fmt.Sprintf("testsrc2-720p25-%sM-%ds-v3.ts", strconv.FormatFloat(mbps, 'f', -1, 64), ChannelSeconds)
	return Cached(dir, name, func(tmp string) error {
		// x264's CBR lands within a few per cent of the rate asked, and the
		// TS and PES headers add some: encode once, measure, and encode
		// again with the video rate corrected by the difference.
		r.Video = int64(mbps*1e6) - audioBitrate
		for try := 0; ; try++ {
			if r.Video < 100_000 {
				return fmt.Errorf("clip: %v Mbit/s leaves no room for video", mbps)
			}
			r.Bufsize = r.Video / 2
			if err := Encode(ctx, tmp, r); err != nil {
				return err
			}
			c, err := feed.LoadClip(tmp)
			if err != nil {
				return err
			}
			off := mbps*1e6 - c.Bitrate()
			if try == 1 || math.Abs(off) < 0.01*mbps*1e6 {
				return nil
			}
			r.Video += int64(off)
		}
	})
}

// ChannelOr is Channel, or, when the clip cannot be made (no ffmpeg, say)
// and fallback names a clip, fallback, the reason logged through logf.
func ChannelOr(ctx context.Context, dir string, mbps float64, fallback string, logf func(string, ...any)) (string, error) {
	path, err := Channel(ctx, dir, mbps)
	if err != nil && fallback != "" {
		logf("%v; using %s", err, fallback)
		return fallback, nil
	}
	return path, err
}

// FeedRecipe says how Feed encodes; results files quote it.
const FeedRecipe = "ffmpeg testsrc2 1280x720 25 fps, libx264 ultrafast, CBR (nal-hrd=cbr), GOP 50 (a keyframe every 2 s, no scene cut), AAC 128 kbit/s, PCR every 20 ms, 10 s"

// Feed makes a 10 s clip of about bitrate bit/s in total (FeedRecipe) in
// dir, for `slabcast feed --loop`, and returns its path.
func Feed(ctx context.Context, dir string, bitrate float64) (string, error) {
	// The video gets what is left after audio and about 6% of TS and PES
	// overhead.
	video := int64(bitrate*0.94) - audioBitrate
	if video < 100_000 {
		return "", fmt.Errorf("clip: bitrate %.0f too low for a clip", bitrate)
	}
	return Cached(dir, fmt.Sprintf("clip-%dk.ts", int(bitrate/1000)), func(tmp string) error {
		return Encode(ctx, tmp, Recipe{Size: "1280x720", FPS: 25, Seconds: 10, AudioSeconds: 9.96, GOP: 50,
			Preset: "ultrafast", Video: video, Bufsize: video, X264: "nal-hrd=cbr:force-cfr=1", Channels: 2, PCRPeriod: 20})
	})
}
