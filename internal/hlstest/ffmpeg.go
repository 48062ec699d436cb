package hlstest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// RequireFFmpeg skips t when ffmpeg or ffprobe is not on PATH, or fails it
// when the environment says CI=true (CI must have them).
func RequireFFmpeg(t testing.TB) {
	t.Helper()
	for _, name := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(name); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("hlstest: %s not found and CI=true: %v", name, err)
			}
			t.Skipf("hlstest: %s not found: %v", name, err)
		}
	}
}

// run runs name with args under ctx and returns stdout and stderr. A
// non-zero exit is an error carrying stderr.
func run(ctx context.Context, name string, args ...string) (stdout, stderr []byte, err error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.WaitDelay = 2 * time.Second
	err = cmd.Run()
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return out.Bytes(), errb.Bytes(), fmt.Errorf("hlstest: %s %s: %w\n%s", name, strings.Join(args, " "), err, bytes.TrimSpace(errb.Bytes()))
	}
	return out.Bytes(), errb.Bytes(), nil
}

// FFmpeg runs `ffmpeg -hide_banner -nostdin -loglevel error -y ARGS…`, for
// making test media. A non-zero exit is an error carrying ffmpeg's stderr.
func FFmpeg(ctx context.Context, args ...string) error {
	_, _, err := run(ctx, "ffmpeg", append([]string{"-hide_banner", "-nostdin", "-loglevel", "error", "-y"}, args...)...)
	return err
}

// Decode decodes every stream of url (a file path or an http URL) with
// `ffmpeg -v error -xerror -i URL -f null -` and returns an error carrying
// ffmpeg's stderr when ffmpeg fails or reports anything at all. seconds > 0
// stops after that much output (-t), which a live playlist needs to end;
// seconds <= 0 decodes the whole input.
func Decode(ctx context.Context, url string, seconds float64) error {
	args := []string{"-hide_banner", "-nostdin", "-nostats", "-v", "error", "-xerror", "-i", url}
	if seconds > 0 {
		args = append(args, "-t", strconv.FormatFloat(seconds, 'f', -1, 64))
	}
	args = append(args, "-f", "null", "-")
	_, stderr, err := run(ctx, "ffmpeg", args...)
	if err != nil {
		return err
	}
	if msg := bytes.TrimSpace(stderr); len(msg) > 0 {
		return fmt.Errorf("hlstest: decoding %s: ffmpeg reported:\n%s", url, msg)
	}
	return nil
}

// StreamInfo is one stream as ffprobe -show_streams describes it.
type StreamInfo struct {
	Index     int    `json:"index"`
	CodecType string `json:"codec_type"` // "video", "audio", "data", …
	CodecName string `json:"codec_name"` // "h264", "hevc", "mpeg2video", "aac", "mp2", …
	Width     int    `json:"width"`      // video only
	Height    int    `json:"height"`     // video only
	Channels  int    `json:"channels"`   // audio only
}

// Probe lists the streams of url (file path or http URL) with
// `ffprobe -show_streams -of json`.
func Probe(ctx context.Context, url string) ([]StreamInfo, error) {
	out, _, err := run(ctx, "ffprobe", "-hide_banner", "-v", "error", "-show_streams", "-of", "json", url)
	if err != nil {
		return nil, err
	}
	var v struct {
		Streams []StreamInfo `json:"streams"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		return nil, fmt.Errorf("hlstest: ffprobe %s: %w", url, err)
	}
	return v.Streams, nil
}

// ErrNoFrame is returned by FirstVideoFrame when the first video packet
// decodes to no frame at all (no video stream, or a packet that cannot be
// decoded on its own, such as a slice without its parameter sets).
var ErrNoFrame = errors.New("hlstest: first video packet decodes to no frame")

// FirstVideoFrame decodes the first video packet of url (a segment file or
// URL) and reports whether the frame it gives is a keyframe, and its
// picture type ("I", "P", "B", …). It runs
// `ffprobe -flags2 +showall -select_streams v:0 -show_frames
// -read_intervals %+#1 -of json`; +showall makes the decoder output a
// frame even when the stream does not start at a random access point, so a
// segment starting mid-GOP reports key=false rather than the next GOP's
// keyframe.
func FirstVideoFrame(ctx context.Context, url string) (key bool, pictType string, err error) {
	out, _, err := run(ctx, "ffprobe", "-hide_banner", "-v", "error", "-flags2", "+showall",
		"-select_streams", "v:0", "-show_frames", "-read_intervals", "%+#1",
		"-show_entries", "frame=key_frame,pict_type", "-of", "json", url)
	if err != nil {
		return false, "", err
	}
	var v struct {
		Frames []struct {
			KeyFrame int    `json:"key_frame"`
			PictType string `json:"pict_type"`
		} `json:"frames"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		return false, "", fmt.Errorf("hlstest: ffprobe %s: %w", url, err)
	}
	if len(v.Frames) == 0 {
		return false, "", fmt.Errorf("%w: %s", ErrNoFrame, url)
	}
	return v.Frames[0].KeyFrame == 1, v.Frames[0].PictType, nil
}
