// Package rtsp pulls rtsp:// inputs, cameras and encoders, into streams:
// H.264, HEVC and AAC tracks through a ts.Muxer, MPEG-TS over RTP (RFC
// 2250) as it is.
//
// The protocol is github.com/bluenviron/gortsplib/v4, pinned at v4.12.3:
// MediaMTX's RTSP, with TCP (interleaved) and UDP transports, Basic and
// Digest authentication and the RTP depacketizers of every codec here;
// writing RTSP again would only add the bugs cameras are known to tickle.
package rtsp

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtpmpeg4audio"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"
	"github.com/bluenviron/mediacommon/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/pkg/codecs/mpeg4audio"
	"github.com/pion/rtp"

	"github.com/slabcast/slabcast/ts"
)

// Error says why a pull ended, by reason for the counters: "connect" (no
// connection, or no answer), "status" (the server answered a request with
// an error: 401, 404, …), "read" (the session failed, stalled or ended),
// "not_ts" (nothing slabcast carries among the tracks).
type Error struct {
	Reason string
	Err    error
}

func (e *Error) Error() string      { return e.Err.Error() }
func (e *Error) Unwrap() error      { return e.Err }
func (e *Error) PullReason() string { return e.Reason }

// Input is an rtsp:// input: the URL (credentials in it, as cameras take
// them) and the transport of RTP, "tcp" (interleaved, the default: it
// crosses NAT and firewalls) or "udp".
type Input struct {
	URL       string
	Transport string
}

// Check validates an rtsp:// input URL.
func Check(input string) error {
	u, err := base.ParseURL(input)
	if err != nil {
		return fmt.Errorf("rtsp: %w", err)
	}
	if u.Scheme != "rtsp" || u.Hostname() == "" {
		return errors.New("rtsp: expected rtsp://[USER:PASSWORD@]HOST[:PORT]/PATH")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("rtsp: port %s is not 1..65535", p)
		}
	}
	return nil
}

// tsLead is added to every timestamp (90 kHz): the first track starts at
// 0, and an HEVC DTS can start below it.
const tsLead = 10 * 90000

// Pull plays the input and hands its media to emit as runs of TS packets
// (f frames MPEG-TS payloads) until ctx ends, emit fails, or the session
// ends: the server closes it, or nothing arrives for stall. It returns an
// *Error (or ctx's error, or emit's).
func Pull(ctx context.Context, in Input, stall time.Duration, f *ts.Framer, emit func([]byte) error) error {
	u, err := base.ParseURL(in.URL)
	if err != nil {
		return &Error{"connect", err}
	}
	stall = min(max(stall, 2*time.Second), time.Minute)
	quiet := func(error) {}
	c := &gortsplib.Client{ReadTimeout: stall, WriteTimeout: 10 * time.Second,
		OnPacketLost: quiet, OnDecodeError: quiet, OnTransportSwitch: quiet}
	t := gortsplib.TransportTCP
	if in.Transport == "udp" {
		t = gortsplib.TransportUDP
	}
	c.Transport = &t
	if err := c.Start(u.Scheme, u.Host); err != nil {
		return &Error{"connect", err}
	}
	defer c.Close()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-ctx.Done():
			c.Close()
		case <-stop:
		}
	}()
	fail := func(step string, err error) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var bad liberrors.ErrClientBadStatusCode
		if errors.As(err, &bad) {
			return &Error{"status", fmt.Errorf("rtsp: %s: %d %s", step, bad.Code, bad.Message)}
		}
		return &Error{"connect", fmt.Errorf("rtsp: %s: %w", step, err)}
	}
	desc, _, err := c.Describe(u)
	if err != nil {
		return fail("DESCRIBE", err)
	}
	s := &session{c: c, f: f, emit: emit}
	medias, err := s.choose(desc)
	if err != nil {
		return &Error{"not_ts", err}
	}
	for _, m := range medias {
		if _, err := c.Setup(desc.BaseURL, m, 0, 0); err != nil {
			return fail("SETUP", err)
		}
	}
	if err := s.attach(); err != nil {
		return &Error{"not_ts", err}
	}
	if _, err := c.Play(nil); err != nil {
		return fail("PLAY", err)
	}
	err = c.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.err != nil:
		return s.err // emit failed: the stream is done with this input
	case ctx.Err() != nil:
		return ctx.Err()
	}
	if s.mux != nil {
		s.mux.Flush()
	}
	return &Error{"read", fmt.Errorf("rtsp: %w", err)}
}

