package latency

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/slabcast/slabcast/bench/internal/clip"
	"github.com/slabcast/slabcast/feed"
	"github.com/slabcast/slabcast/ts"
)

// makeClip returns the path of c's file, encoding it with ffmpeg into dir
// first when it is not there yet. CBR with filler NAL units (nal-hrd=cbr)
// keeps the rate steady without null packets; a PCR every 20 ms; the audio
// a little shorter than the video so the looped video timeline continues
// seamlessly (as testdata/make-clips.sh does).
func makeClip(ctx context.Context, c Clip, dir string, gop int) (string, error) {
	if c.Path != "" {
		return c.Path, nil
	}
	if c.Kbps <= 0 || gop <= 0 {
		return "", fmt.Errorf("latency: clip %q needs a Path or a Kbps and a GOP", c.Name)
	}
	video := int64(c.Kbps) * 1000
	return clip.Cached(dir, fmt.Sprintf("testsrc2-720p24-g%d-%dk.ts", gop, c.Kbps), func(tmp string) error {
		return clip.Encode(ctx, tmp, clip.Recipe{Size: "1280x720", FPS: 24, Seconds: 10, AudioSeconds: 9.96, GOP: gop,
			Preset: "ultrafast", Video: video, Bufsize: video / 2, X264: "nal-hrd=cbr", Channels: 2, PCRPeriod: 20})
	})
}

// plan is what the sender and the matcher know about a looped clip: when
// each datagram of its buffer is due, which packet of it (if any) is its
// marker, and which datagrams carry a keyframe's first packet.
type plan struct {
	clip *feed.Buffer
	// due is each datagram's offset from the start of the buffer on the
	// stream's clock; loop is the media time of the whole buffer.
	due  []time.Duration
	loop time.Duration
	// marker is the offset in the datagram of its last packet on an
	// elementary PID of the program (slabcast forwards those unchanged),
	// -1 if none.
	marker []int16
	// keyframe is true for datagrams carrying the first packet of a
	// keyframe's PES on the video PID (random_access_indicator set).
	keyframe []bool
	videoPID uint16
	bitrate  float64 // bit/s
}

var errNoProgram = errors.New("latency: clip has no PAT/PMT with a video stream")

// newPlan loads path as a seamlessly looping clip and plans it.
func newPlan(path string) (*plan, error) {
	c, err := feed.LoadClip(path)
	if err != nil {
		return nil, fmt.Errorf("latency: %w", err)
	}
	b := feed.NewBuffer(c)
	n := b.Datagrams()
	pl := &plan{
		clip:     b,
		due:      make([]time.Duration, n),
		loop:     b.Duration(),
		marker:   make([]int16, n),
		keyframe: make([]bool, n),
		bitrate:  c.Bitrate(),
	}
	var es [ts.MaxPID + 1]bool
	found := false
	if pmt := c.PMT(); pmt != nil {
		for _, s := range pmt.Streams {
			es[s.PID] = true
			if s.Codec.IsVideo() && !found {
				pl.videoPID, found = s.PID, true
			}
		}
	}
	if !found {
		return nil, errNoProgram
	}
	for i := range n {
		pl.due[i] = b.Due(i)
		pl.marker[i] = -1
		d := b.Datagram(i)
		for off := 0; off < len(d); off += ts.PacketSize {
			p := d[off : off+ts.PacketSize]
			pid := ts.PID(p)
			if !es[pid] {
				continue
			}
			pl.marker[i] = int16(off)
			if pid == pl.videoPID && ts.PUSI(p) && ts.RandomAccessIndicator(p) {
				pl.keyframe[i] = true
			}
		}
	}
	return pl, nil
}
