package ts

// Codec names the coding of an elementary stream, derived from the PMT
// stream_type (and, for private data, its descriptors).
type Codec uint8

// Codecs the pipeline distinguishes.
const (
	CodecUnknown     Codec = iota
	CodecH264              // stream_type 0x1B
	CodecHEVC              // stream_type 0x24
	CodecMPEG2Video        // stream_type 0x01, 0x02
	CodecMPEG4Video        // stream_type 0x10 (MPEG-4 part 2)
	CodecAAC               // stream_type 0x0F (ADTS)
	CodecAACLATM           // stream_type 0x11 (LATM)
	CodecMPEGAudio         // stream_type 0x03, 0x04
	CodecAC3               // stream_type 0x81, or 0x06 with an AC-3 descriptor
	CodecEAC3              // stream_type 0x87, or 0x06 with an E-AC-3 descriptor
	CodecDTS               // stream_type 0x82
	CodecSCTE35            // stream_type 0x86
	CodecPrivateData       // stream_type 0x06 without a recognised descriptor (subtitles, teletext, ...)
)

// CodecOf maps a PMT stream_type to a Codec. For stream_type 0x06 it answers
// CodecPrivateData; ParsePMT refines that from the descriptors.
func CodecOf(streamType uint8) Codec {
	switch streamType {
	case 0x1B:
		return CodecH264
	case 0x24:
		return CodecHEVC
	case 0x01, 0x02:
		return CodecMPEG2Video
	case 0x10:
		return CodecMPEG4Video
	case 0x0F:
		return CodecAAC
	case 0x11:
		return CodecAACLATM
	case 0x03, 0x04:
		return CodecMPEGAudio
	case 0x81:
		return CodecAC3
	case 0x87:
		return CodecEAC3
	case 0x82:
		return CodecDTS
	case 0x86:
		return CodecSCTE35
	case 0x06:
		return CodecPrivateData
	}
	return CodecUnknown
}

// IsVideo reports whether c is a video coding.
func (c Codec) IsVideo() bool {
	switch c {
	case CodecH264, CodecHEVC, CodecMPEG2Video, CodecMPEG4Video:
		return true
	}
	return false
}

// IsAudio reports whether c is an audio coding.
func (c Codec) IsAudio() bool {
	switch c {
	case CodecAAC, CodecAACLATM, CodecMPEGAudio, CodecAC3, CodecEAC3, CodecDTS:
		return true
	}
	return false
}

// String returns a short lowercase name ("h264", "aac", ...).
func (c Codec) String() string {
	switch c {
	case CodecH264:
		return "h264"
	case CodecHEVC:
		return "hevc"
	case CodecMPEG2Video:
		return "mpeg2video"
	case CodecMPEG4Video:
		return "mpeg4video"
	case CodecAAC:
		return "aac"
	case CodecAACLATM:
		return "aac_latm"
	case CodecMPEGAudio:
		return "mpegaudio"
	case CodecAC3:
		return "ac3"
	case CodecEAC3:
		return "eac3"
	case CodecDTS:
		return "dts"
	case CodecSCTE35:
		return "scte35"
	case CodecPrivateData:
		return "private"
	}
	return "unknown"
}
