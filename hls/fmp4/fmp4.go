// Package fmp4 packages a slabcast MPEG-TS segment as CMAF / fragmented MP4:
// an init segment (ftyp+moov) and a media segment (moof+mdat) with one
// fragment for the whole segment. It is the common building block of the
// fMP4 HLS, Low-Latency HLS and MPEG-DASH outputs.
//
// Input: a TS segment as slabcast stores it — whole 188-byte packets of one
// program, starting with PAT, PMT and a video keyframe. Supported elementary
// streams are H.264 (avc1), HEVC (hvc1) and AAC in ADTS (mp4a); every other
// stream (MPEG-2 video, MPEG audio, AC-3, data...) is left out and listed in
// Segment.Skipped. Each track's fMP4 track_ID is its TS PID, so init and
// media segments made from different TS segments of the same program agree.
//
// Timing: video uses a 90 kHz timescale, AAC its sample rate. tfdt comes from
// the first sample's DTS (video) or PTS (audio), unwrapped from 33 bits to 64
// bits next to a caller-supplied reference (see Unwrap). A caller that passes
// ref = 0 gets the raw 33-bit timeline, continuous until the 26.5-hour wrap;
// to stay continuous across the wrap, pass as ref the previous segment's
// Segment.End (or any 64-bit 90 kHz time within ±13 hours of the segment).
//
// Packaging allocates; it is meant to run once per segment, off the
// per-packet path. Any input, however broken, yields an error or output,
// never a panic.
package fmp4

import (
	"errors"
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	mcfmp4 "github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"

	"github.com/slabcast/slabcast/ts"
)

// VideoTimeScale is the timescale of video tracks: the MPEG-TS 90 kHz clock.
const VideoTimeScale = 90000

// AACFrameSamples is the number of PCM samples in one AAC frame.
const AACFrameSamples = 1024

// defaultVideoDuration is the duration given to a lone video sample, in
// 90 kHz ticks (one frame at 30 fps).
const defaultVideoDuration = 3000

// maxSampleDuration bounds a sample's duration taken from DTS differences:
// a larger (or non-positive) difference is a timestamp jump, and the sample
// gets the previous sample's duration instead.
const maxSampleDuration = 10 * VideoTimeScale

// Errors.
var (
	ErrNoTracks = errors.New("fmp4: segment has no H.264, HEVC or AAC samples to carry")
	ErrNoConfig = errors.New("fmp4: track has no decoder configuration in this segment")
)

// Track describes one elementary stream carried in fMP4.
type Track struct {
	ID        int      // fMP4 track_ID; equal to PID
	PID       uint16   // TS PID
	Codec     ts.Codec // ts.CodecH264, ts.CodecHEVC or ts.CodecAAC
	TimeScale uint32   // 90000 for video; the sample rate for AAC

	// RFC 6381 codec string for CODECS / @codecs ("avc1.64001f",
	// "hvc1.1.6.L90.B0", "mp4a.40.2"); empty when unknown.
	CodecString string

	Width, Height int // video, from the SPS
	SampleRate    int // AAC
	Channels      int // AAC

	config  codecs.Codec // nil when the segment carries no configuration
	samples []sample
}

// HasConfig reports whether the segment carried the track's decoder
// configuration (parameter sets, AudioSpecificConfig), so that Init can
// describe it.
func (t *Track) HasConfig() bool { return t.config != nil }

// Samples returns the number of samples (access units, AAC frames) of the
// track in the segment.
func (t *Track) Samples() int { return len(t.samples) }

type sample struct {
	dts, pts uint64 // 33-bit 90 kHz; for audio, the PES PTS
	idx      int    // audio: frame index within its PES
	newPES   bool   // audio: first frame of a PES with a PTS
	sync     bool
	nalus    [][]byte // video
	au       []byte   // audio
}

// Segment is a parsed TS segment.
type Segment struct {
	// Tracks are the supported streams with at least one sample, in PMT
	// order.
	Tracks []*Track
	// Skipped are the program's streams left out: codecs fMP4 does not
	// carry here, and supported streams without any sample.
	Skipped []ts.PMTStream
}

