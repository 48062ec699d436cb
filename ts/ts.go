// Package ts reads and rewrites MPEG transport streams (ISO/IEC 13818-1) on
// the receive path: packet header and adaptation field accessors, PCR, PES
// headers and timestamps, continuity checking, PSI section assembly with
// PAT/PMT parsing (through go-astits), and keyframe detection for H.264, HEVC
// and MPEG-2 video.
//
// Buffers: every function works on memory the caller owns. Packet accessors
// take one 188-byte packet; having at least PacketSize bytes is the caller's
// promise, and any content of those bytes is handled without panicking.
// Nothing here allocates on the per-packet path except ParsePAT and
// ParsePMT, which are meant to run only when a section's bytes change.
//
// Concurrency: the functions are safe for concurrent use on distinct
// buffers. The stateful types (SectionAssembler, ContinuityChecker,
// KeyframeScanner) are not; use one per goroutine and stream. Their zero
// values are ready to use.
package ts

// Transport stream constants.
const (
	PacketSize = 188    // bytes in one transport packet
	SyncByte   = 0x47   // first byte of every packet
	NullPID    = 0x1FFF // stuffing packets
	PATPID     = 0      // program association table
	MaxPID     = 0x1FFF // PIDs are 13 bits
)

// PID returns the packet identifier.
func PID(p []byte) uint16 {
	_ = p[PacketSize-1]
	return uint16(p[1]&0x1F)<<8 | uint16(p[2])
}

// PUSI reports the payload_unit_start_indicator: a PES packet or a PSI
// section (after the pointer field) starts in this packet.
func PUSI(p []byte) bool {
	return p[1]&0x40 != 0
}

// TEI reports the transport_error_indicator.
func TEI(p []byte) bool {
	return p[1]&0x80 != 0
}

// CC returns the 4-bit continuity counter.
func CC(p []byte) uint8 {
	return p[3] & 0x0F
}

// SetCC overwrites the continuity counter with the low four bits of cc.
func SetCC(p []byte, cc uint8) {
	p[3] = p[3]&0xF0 | cc&0x0F
}

// HasPayload reports whether adaptation_field_control announces a payload.
func HasPayload(p []byte) bool {
	return p[3]&0x10 != 0
}

// HasAdaptation reports whether adaptation_field_control announces an
// adaptation field.
func HasAdaptation(p []byte) bool {
	return p[3]&0x20 != 0
}

// adaptation returns the adaptation field after its length byte (flags
// first), or nil when there is none, it is empty, or its length does not fit
// the packet.
func adaptation(p []byte) []byte {
	p = p[:PacketSize]
	if p[3]&0x20 == 0 {
		return nil
	}
	n := int(p[4])
	if n == 0 || n > PacketSize-5 {
		return nil
	}
	return p[5 : 5+n]
}

// Payload returns the bytes after the header and adaptation field, sharing
// p's memory. It is nil when the packet has no payload, the payload is empty,
// or the adaptation field length is invalid.
func Payload(p []byte) []byte {
	p = p[:PacketSize]
	switch p[3] & 0x30 {
	case 0x10:
		return p[4:]
	case 0x30:
		// With a payload the adaptation field may hold at most 182 bytes.
		n := int(p[4])
		if 5+n >= PacketSize {
			return nil
		}
		return p[5+n:]
	}
	return nil
}

// DiscontinuityIndicator reports the adaptation field's
// discontinuity_indicator.
func DiscontinuityIndicator(p []byte) bool {
	af := adaptation(p)
	return len(af) > 0 && af[0]&0x80 != 0
}

// RandomAccessIndicator reports the adaptation field's
// random_access_indicator.
func RandomAccessIndicator(p []byte) bool {
	af := adaptation(p)
	return len(af) > 0 && af[0]&0x40 != 0
}

// PCR returns the program clock reference in 27 MHz units
// (base*300 + extension) when the packet carries one.
func PCR(p []byte) (pcr uint64, ok bool) {
	af := adaptation(p)
	if len(af) < 7 || af[0]&0x10 == 0 {
		return 0, false
	}
	base := uint64(af[1])<<25 | uint64(af[2])<<17 | uint64(af[3])<<9 | uint64(af[4])<<1 | uint64(af[5])>>7
	ext := uint64(af[5]&1)<<8 | uint64(af[6])
	return base*300 + ext, true
}

// SetPCR overwrites the PCR in place, reduced modulo PCRWrap, when the
// packet carries one; otherwise it does nothing.
func SetPCR(p []byte, pcr uint64) {
	af := adaptation(p)
	if len(af) < 7 || af[0]&0x10 == 0 {
		return
	}
	pcr %= PCRWrap
	base, ext := pcr/300, pcr%300
	af[1] = byte(base >> 25)
	af[2] = byte(base >> 17)
	af[3] = byte(base >> 9)
	af[4] = byte(base >> 1)
	af[5] = byte(base&1)<<7 | 0x7E | byte(ext>>8)&1
	af[6] = byte(ext)
}