// session is one play of an input: the tracks taken and where they go.
// gortsplib calls back from a goroutine per UDP socket (one for TCP), so
// everything here runs under mu.
type session struct {
	c    *gortsplib.Client
	f    *ts.Framer
	emit func([]byte) error

	mpegts *format.MPEGTS
	tsm    *description.Media
	h264   *format.H264
	h265   *format.H265
	vm     *description.Media
	aac    *format.MPEG4Audio
	am     *description.Media

	mu  sync.Mutex
	mux *ts.Muxer
	err error  // the first emit error
	buf []byte // the access unit being made, Annex B
}

// choose picks what to play: MPEG-TS when the server offers it (it goes
// through unchanged), else the first H.264 or HEVC track and the first
// AAC track.
func (s *session) choose(desc *description.Session) ([]*description.Media, error) {
	if m := desc.FindFormat(&s.mpegts); m != nil {
		s.tsm = m
		return []*description.Media{m}, nil
	}
	var out []*description.Media
	if m := desc.FindFormat(&s.h264); m != nil {
		s.vm = m
	} else if m := desc.FindFormat(&s.h265); m != nil {
		s.vm = m
	}
	if s.vm != nil {
		out = append(out, s.vm)
	}
	if m := desc.FindFormat(&s.aac); m != nil && s.aac.GetConfig() != nil {
		s.am = m
		out = append(out, m)
	} else {
		s.aac = nil
	}
	if len(out) == 0 {
		var codecs []string
		for _, m := range desc.Medias {
			for _, f := range m.Formats {
				codecs = append(codecs, f.Codec())
			}
		}
		return nil, fmt.Errorf("rtsp: no track slabcast carries (H.264, HEVC, AAC, MPEG-TS) among %s", strings.Join(codecs, ", "))
	}
	return out, nil
}

// attach makes the muxer and registers the callbacks, after SETUP (as
// gortsplib requires).
func (s *session) attach() error {
	if s.tsm != nil {
		s.c.OnPacketRTP(s.tsm, s.mpegts, func(pkt *rtp.Packet) {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.err == nil {
				s.err = s.f.Feed(pkt.Payload, s.emit)
			}
		})
		return nil
	}
	vc, ac := ts.CodecUnknown, ts.CodecUnknown
	switch {
	case s.h264 != nil:
		vc = ts.CodecH264
	case s.h265 != nil:
		vc = ts.CodecHEVC
	}
	if s.aac != nil {
		ac = ts.CodecAAC
	}
	mux, err := ts.NewMuxer(vc, ac, s.emit)
	if err != nil {
		return err
	}
	if s.aac != nil {
		asc, err := s.aac.GetConfig().Marshal()
		if err == nil {
			err = mux.SetAudioConfig(asc)
		}
		if err != nil {
			return fmt.Errorf("rtsp: audio config: %w", err)
		}
	}
	s.mux = mux
	switch {
	case s.h264 != nil:
		s.onH264()
	case s.h265 != nil:
		s.onH265()
	}
	if s.aac != nil {
		s.onAAC()
	}
	return nil
}

// h26x is what onVideo needs of H.264 or HEVC.
type h26x struct {
	decode func(*rtp.Packet) ([][]byte, error)                // an access unit, once its last packet is in
	random func(au [][]byte) bool                             // an IDR (H.264) or IRAP (HEVC) picture
	newDTS func() func(au [][]byte, pts int64) (int64, error) // a DTS extractor, started at a random access
	params func() [][]byte                                    // the SDP's parameter sets
	isSPS  func(nal []byte) bool
}