// Parse demultiplexes a TS segment. It fails when the input is not TS, has
// no PAT/PMT, or has no supported stream with samples (ErrNoTracks).
func Parse(tsData []byte) (*Segment, error) {
	prog, err := demux(tsData)
	if err != nil {
		return nil, err
	}
	s := &Segment{}
	for _, st := range prog.streams {
		var t *Track
		switch st.Codec {
		case ts.CodecH264, ts.CodecHEVC:
			t = parseVideo(st, prog.pes[st.PID])
		case ts.CodecAAC:
			t = parseAAC(st, prog.pes[st.PID])
		}
		if t == nil || len(t.samples) == 0 {
			s.Skipped = append(s.Skipped, st)
			continue
		}
		s.Tracks = append(s.Tracks, t)
	}
	if len(s.Tracks) == 0 {
		return nil, fmt.Errorf("%w (streams: %s)", ErrNoTracks, describe(prog.streams))
	}
	return s, nil
}

func describe(streams []ts.PMTStream) string {
	if len(streams) == 0 {
		return "none"
	}
	out := ""
	for i, st := range streams {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("PID %d %s (type 0x%02x)", st.PID, st.Codec, st.StreamType)
	}
	return out
}

func isH264ParamOrAUD(typ uint8) bool { return typ == 7 || typ == 8 || typ == 9 }

func parseVideo(st ts.PMTStream, list []pes) *Track {
	hevc := st.Codec == ts.CodecHEVC
	t := &Track{ID: int(st.PID), PID: st.PID, Codec: st.Codec, TimeScale: VideoTimeScale}
	var vps, sps, pps []byte
	spsFromSync := false
	for _, p := range list {
		nalus := splitAnnexB(p.data)
		kept := nalus[:0]
		sync := false
		var sVPS, sSPS, sPPS []byte
		for _, n := range nalus {
			if hevc {
				if len(n) < 2 {
					continue
				}
				switch typ := n[0] >> 1 & 0x3F; {
				case typ == 35 || typ == 38: // AUD, filler
					continue
				case typ >= 16 && typ <= 21: // IRAP: BLA, IDR, CRA
					sync = true
				case typ == 32:
					sVPS = n
				case typ == 33:
					sSPS = n
				case typ == 34:
					sPPS = n
				}
			} else {
				switch n[0] & 0x1F {
				case 9, 12: // AUD, filler
					continue
				case 5:
					sync = true
				case 7:
					sSPS = n
				case 8:
					sPPS = n
				}
			}
			kept = append(kept, n)
		}
		// Parameter sets: those of the first keyframe that has them, else
		// the first ones seen.
		if sSPS != nil && sPPS != nil && (!hevc || sVPS != nil) && (sps == nil || sync && !spsFromSync) {
			vps, sps, pps, spsFromSync = sVPS, sSPS, sPPS, sync
		}
		if !p.hasPTS {
			// Continuation of the previous access unit.
			if n := len(t.samples); n > 0 {
				last := &t.samples[n-1]
				last.nalus = append(last.nalus, kept...)
				last.sync = last.sync || sync
			}
			continue
		}
		if len(kept) == 0 {
			continue
		}
		t.samples = append(t.samples, sample{dts: p.dts, pts: p.pts, sync: sync, nalus: kept})
	}
	if sps == nil {
		return t
	}
	if hevc {
		var s h265.SPS
		if s.Unmarshal(sps) != nil || s.Width() <= 0 || s.Height() <= 0 {
			return t
		}
		t.Width, t.Height = s.Width(), s.Height()
		t.config = &codecs.H265{VPS: vps, SPS: sps, PPS: pps}
		t.CodecString = hevcCodecString(&s)
	} else {
		var s h264.SPS
		if len(sps) < 4 || s.Unmarshal(sps) != nil || s.Width() <= 0 || s.Height() <= 0 {
			return t
		}
		t.Width, t.Height = s.Width(), s.Height()
		t.config = &codecs.H264{SPS: sps, PPS: pps}
		t.CodecString = fmt.Sprintf("avc1.%02x%02x%02x", sps[1], sps[2], sps[3])
	}
	return t
}

