package ts

import (
	"bytes"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
)

// VideoSize finds the first sequence parameter set of PID pid, an H.264 or
// HEVC stream (codec), in data, whole TS packets such as the start of a
// segment (which starts with a keyframe, its SPS in front), and returns the
// picture's width and height. ok is false when data holds no SPS of the PID
// that parses. It is for reports (the HTTP API's media_info), off the data
// path: it allocates.
func VideoSize(data []byte, pid uint16, codec Codec) (width, height int, ok bool) {
	if codec != CodecH264 && codec != CodecHEVC {
		return 0, 0, false
	}
	var es []byte // the PID's payload from its first PES start on
	for len(data) >= PacketSize {
		p := data[:PacketSize]
		data = data[PacketSize:]
		if p[0] != SyncByte || PID(p) != pid || TEI(p) {
			continue
		}
		pl := Payload(p)
		if PUSI(p) {
			var h PESHeader
			if ParsePESHeader(pl, &h) != nil {
				continue
			}
			pl = pl[h.DataOffset:]
		} else if es == nil {
			continue
		}
		es = append(es, pl...)
	}
	for len(es) > 0 {
		i := bytes.Index(es, []byte{0, 0, 1})
		if i < 0 {
			break
		}
		es = es[i+3:]
		end := bytes.Index(es, []byte{0, 0, 1})
		if end < 0 {
			end = len(es)
		}
		nalu := bytes.TrimRight(es[:end], "\x00") // a 4-byte start code's leading zero
		if len(nalu) == 0 {
			continue
		}
		switch {
		case codec == CodecH264 && h264.NALUType(nalu[0]&0x1f) == h264.NALUTypeSPS:
			var sps h264.SPS
			if sps.Unmarshal(nalu) == nil && sps.Width() > 0 && sps.Height() > 0 {
				return sps.Width(), sps.Height(), true
			}
		case codec == CodecHEVC && h265.NALUType((nalu[0]>>1)&0x3f) == h265.NALUType_SPS_NUT:
			var sps h265.SPS
			if sps.Unmarshal(nalu) == nil && sps.Width() > 0 && sps.Height() > 0 {
				return sps.Width(), sps.Height(), true
			}
		}
	}
	return 0, 0, false
}