func (s *session) onH264() {
	dec, err := s.h264.CreateDecoder()
	if err != nil {
		return
	}
	f := s.h264
	s.onVideo(f, h26x{
		decode: dec.Decode,
		random: h264.IDRPresent,
		newDTS: func() func([][]byte, int64) (int64, error) { return h264.NewDTSExtractor2().Extract },
		params: func() [][]byte { sps, pps := f.SafeParams(); return [][]byte{sps, pps} },
		isSPS:  func(n []byte) bool { return n[0]&0x1F == 7 },
	})
}

func (s *session) onH265() {
	dec, err := s.h265.CreateDecoder()
	if err != nil {
		return
	}
	f := s.h265
	s.onVideo(f, h26x{
		decode: dec.Decode,
		random: h265.IsRandomAccess,
		newDTS: func() func([][]byte, int64) (int64, error) { return h265.NewDTSExtractor2().Extract },
		params: func() [][]byte { vps, sps, pps := f.SafeParams(); return [][]byte{vps, sps, pps} },
		isSPS:  func(n []byte) bool { return n[0]>>1&0x3F == 33 },
	})
}

// onVideo registers the video track's callback: access units from its
// first random access picture on, the SDP's parameter sets put in front of
// a random access unit that lacks them (cameras and ffmpeg often send them
// only there), DTS from the reorder, to the muxer.
func (s *session) onVideo(f format.Format, v h26x) {
	m := s.vm
	var dts func([][]byte, int64) (int64, error)
	s.c.OnPacketRTP(m, f, func(pkt *rtp.Packet) {
		pts, ok := s.c.PacketPTS2(m, pkt)
		if !ok {
			return
		}
		au, err := v.decode(pkt)
		if err != nil {
			return // more packets needed, or joined mid-frame: the next frame
		}
		random := v.random(au)
		if dts == nil {
			if !random {
				return // timestamps (and decoding) start at a random access picture
			}
			dts = v.newDTS()
		}
		if random {
			au = withParams(au, v.isSPS, v.params()...)
		}
		d, err := dts(au, pts)
		if err != nil {
			dts = nil // start again at the next random access picture
			return
		}
		s.writeVideo(pts, d, au)
	})
}

func (s *session) onAAC() {
	dec, err := s.aac.CreateDecoder()
	if err != nil {
		return
	}
	m := s.am
	rate := int64(s.aac.ClockRate())
	s.c.OnPacketRTP(m, s.aac, func(pkt *rtp.Packet) {
		pts, ok := s.c.PacketPTS2(m, pkt)
		if !ok {
			return
		}
		aus, err := dec.Decode(pkt)
		if err != nil && !errors.Is(err, rtpmpeg4audio.ErrMorePacketsNeeded) {
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		for i, au := range aus {
			if s.err != nil {
				return
			}
			t := (pts + int64(i)*mpeg4audio.SamplesPerAccessUnit) * 90000 / rate
			s.err = s.mux.WriteAudio(uint64(t+tsLead), au)
		}
	})
}

// writeVideo writes one access unit (NAL units) at pts and dts (90 kHz).
func (s *session) writeVideo(pts, dts int64, au [][]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return
	}
	s.buf = ts.AppendAnnexB(s.buf[:0], au)
	s.err = s.mux.WriteVideo(uint64(pts+tsLead), uint64(dts+tsLead), false, s.buf)
}

// withParams puts params in front of a random access unit that lacks its
// own (isSPS finds one); all params must be known.
func withParams(au [][]byte, isSPS func([]byte) bool, params ...[]byte) [][]byte {
	for _, n := range au {
		if len(n) > 0 && isSPS(n) {
			return au
		}
	}
	for _, p := range params {
		if len(p) == 0 {
			return au
		}
	}
	return append(append(make([][]byte, 0, len(params)+len(au)), params...), au...)
}