// hevcCodecString builds the ISO/IEC 14496-15 Annex E codec string.
func hevcCodecString(s *h265.SPS) string {
	ptl := s.ProfileTierLevel
	space := ""
	if ptl.GeneralProfileSpace > 0 && ptl.GeneralProfileSpace < 4 {
		space = string(rune('A' + ptl.GeneralProfileSpace - 1))
	}
	// general_profile_compatibility_flags in reverse bit order.
	var compat uint32
	for j := 0; j < 32; j++ {
		if ptl.GeneralProfileCompatibilityFlag[j] {
			compat |= 1 << j
		}
	}
	tier := "L"
	if ptl.GeneralTierFlag != 0 {
		tier = "H"
	}
	str := fmt.Sprintf("hvc1.%s%d.%X.%s%d", space, ptl.GeneralProfileIdc, compat, tier, ptl.GeneralLevelIdc)
	// Constraint flags: progressive, interlaced, non-packed, frame-only;
	// the remaining 44 bits are taken as zero.
	var c byte
	if ptl.GeneralProgressiveSourceFlag {
		c |= 0x80
	}
	if ptl.GeneralInterlacedSourceFlag {
		c |= 0x40
	}
	if ptl.GeneralNonPackedConstraintFlag {
		c |= 0x20
	}
	if ptl.GeneralFrameOnlyConstraintFlag {
		c |= 0x10
	}
	return str + fmt.Sprintf(".%X", c)
}

func parseAAC(st ts.PMTStream, list []pes) *Track {
	t := &Track{ID: int(st.PID), PID: st.PID, Codec: st.Codec}
	for _, p := range list {
		if !p.hasPTS {
			// An ADTS PES without PTS cannot be placed reliably; AAC
			// PES in slabcast segments always carry one.
			continue
		}
		for i, f := range splitADTS(p.data) {
			if t.config == nil {
				if f.freqIndex > 12 || f.channelConfig == 0 || f.objectType == 4 {
					continue // reserved rate, PCE channel layout, LTP... not supported
				}
				rate := mpeg4audioSampleRates[f.freqIndex]
				t.SampleRate, t.TimeScale = rate, uint32(rate)
				t.Channels = int(f.channelConfig)
				if f.channelConfig == 7 {
					t.Channels = 8
				}
				t.config = &codecs.MPEG4Audio{Config: mpeg4audio.AudioSpecificConfig{
					Type:          mpeg4audio.ObjectType(f.objectType),
					SampleRate:    rate,
					ChannelConfig: f.channelConfig,
				}}
				t.CodecString = fmt.Sprintf("mp4a.40.%d", f.objectType)
			} else if mpeg4audioSampleRates[min(f.freqIndex, 12)] != t.SampleRate {
				continue // a rate change mid-segment: frames would be mistimed
			}
			t.samples = append(t.samples, sample{pts: p.pts, dts: p.pts, idx: i, newPES: i == 0, sync: true, au: f.au})
		}
	}
	if t.config == nil {
		t.samples = nil // frames without a usable configuration
	}
	return t
}

var mpeg4audioSampleRates = [13]int{96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350}

// Unwrap maps a 33-bit 90 kHz timestamp to the 64-bit timeline: the value
// congruent to t modulo 2^33 nearest to ref, or t itself when that value
// would be negative.
func Unwrap(t, ref uint64) uint64 {
	t &= ts.PTSWrap - 1
	d := ts.PTSDiff(t, ref&(ts.PTSWrap-1))
	if d < 0 && uint64(-d) > ref {
		return t
	}
	return ref + uint64(d)
}

// Init returns the init segment (ftyp+moov) for the tracks with the given
// IDs, or for every track with a configuration when ids is empty. A
// requested track without configuration is an error wrapping ErrNoConfig.
func (s *Segment) Init(ids ...int) ([]byte, error) {
	tracks, err := s.pick(ids)
	if err != nil {
		return nil, err
	}
	var in mcfmp4.Init
	for _, t := range tracks {
		if t.config == nil {
			return nil, fmt.Errorf("%w: track %d (%s)", ErrNoConfig, t.ID, t.Codec)
		}
		in.Tracks = append(in.Tracks, &mcfmp4.InitTrack{ID: t.ID, TimeScale: t.TimeScale, Codec: t.config})
	}
	var buf seekablebuffer.Buffer
	if err := in.Marshal(&buf); err != nil {
		return nil, fmt.Errorf("fmp4: init segment: %w", err)
	}
	return buf.Bytes(), nil
}

