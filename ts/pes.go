package ts

import "errors"

// Timestamp arithmetic. PTS and DTS count 90 kHz ticks in 33 bits; the PCR
// counts 27 MHz ticks and wraps together with its 33-bit base.
const (
	PTSWrap = 1 << 33       // PTS/DTS modulus
	PCRWrap = PTSWrap * 300 // PCR modulus
)

// PES header errors; ParsePESHeader returns them unwrapped so that callers can
// compare without allocation.
var (
	ErrNotPES       = errors.New("ts: payload does not start with a PES start code")
	ErrShortPES     = errors.New("ts: PES header longer than the payload")
	ErrBadPESHeader = errors.New("ts: malformed PES header")
)

// PESHeader is the part of a PES packet header the pipeline needs.
type PESHeader struct {
	StreamID       uint8
	PTS, DTS       uint64 // 90 kHz, 33 bits; valid when HasPTS / HasDTS
	HasPTS, HasDTS bool
	DataOffset     int // offset of the elementary stream data within the payload
}

// hasOptionalHeader reports whether a PES packet with this stream_id carries
// the optional header with flags and timestamps (ISO/IEC 13818-1 2.4.3.6).
func hasOptionalHeader(streamID uint8) bool {
	switch streamID {
	case 0xBC, // program_stream_map
		0xBE, // padding_stream
		0xBF, // private_stream_2
		0xF0, // ECM
		0xF1, // EMM
		0xF2, // DSMCC_stream
		0xF8, // ITU-T H.222.1 type E
		0xFF: // program_stream_directory
		return false
	}
	return true
}

// ParsePESHeader parses the PES header at the start of payload, the payload
// of a packet with PUSI set, into h. It does not allocate.
func ParsePESHeader(payload []byte, h *PESHeader) error {
	*h = PESHeader{}
	if len(payload) < 6 {
		if len(payload) >= 3 && (payload[0] != 0 || payload[1] != 0 || payload[2] != 1) {
			return ErrNotPES
		}
		return ErrShortPES
	}
	if payload[0] != 0 || payload[1] != 0 || payload[2] != 1 {
		return ErrNotPES
	}
	h.StreamID = payload[3]
	if !hasOptionalHeader(h.StreamID) {
		h.DataOffset = 6
		return nil
	}
	if len(payload) < 9 {
		return ErrShortPES
	}
	if payload[6]&0xC0 != 0x80 {
		return ErrBadPESHeader
	}
	hdrLen := int(payload[8])
	if 9+hdrLen > len(payload) {
		return ErrShortPES
	}
	switch payload[7] >> 6 {
	case 2:
		if hdrLen < 5 {
			return ErrBadPESHeader
		}
		h.PTS, h.HasPTS = readTimestamp(payload[9:14]), true
	case 3:
		if hdrLen < 10 {
			return ErrBadPESHeader
		}
		h.PTS, h.HasPTS = readTimestamp(payload[9:14]), true
		h.DTS, h.HasDTS = readTimestamp(payload[14:19]), true
	case 1:
		return ErrBadPESHeader // PTS_DTS_flags '01' is forbidden
	}
	h.DataOffset = 9 + hdrLen
	return nil
}

func readTimestamp(b []byte) uint64 {
	_ = b[4]
	return uint64(b[0]>>1&7)<<30 | uint64(b[1])<<22 | uint64(b[2]>>1)<<15 | uint64(b[3])<<7 | uint64(b[4]>>1)
}

// writeTimestamp stores ts into the five bytes b, keeping the 4-bit prefix
// already in b[0] and setting the marker bits.
func writeTimestamp(b []byte, ts uint64) {
	_ = b[4]
	b[0] = b[0]&0xF0 | byte(ts>>29)&0x0E | 1
	b[1] = byte(ts >> 22)
	b[2] = byte(ts>>14) | 1
	b[3] = byte(ts >> 7)
	b[4] = byte(ts<<1) | 1
}

// ShiftPESTimestamps adds delta (modulo 2^33) to the PTS and DTS of the PES
// header at the start of payload, in place. It reports whether payload
// started with a valid PES header; a header without timestamps is valid and
// left unchanged.
func ShiftPESTimestamps(payload []byte, delta uint64) bool {
	var h PESHeader
	if ParsePESHeader(payload, &h) != nil {
		return false
	}
	if h.HasPTS {
		writeTimestamp(payload[9:14], (h.PTS+delta)%PTSWrap)
	}
	if h.HasDTS {
		writeTimestamp(payload[14:19], (h.DTS+delta)%PTSWrap)
	}
	return true
}

// PTSDiff returns a-b for 33-bit timestamps, taking the shorter way around
// the wrap: the result lies in [-2^32, 2^32).
func PTSDiff(a, b uint64) int64 {
	d := (a - b) & (PTSWrap - 1)
	if d >= PTSWrap/2 {
		return int64(d) - PTSWrap
	}
	return int64(d)
}

// PCRDiff returns a-b for 27 MHz PCR values, modulo PCRWrap, in
// [-PCRWrap/2, PCRWrap/2).
func PCRDiff(a, b uint64) int64 {
	d := (a%PCRWrap + PCRWrap - b%PCRWrap) % PCRWrap
	if d >= PCRWrap/2 {
		return int64(d) - PCRWrap
	}
	return int64(d)
}
