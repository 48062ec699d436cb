package latency

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/slabcast/slabcast/bench/ingest"
	"github.com/slabcast/slabcast/ts"
)

// makeClip returns the path of c's file, encoding it with ffmpeg into dir
// first when it is not there yet.
func makeClip(c Clip, dir string, gop int) (string, error) {
	if c.Path != "" {
		return c.Path, nil
	}
	if c.Kbps <= 0 || gop <= 0 {
		return "", fmt.Errorf("latency: clip %q needs a Path or a Kbps and a GOP", c.Name)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("latency: %w", err)
	}
	path := filepath.Join(dir, fmt.Sprintf("testsrc2-720p24-g%d-%dk.ts", gop, c.Kbps))
	if st, err := os.Stat(path); err == nil && st.Size() > 0 {
		return path, nil
	}
	ff, err := exec.LookPath("ffmpeg")
	if err != nil {
		return "", fmt.Errorf("latency: making clip %q: %w (make deps installs ffmpeg)", c.Name, err)
	}
	k := strconv.Itoa(c.Kbps) + "k"
	tmp := path + ".part"
	// CBR with filler NAL units (nal-hrd=cbr) keeps the rate steady without
	// null packets; a PCR every 20 ms; the audio a little shorter than the
	// video so the looped video timeline continues seamlessly (as
	// testdata/make-clips.sh does).
	cmd := exec.Command(ff, "-hide_banner", "-loglevel", "error", "-y",
		"-t", "10", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=24",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=9.96",
		"-map", "0:v", "-map", "1:a",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
		"-g", strconv.Itoa(gop), "-keyint_min", strconv.Itoa(gop), "-sc_threshold", "0",
		"-b:v", k, "-minrate", k, "-maxrate", k, "-bufsize", strconv.Itoa(c.Kbps/2)+"k",
		"-x264-params", "nal-hrd=cbr",
		"-c:a", "aac", "-b:a", "128k", "-ac", "2",
		"-pcr_period", "20", "-f", "mpegts", tmp)
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("latency: ffmpeg for clip %q: %v: %s", c.Name, err, out)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("latency: %w", err)
	}
	return path, nil
}

// plan is what the sender and the matcher know about a looped clip: when
// each datagram of its buffer is due, which packet of it (if any) is its
// marker, and which datagrams carry a keyframe's first packet.
type plan struct {
	clip *ingest.Clip
	// due is each datagram's offset from the start of the buffer by the
	// PCR (interpolated at its first packet); loop is the media time of
	// the whole buffer.
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
	c, err := ingest.LoadClip(path)
	if err != nil {
		return nil, fmt.Errorf("latency: %w", err)
	}
	n := c.Datagrams()
	pl := &plan{
		clip:     c,
		due:      make([]time.Duration, n),
		loop:     time.Duration(c.Passes()) * c.PassDuration(),
		marker:   make([]int16, n),
		keyframe: make([]bool, n),
		bitrate:  c.Bitrate(),
	}
	es, video, err := programPIDs(c)
	if err != nil {
		return nil, err
	}
	pl.videoPID = video

	// PCRs of the PCR PID (the first PID seen with one) by packet index.
	type mark struct {
		pkt int
		pcr uint64
	}
	var pcrs []mark
	pcrPID := -1
	for i := range n {
		d := c.Datagram(i)
		pl.marker[i] = -1
		for off := 0; off < len(d); off += ts.PacketSize {
			p := d[off : off+ts.PacketSize]
			pid := ts.PID(p)
			pcr, hasPCR := ts.PCR(p)
			if hasPCR && (pcrPID < 0 || int(pid) == pcrPID) {
				pcrPID = int(pid)
				pcrs = append(pcrs, mark{i*ingest.DatagramPackets + off/ts.PacketSize, pcr})
			}
			if !es[pid] {
				continue
			}
			pl.marker[i] = int16(off)
			if pid == video && ts.PUSI(p) && ts.RandomAccessIndicator(p) {
				pl.keyframe[i] = true
			}
		}
	}
	if len(pcrs) < 2 {
		return nil, errors.New("latency: clip has fewer than two PCRs")
	}
	// Interpolate each datagram's first packet between the PCRs around it
	// (27 MHz ticks from the first PCR); before the first and after the
	// last, between the last of the previous loop and the first of the next.
	type at struct {
		pkt   int
		ticks int64
	}
	total := n * ingest.DatagramPackets
	loopTicks := int64(pl.loop/time.Nanosecond) * 27 / 1000
	ext := make([]at, 0, len(pcrs)+2)
	last := pcrs[len(pcrs)-1]
	ext = append(ext, at{last.pkt - total, ts.PCRDiff(last.pcr, pcrs[0].pcr) - loopTicks})
	for _, m := range pcrs {
		ext = append(ext, at{m.pkt, ts.PCRDiff(m.pcr, pcrs[0].pcr)})
	}
	ext = append(ext, at{pcrs[0].pkt + total, loopTicks})
	j := 0
	for i := range n {
		pkt := i * ingest.DatagramPackets
		for j+2 < len(ext) && ext[j+1].pkt <= pkt {
			j++
		}
		a, b := ext[j], ext[j+1]
		t := float64(a.ticks)
		if b.pkt > a.pkt {
			t += float64(b.ticks-a.ticks) * float64(pkt-a.pkt) / float64(b.pkt-a.pkt)
		}
		pl.due[i] = time.Duration(t * 1000 / 27)
	}
	base := pl.due[0]
	for i := range pl.due {
		pl.due[i] -= base
	}
	return pl, nil
}

// programPIDs returns the elementary PIDs of the clip's first program and
// its video PID.
func programPIDs(c *ingest.Clip) (es [ts.MaxPID + 1]bool, video uint16, err error) {
	var patAsm, pmtAsm ts.SectionAssembler
	pmtPID := -1
	for i := range c.Datagrams() {
		d := c.Datagram(i)
		for off := 0; off < len(d); off += ts.PacketSize {
			p := d[off : off+ts.PacketSize]
			pid := int(ts.PID(p))
			switch {
			case pid == ts.PATPID && pmtPID < 0:
				sec, ok := patAsm.Push(p)
				if !ok {
					continue
				}
				pat, err := ts.ParsePAT(sec)
				if err != nil {
					continue
				}
				for _, pr := range pat.Programs {
					if pr.Number != 0 {
						pmtPID = int(pr.PMTPID)
						break
					}
				}
			case pid == pmtPID:
				sec, ok := pmtAsm.Push(p)
				if !ok {
					continue
				}
				pmt, err := ts.ParsePMT(sec)
				if err != nil {
					continue
				}
				found := false
				for _, s := range pmt.Streams {
					es[s.PID] = true
					if s.Codec.IsVideo() && !found {
						video, found = s.PID, true
					}
				}
				if found {
					return es, video, nil
				}
			}
		}
	}
	return es, 0, errNoProgram
}
