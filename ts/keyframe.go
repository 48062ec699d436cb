package ts

// Verdict is a KeyframeScanner's answer about one access unit.
type Verdict uint8

// Verdicts.
const (
	Undecided   Verdict = iota // more ES bytes are needed
	Keyframe                   // the access unit starts a decodable picture sequence
	NotKeyframe                // the access unit depends on earlier pictures, or cannot be judged
)

// keyframeScanLimit bounds the ES bytes scanned for one PES packet.
const keyframeScanLimit = 64 << 10

// String returns "undecided", "keyframe" or "not-keyframe".
func (v Verdict) String() string {
	switch v {
	case Undecided:
		return "undecided"
	case Keyframe:
		return "keyframe"
	}
	return "not-keyframe"
}

// KeyframeScanner decides whether a video PES packet starts with a keyframe
// by reading its elementary stream bytes as they arrive, packet by packet.
// Start codes split across Feed calls are handled. It does not allocate; the
// zero value answers NotKeyframe until Reset names a codec.
//
// H.264: an IDR slice (NAL type 5) before any other slice is a keyframe.
// HEVC: the first VCL NAL unit being IRAP (types 16..23) is a keyframe.
// MPEG-2 video: a sequence header followed by an I picture is a keyframe.
// Other codecs are answered NotKeyframe; callers may fall back on the
// random_access_indicator.
type KeyframeScanner struct {
	codec   Codec
	verdict Verdict
	zeros   uint8   // consecutive zero bytes just before the current byte (capped)
	want    uint8   // header bytes still to collect after a start code
	nh      uint8   // header bytes collected
	hdr     [3]byte // bytes following the last start code
	seqHdr  bool    // MPEG-2: a sequence header was seen in this PES
	n       int     // ES bytes scanned
}

// Reset starts a new PES packet of codec c (call it at each PUSI of the
// video PID).
func (s *KeyframeScanner) Reset(c Codec) {
	*s = KeyframeScanner{codec: c}
	switch c {
	case CodecH264, CodecHEVC, CodecMPEG2Video:
	default:
		s.verdict = NotKeyframe
	}
}

// Verdict returns the current verdict without feeding bytes.
func (s *KeyframeScanner) Verdict() Verdict {
	if s.codec == CodecUnknown && s.verdict == Undecided {
		return NotKeyframe
	}
	return s.verdict
}

// Feed scans the next ES bytes of the current PES packet and returns the
// verdict so far. Once decided, the verdict stays until Reset.
func (s *KeyframeScanner) Feed(es []byte) Verdict {
	if s.verdict != Undecided || s.codec == CodecUnknown {
		return s.Verdict()
	}
	for _, b := range es {
		if s.want > 0 {
			s.hdr[s.nh] = b
			s.nh++
			s.want--
			if s.header() {
				return s.verdict
			}
		}
		switch {
		case b == 0:
			if s.zeros < 2 {
				s.zeros++
			}
		case b == 1 && s.zeros >= 2:
			s.zeros = 0
			s.nh = 0
			s.want = 1
			if s.codec == CodecMPEG2Video {
				s.want = 3
			}
		default:
			s.zeros = 0
		}
	}
	s.n += len(es)
	if s.n >= keyframeScanLimit {
		s.verdict = NotKeyframe
	}
	return s.verdict
}

// header looks at the bytes collected after a start code and reports whether
// a verdict was reached.
func (s *KeyframeScanner) header() bool {
	h := s.hdr[0]
	switch s.codec {
	case CodecH264:
		switch h & 0x1F {
		case 5: // IDR slice
			s.verdict = Keyframe
		case 1, 2, 3, 4: // non-IDR slice or data partition
			s.verdict = NotKeyframe
		}
	case CodecHEVC:
		if t := h >> 1 & 0x3F; t < 32 {
			if t >= 16 && t <= 23 {
				s.verdict = Keyframe
			} else {
				s.verdict = NotKeyframe
			}
		}
	case CodecMPEG2Video:
		switch {
		case s.nh == 1 && h == 0xB3: // sequence_header_code
			s.seqHdr = true
			s.want = 0
		case s.nh == 1 && h != 0x00: // not picture_start_code
			s.want = 0
		case s.nh == 3:
			if s.hdr[2]>>3&7 == 1 && s.seqHdr {
				s.verdict = Keyframe
			} else {
				s.verdict = NotKeyframe
			}
		}
	}
	return s.verdict != Undecided
}