// Track returns the track with the given ID, or nil.
func (s *Segment) Track(id int) *Track {
	for _, t := range s.Tracks {
		if t.ID == id {
			return t
		}
	}
	return nil
}

// pick returns the tracks named by ids, or every track with a
// configuration when ids is empty.
func (s *Segment) pick(ids []int) ([]*Track, error) {
	var out []*Track
	if len(ids) == 0 {
		for _, t := range s.Tracks {
			if t.config != nil {
				out = append(out, t)
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("%w: no track has one", ErrNoConfig)
		}
		return out, nil
	}
	for _, id := range ids {
		t := s.Track(id)
		if t == nil {
			return nil, fmt.Errorf("fmp4: segment has no track %d", id)
		}
		out = append(out, t)
	}
	return out, nil
}

// timedSample is a sample placed on the track's 64-bit timeline.
type timedSample struct {
	start    uint64 // track timescale
	duration uint32
	offset   int32 // composition offset, track timescale
}

// timeline places the samples of t on its 64-bit timeline next to ref.
func (t *Track) timeline(ref uint64) []timedSample {
	out := make([]timedSample, len(t.samples))
	if len(t.samples) == 0 {
		return out
	}
	if t.Codec == ts.CodecAAC {
		return t.audioTimeline(ref, out)
	}
	dts := Unwrap(t.samples[0].dts, ref)
	for i := range t.samples {
		s := &t.samples[i]
		out[i].start = dts
		out[i].offset = int32(ts.PTSDiff(s.pts, s.dts))
		if i+1 < len(t.samples) {
			d := ts.PTSDiff(t.samples[i+1].dts, s.dts)
			if d <= 0 || d > maxSampleDuration {
				d = 0 // a jump: fixed below
			}
			out[i].duration = uint32(d)
		}
	}
	// Samples without a usable DTS difference (the last one, jumps) take
	// the previous sample's duration.
	prev := uint32(defaultVideoDuration)
	for i := range out {
		if out[i].duration == 0 {
			out[i].duration = prev
		}
		prev = out[i].duration
		if i > 0 {
			out[i].start = out[i-1].start + uint64(out[i-1].duration)
		}
	}
	return out
}

// audioTimeline gives every AAC frame 1024 samples, starting from the first
// PES's PTS; a later PES whose PTS strays from the running time by more than
// half a frame (a gap in the source) moves the timeline to it by stretching
// the previous frame.
func (t *Track) audioTimeline(ref uint64, out []timedSample) []timedSample {
	rate := uint64(t.TimeScale)
	toRate := func(t90 uint64) uint64 { return (t90*rate + VideoTimeScale/2) / VideoTimeScale }
	pts90 := Unwrap(t.samples[0].pts, ref)
	next := toRate(pts90)
	for i := range t.samples {
		s := &t.samples[i]
		if i > 0 && s.newPES {
			pts90 = Unwrap(s.pts, pts90)
			want := toRate(pts90)
			if want > next+AACFrameSamples/2 && want-out[i-1].start <= maxSampleDuration*rate/VideoTimeScale {
				out[i-1].duration = uint32(want - out[i-1].start)
				next = want
			}
		}
		out[i] = timedSample{start: next, duration: AACFrameSamples}
		next += AACFrameSamples
	}
	return out
}

// Span returns the track's presentation interval in the segment, in its
// timescale, timestamps unwrapped next to ref (see Unwrap): the earliest
// presentation time (a DASH SegmentTimeline's S@t) and the end of the
// last sample presented, where the next segment's media begins.
func (t *Track) Span(ref uint64) (ept, end uint64) {
	tl := t.timeline(ref)
	if len(tl) == 0 {
		return 0, 0
	}
	ept = tl[0].start + uint64(max(tl[0].offset, 0))
	for _, s := range tl {
		at := s.start + uint64(max(s.offset, 0))
		ept = min(ept, at)
		end = max(end, at+uint64(s.duration))
	}
	return ept, end
}

// End returns the 64-bit 90 kHz time just after the segment's last sample,
// over all tracks, with timestamps unwrapped next to ref. Passed as ref for
// the next segment it keeps tfdt continuous across the 33-bit wrap.
func (s *Segment) End(ref uint64) uint64 {
	var end uint64
	for _, t := range s.Tracks {
		tl := t.timeline(ref)
		if len(tl) == 0 || t.TimeScale == 0 {
			continue
		}
		last := tl[len(tl)-1]
		e := last.start + uint64(last.duration)
		if t.TimeScale != VideoTimeScale {
			e = e * VideoTimeScale / uint64(t.TimeScale)
		}
		end = max(end, e)
	}
	return end
}

// Media returns the media segment (moof+mdat, one fragment) with sequence
// number seq for the tracks with the given IDs (default: those Init
// describes by default), timestamps unwrapped next to ref (see Unwrap).
// Tracks named in ids must be in Tracks but need no configuration.
func (s *Segment) Media(seq uint32, ref uint64, ids ...int) ([]byte, error) {
	tracks, err := s.pick(ids)
	if err != nil {
		return nil, err
	}
	ranges := make([]Range, len(tracks))
	for i, t := range tracks {
		ranges[i] = Range{ID: t.ID, To: len(t.samples)}
	}
	return s.Part(seq, ref, ranges)
}

// Range is samples [From, To) of track ID.
type Range struct{ ID, From, To int }

// Part returns a fragment (moof+mdat) with sequence number seq holding the
// given sample ranges, timed as in the whole segment: a Low-Latency HLS
// part. Empty ranges are left out; with none left it is an error.
func (s *Segment) Part(seq uint32, ref uint64, ranges []Range) ([]byte, error) {
	frags := make([]fragTrack, 0, len(ranges))
	for _, r := range ranges {
		t := s.Track(r.ID)
		if t == nil {
			return nil, fmt.Errorf("fmp4: segment has no track %d", r.ID)
		}
		if r.From < 0 || r.To > len(t.samples) || r.From > r.To {
			return nil, fmt.Errorf("fmp4: track %d has no samples [%d, %d)", r.ID, r.From, r.To)
		}
		if r.From == r.To {
			continue
		}
		tl := t.timeline(ref)
		frags = append(frags, fragTrack{id: uint32(t.ID), video: t.Codec != ts.CodecAAC,
			times: tl[r.From:r.To], samples: t.samples[r.From:r.To]})
	}
	if len(frags) == 0 {
		return nil, errors.New("fmp4: no samples in the part")
	}
	return appendFragment(nil, seq, frags), nil
}

// fragTrack is one track's run of samples in a fragment.
type fragTrack struct {
	id      uint32
	video   bool // samples are NAL units, written with 4-byte lengths (AVCC)
	times   []timedSample
	samples []sample
}

// ISO/IEC 14496-12 fragment flags, as mediacommon writes them.
const (
	tfhdDefaultBaseIsMoof = 0x020000
	trunDataOffset        = 0x01
	trunSampleDuration    = 0x100
	trunSampleSize        = 0x200
	trunSampleFlags       = 0x400
	trunSampleCTO         = 0x800
	sampleIsNonSync       = 1 << 16
)

func (f *fragTrack) size(i int) int {
	if !f.video {
		return len(f.samples[i].au)
	}
	n := 0
	for _, u := range f.samples[i].nalus {
		n += 4 + len(u)
	}
	return n
}

func (f *fragTrack) trunFlags() uint32 {
	flags := uint32(trunDataOffset | trunSampleDuration | trunSampleSize)
	for i := range f.samples {
		if !f.samples[i].sync {
			flags |= trunSampleFlags
		}
		if f.times[i].offset != 0 {
			flags |= trunSampleCTO
		}
	}
	return flags
}

// appendFragment appends moof+mdat for the tracks: the boxes mediacommon's
// fmp4.Part writes (tfhd default-base-is-moof, tfdt v1, trun v1), written
// directly, since its reflection-driven writer cost most of packaging.
func appendFragment(b []byte, seq uint32, frags []fragTrack) []byte {
	flags := make([]uint32, len(frags))
	moofSize := 8 + 16 // moof header, mfhd
	dataSize := 0
	for i := range frags {
		f := &frags[i]
		flags[i] = f.trunFlags()
		entry := 8
		if flags[i]&trunSampleFlags != 0 {
			entry += 4
		}
		if flags[i]&trunSampleCTO != 0 {
			entry += 4
		}
		moofSize += 8 + 16 + 20 + 20 + len(f.samples)*entry // traf, tfhd, tfdt, trun
		for j := range f.samples {
			dataSize += f.size(j)
		}
	}
	b = slicesGrow(b, moofSize+8+dataSize)
	b = box(b, moofSize, "moof")
	b = box(b, 16, "mfhd")
	b = be32(b, 0)
	b = be32(b, seq)
	dataOff := moofSize + 8 // from the start of moof to the first sample
	for i := range frags {
		f := &frags[i]
		entry := 8
		if flags[i]&trunSampleFlags != 0 {
			entry += 4
		}
		if flags[i]&trunSampleCTO != 0 {
			entry += 4
		}
		trun := 20 + len(f.samples)*entry
		b = box(b, 8+16+20+trun, "traf")
		b = box(b, 16, "tfhd")
		b = be32(b, tfhdDefaultBaseIsMoof)
		b = be32(b, f.id)
		b = box(b, 20, "tfdt")
		b = be32(b, 1<<24) // version 1
		b = be64(b, f.times[0].start)
		b = box(b, trun, "trun")
		b = be32(b, 1<<24|flags[i])
		b = be32(b, uint32(len(f.samples)))
		b = be32(b, uint32(dataOff))
		for j := range f.samples {
			size := f.size(j)
			dataOff += size
			b = be32(b, f.times[j].duration)
			b = be32(b, uint32(size))
			if flags[i]&trunSampleFlags != 0 {
				sf := uint32(0)
				if !f.samples[j].sync {
					sf = sampleIsNonSync
				}
				b = be32(b, sf)
			}
			if flags[i]&trunSampleCTO != 0 {
				b = be32(b, uint32(f.times[j].offset))
			}
		}
	}
	b = box(b, 8+dataSize, "mdat")
	for i := range frags {
		f := &frags[i]
		for j := range f.samples {
			if !f.video {
				b = append(b, f.samples[j].au...)
				continue
			}
			for _, u := range f.samples[j].nalus {
				b = be32(b, uint32(len(u)))
				b = append(b, u...)
			}
		}
	}
	return b
}

func slicesGrow(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), len(b)+n)
		copy(nb, b)
		return nb
	}
	return b
}

