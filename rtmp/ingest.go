package rtmp

import (
	"errors"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/codecs"

	"github.com/slabcast/slabcast/ts"
)

// ingest hands one session's access units (a publisher's, or a pulled
// server's) to a ts.Muxer: the first H.264 or HEVC track and the first AAC or
// MPEG audio track are taken; any other track is left out, once said.
type ingest struct {
	mux    *ts.Muxer
	video  ts.Codec
	buf    []byte   // the access unit being made, Annex B; reused
	params [][]byte // parameter sets to put in front of the next picture
	err    error    // the first write that failed ends the session
	logf   func(string, ...any)
}

// ptsLead is added to every timestamp: RTMP's start at 0, and a
// composition offset may put a PTS a little before its DTS's zero; 90 kHz.
const ptsLead = 90000

// ts90 turns an RTMP time (milliseconds, as a Duration) into 90 kHz ticks.
func ts90(d time.Duration) uint64 {
	return uint64(int64(d)/(int64(time.Second)/90000) + ptsLead)
}

var errNoTracks = errors.New("rtmp: no track slabcast can carry (H.264, HEVC, AAC, MP3)")

// newIngest picks the tracks of r, registers a callback for every one
// (gortmplib needs one per track) and makes the muxer, which hands its runs
// of packets to emit.
func newIngest(r *gortmplib.Reader, emit func([]byte) error, logf func(string, ...any)) (*ingest, error) {
	in := &ingest{logf: logf}
	var video, audio *gortmplib.Track
	var vc, ac ts.Codec
	var asc []byte
	for _, t := range r.Tracks() {
		switch c := t.Codec.(type) {
		case *codecs.H264:
			if video == nil {
				video, vc = t, ts.CodecH264
				in.params = [][]byte{c.SPS, c.PPS}
			}
		case *codecs.H265:
			if video == nil {
				video, vc = t, ts.CodecHEVC
				in.params = [][]byte{c.VPS, c.SPS, c.PPS}
			}
		case *codecs.MPEG4Audio:
			if audio == nil && c.Config != nil {
				b, err := c.Config.Marshal()
				if err == nil {
					audio, ac, asc = t, ts.CodecAAC, b
				}
			}
		case *codecs.MPEG1Audio:
			if audio == nil {
				audio, ac = t, ts.CodecMPEGAudio
			}
		}
	}
	if video == nil && audio == nil {
		return nil, errNoTracks
	}
	mux, err := ts.NewMuxer(vc, ac, emit)
	if err != nil {
		return nil, err
	}
	if asc != nil {
		if err := mux.SetAudioConfig(asc); err != nil {
			logf("audio config %x: %v; audio left out", asc, err)
			audio = nil
			if video == nil {
				return nil, errNoTracks
			}
			if mux, err = ts.NewMuxer(vc, ts.CodecUnknown, emit); err != nil {
				return nil, err
			}
		}
	}
	in.mux, in.video = mux, vc
	for _, t := range r.Tracks() {
		switch {
		case t == video && vc == ts.CodecH264:
			r.OnDataH264(t, in.onVideo)
		case t == video:
			r.OnDataH265(t, in.onVideo)
		case t == audio && ac == ts.CodecAAC:
			r.OnDataMPEG4Audio(t, in.onAudio)
		case t == audio:
			r.OnDataMPEG1Audio(t, in.onAudio)
		default:
			logf("track %d (%T) left out: not a codec slabcast carries", t.Codec.ID(), t.Codec)
			ignore(r, t)
		}
	}
	return in, nil
}

// ignore registers a callback that drops the track's data.
func ignore(r *gortmplib.Reader, t *gortmplib.Track) {
	switch t.Codec.(type) {
	case *codecs.H264:
		r.OnDataH264(t, func(time.Duration, time.Duration, [][]byte) {})
	case *codecs.H265:
		r.OnDataH265(t, func(time.Duration, time.Duration, [][]byte) {})
	case *codecs.AV1:
		r.OnDataAV1(t, func(time.Duration, [][]byte) {})
	case *codecs.VP9:
		r.OnDataVP9(t, func(time.Duration, []byte) {})
	case *codecs.MPEG4Audio:
		r.OnDataMPEG4Audio(t, func(time.Duration, []byte) {})
	case *codecs.MPEG1Audio:
		r.OnDataMPEG1Audio(t, func(time.Duration, []byte) {})
	case *codecs.Opus:
		r.OnDataOpus(t, func(time.Duration, []byte) {})
	case *codecs.FLAC:
		r.OnDataFLAC(t, func(time.Duration, []byte) {})
	case *codecs.AC3:
		r.OnDataAC3(t, func(time.Duration, []byte) {})
	case *codecs.G711:
		r.OnDataG711(t, func(time.Duration, []byte) {})
	case *codecs.LPCM:
		r.OnDataLPCM(t, func(time.Duration, []byte) {})
	}
}

// hasPicture reports whether an access unit holds a coded picture, not
// only parameter sets (what a legacy RTMP sequence header becomes).
func hasPicture(vc ts.Codec, au [][]byte) bool {
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		if vc == ts.CodecH264 {
			if t := n[0] & 0x1F; t >= 1 && t <= 5 {
				return true
			}
		} else if n[0]>>1&0x3F < 32 {
			return true
		}
	}
	return false
}

func (in *ingest) onVideo(pts, dts time.Duration, au [][]byte) {
	if in.err != nil {
		return
	}
	if !hasPicture(in.video, au) {
		// A sequence header: its parameter sets go in front of the next
		// picture, and the muxer keeps them for the IDRs after.
		in.params = append(in.params[:0], au...)
		for i, p := range in.params {
			in.params[i] = append([]byte(nil), p...)
		}
		return
	}
	in.buf = in.buf[:0]
	if in.params != nil {
		in.buf = ts.AppendAnnexB(in.buf, in.params)
		in.params = nil
	}
	in.buf = ts.AppendAnnexB(in.buf, au)
	in.err = in.mux.WriteVideo(ts90(pts), ts90(dts), false, in.buf)
}

func (in *ingest) onAudio(pts time.Duration, frame []byte) {
	if in.err == nil {
		in.err = in.mux.WriteAudio(ts90(pts), frame)
	}
}