func box(b []byte, size int, typ string) []byte {
	b = be32(b, uint32(size))
	return append(b, typ...)
}

func be32(b []byte, v uint32) []byte {
	return append(b, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

func be64(b []byte, v uint64) []byte {
	return be32(be32(b, uint32(v>>32)), uint32(v))
}

// SampleTime is a sample on its track's 64-bit timeline, in the track's
// timescale.
type SampleTime struct {
	DTS      uint64
	Duration uint32
	Offset   int32 // presentation minus decode time
	Sync     bool
}

// Timeline returns the track's samples on its 64-bit timeline next to ref
// (see Unwrap), in decode order: where Part would place them.
func (t *Track) Timeline(ref uint64) []SampleTime {
	tl := t.timeline(ref)
	out := make([]SampleTime, len(tl))
	for i, s := range tl {
		out[i] = SampleTime{DTS: s.start, Duration: s.duration, Offset: s.offset, Sync: t.samples[i].sync}
	}
	return out
}

// Init parses a TS segment and returns its init segment and tracks.
func Init(tsData []byte) (init []byte, tracks []*Track, err error) {
	s, err := Parse(tsData)
	if err != nil {
		return nil, nil, err
	}
	init, err = s.Init()
	if err != nil {
		return nil, nil, err
	}
	for _, t := range s.Tracks {
		if t.config != nil {
			tracks = append(tracks, t)
		}
	}
	return init, tracks, nil
}

// Media parses a TS segment and returns its media segment with sequence
// number seq, for the tracks Init would describe, timestamps unwrapped next
// to ref (0, or the previous segment's End; see Unwrap).
func Media(tsData []byte, seq uint32, ref uint64) ([]byte, error) {
	s, err := Parse(tsData)
	if err != nil {
		return nil, err
	}
	return s.Media(seq, ref)
}
