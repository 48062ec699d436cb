package ts

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/asticode/go-astits"
)

// PSI errors. ParsePAT and ParsePMT wrap them with context; match with
// errors.Is.
var (
	ErrBadSection = errors.New("ts: malformed PSI section")
	ErrCRC        = errors.New("ts: PSI section CRC32 mismatch")
	ErrNotCurrent = errors.New("ts: PSI section is not yet applicable (current_next_indicator 0)")
)

// maxPSISection is the largest PAT or PMT section: section_length is at most
// 1021 (ISO/IEC 13818-1 2.4.4.4), plus the three bytes before it.
const maxPSISection = 1024

// SectionAssembler rebuilds PSI sections from the packets of one PID. It
// copies section bytes into a fixed buffer, so it does not allocate. The
// zero value is ready to use.
type SectionAssembler struct {
	buf        [4096]byte // a private section is at most 4096 bytes
	n          int        // bytes of the current section in buf
	need       int        // total length of the current section; 0 until its header is in
	collecting bool       // a section started and is not complete
	rest       []byte     // unread payload of the last pushed packet
	mayStart   bool       // the last pushed packet had PUSI: sections may start in rest
	lastCC     uint8
	haveCC     bool
}

// Reset forgets any partial section, as after a change of source.
func (a *SectionAssembler) Reset() {
	a.n, a.need, a.collecting, a.rest, a.mayStart, a.haveCC = 0, 0, false, nil, false, false
}

// Push feeds one transport packet of a PSI PID. It returns a section (from
// table_id to the end of the CRC, stuffing removed) when one completes in
// this packet. The section is valid until the next call to Push, Next or
// Reset. When a packet completes one section and starts or holds more, call
// Next until it answers false to get them. Packets with TEI set, without
// payload, or repeated (same CC) are skipped; a gap in the continuity counter
// drops the partial section. Sections are not CRC-checked here.
func (a *SectionAssembler) Push(p []byte) (section []byte, ok bool) {
	a.rest, a.mayStart = nil, PUSI(p)
	if TEI(p) || !HasPayload(p) {
		return nil, false
	}
	cc := CC(p)
	if a.haveCC {
		if cc == a.lastCC {
			return nil, false // duplicate packet
		}
		if cc != (a.lastCC+1)&0x0F {
			a.collecting = false
		}
	}
	a.lastCC, a.haveCC = cc, true
	if DiscontinuityIndicator(p) {
		a.collecting = false
	}
	pl := Payload(p)
	if len(pl) == 0 {
		return nil, false
	}
	if !PUSI(p) {
		if !a.collecting {
			return nil, false
		}
		a.rest = pl
		return a.Next()
	}
	ptr := int(pl[0])
	if 1+ptr > len(pl) {
		a.collecting = false
		return nil, false
	}
	tail, start := pl[1:1+ptr], pl[1+ptr:]
	if a.collecting {
		used, done := a.fill(tail)
		if done && used == len(tail) {
			a.rest = start
			return a.buf[:a.n], true
		}
		// The pointer field disagrees with the section length: the partial
		// section is corrupt.
		a.collecting = false
	}
	a.rest = start
	return a.Next()
}

// Next returns the next section completed by the packet given to the last
// Push, if any. The section is valid until the next call to Push, Next or
// Reset.
func (a *SectionAssembler) Next() (section []byte, ok bool) {
	for len(a.rest) > 0 {
		if !a.collecting {
			if a.rest[0] == 0xFF || !a.mayStart {
				// Stuffing: no more sections in this packet. (Sections
				// start only in packets with PUSI set.)
				a.rest = nil
				return nil, false
			}
			a.collecting, a.n, a.need = true, 0, 0
		}
		used, done := a.fill(a.rest)
		a.rest = a.rest[used:]
		if done {
			return a.buf[:a.n], true
		}
	}
	return nil, false
}

// fill copies bytes of src into the current section and reports how many it
// used and whether the section is complete.
func (a *SectionAssembler) fill(src []byte) (used int, done bool) {
	for used < len(src) {
		want := a.need
		if want == 0 {
			want = 3
		}
		c := copy(a.buf[a.n:want], src[used:])
		a.n += c
		used += c
		if a.n < want {
			return used, false
		}
		if a.need == 0 {
			a.need = 3 + (int(a.buf[1]&0x0F)<<8 | int(a.buf[2]))
			if a.need > len(a.buf) {
				a.collecting = false
				return len(src), false
			}
			continue
		}
		a.collecting = false
		return used, true
	}
	return used, false
}

var crcTable = func() (t [256]uint32) {
	for i := range t {
		c := uint32(i) << 24
		for range 8 {
			if c&0x80000000 != 0 {
				c = c<<1 ^ 0x04C11DB7
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

// CRC32 returns the MPEG-2 CRC32 (polynomial 0x04C11DB7, initial value
// 0xFFFFFFFF, no reflection, no final XOR). Over a whole section including
// its CRC field it is 0.
func CRC32(b []byte) uint32 {
	crc := uint32(0xFFFFFFFF)
	for _, v := range b {
		crc = crc<<8 ^ crcTable[byte(crc>>24)^v]
	}
	return crc
}

// PAT is a program association table.
type PAT struct {
	TransportStreamID uint16
	Programs          []PATProgram
}

// PATProgram is one PAT entry. Number 0 names the NIT PID, not a program.
type PATProgram struct {
	Number, PMTPID uint16
}

// PMT is a program map table.
type PMT struct {
	ProgramNumber, PCRPID uint16
	Streams               []PMTStream
}

// PMTStream is one elementary stream of a PMT.
type PMTStream struct {
	PID        uint16
	StreamType uint8
	Codec      Codec
}

// checkSection validates the generic long-form section header and the CRC
// and returns the section trimmed to its declared length.
func checkSection(section []byte, tableID uint8) ([]byte, error) {
	if len(section) < 3 {
		return nil, fmt.Errorf("ts: %d-byte section: %w", len(section), ErrBadSection)
	}
	if section[0] != tableID {
		return nil, fmt.Errorf("ts: table_id 0x%02x, want 0x%02x: %w", section[0], tableID, ErrBadSection)
	}
	if section[1]&0x80 == 0 {
		return nil, fmt.Errorf("ts: section_syntax_indicator not set: %w", ErrBadSection)
	}
	n := 3 + (int(section[1]&0x0F)<<8 | int(section[2]))
	if n > maxPSISection || n < 12 || n > len(section) {
		return nil, fmt.Errorf("ts: section length %d (have %d bytes): %w", n, len(section), ErrBadSection)
	}
	section = section[:n]
	if CRC32(section) != 0 {
		return nil, fmt.Errorf("ts: table_id 0x%02x: %w", tableID, ErrCRC)
	}
	if section[5]&1 == 0 {
		return nil, ErrNotCurrent
	}
	return section, nil
}

// AppendPMTStreams appends to dst a copy of the PMT section pmt (as
// SectionAssembler returns it, CRC checked) that lists only the elementary
// streams keep takes, with its length and CRC32 made anew; descriptors are
// kept as they are. A malformed section is appended unchanged.
func AppendPMTStreams(dst, pmt []byte, keep func(pid uint16) bool) []byte {
	if len(pmt) < 16 {
		return append(dst, pmt...)
	}
	n := 3 + (int(pmt[1]&0x0F)<<8 | int(pmt[2])) // to the end of the CRC
	info := 12 + (int(pmt[10]&0x0F)<<8 | int(pmt[11]))
	if n > len(pmt) || info > n-4 {
		return append(dst, pmt...)
	}
	start := len(dst)
	dst = append(dst, pmt[:info]...)
	for i := info; i+5 <= n-4; {
		pid := uint16(pmt[i+1]&0x1F)<<8 | uint16(pmt[i+2])
		end := i + 5 + (int(pmt[i+3]&0x0F)<<8 | int(pmt[i+4]))
		if end > n-4 {
			return append(dst[:start], pmt...)
		}
		if keep(pid) {
			dst = append(dst, pmt[i:end]...)
		}
		i = end
	}
	l := len(dst) - start + 4 - 3 // section_length: after itself, with the CRC
	dst[start+1] = dst[start+1]&0xF0 | byte(l>>8)&0x0F
	dst[start+2] = byte(l)
	crc := CRC32(dst[start:])
	return append(dst, byte(crc>>24), byte(crc>>16), byte(crc>>8), byte(crc))
}

// AppendSectionPackets appends the transport packets that carry section on
// pid, the first with PUSI and pointer_field 0, stuffed with 0xFF, their
// continuity counters counting up from cc.
func AppendSectionPackets(dst []byte, pid uint16, cc uint8, section []byte) []byte {
	return appendSectionPackets(dst, pid, cc, section)
}

// appendSectionPackets appends the transport packets that carry section on
// pid, starting with continuity counter cc.
func appendSectionPackets(dst []byte, pid uint16, cc uint8, section []byte) []byte {
	first := true
	for first || len(section) > 0 {
		var p [PacketSize]byte
		p[0] = SyncByte
		p[1] = byte(pid>>8) & 0x1F
		p[2] = byte(pid)
		p[3] = 0x10 | cc&0x0F
		cc++
		body := p[4:]
		if first {
			p[1] |= 0x40
			body[0] = 0 // pointer_field
			body = body[1:]
			first = false
		}
		c := copy(body, section)
		section = section[c:]
		for i := c; i < len(body); i++ {
			body[i] = 0xFF
		}
		dst = append(dst, p[:]...)
	}
	return dst
}

// demuxPSI runs go-astits over packets and returns the first PAT or PMT it
// yields for pid. go-astits has no per-section parser, so the section is
// wrapped in transport packets and demuxed. Input comes from the wire, so a
// panic inside the library is turned into an error.
func demuxPSI(packets []byte, pid uint16, wantPMT bool) (d *astits.DemuxerData, err error) {
	defer func() {
		if r := recover(); r != nil {
			d, err = nil, fmt.Errorf("ts: go-astits panicked: %v: %w", r, ErrBadSection)
		}
	}()
	dmx := astits.NewDemuxer(context.Background(), bytes.NewReader(packets), astits.DemuxerOptPacketSize(PacketSize))
	for {
		d, err := dmx.NextData()
		if err != nil {
			if errors.Is(err, astits.ErrNoMorePackets) {
				return nil, fmt.Errorf("ts: go-astits found no table: %w", ErrBadSection)
			}
			return nil, fmt.Errorf("ts: go-astits: %w: %w", ErrBadSection, err)
		}
		if d.PID != pid {
			continue
		}
		if wantPMT && d.PMT != nil || !wantPMT && d.PAT != nil {
			return d, nil
		}
	}
}

// ParsePAT parses a complete PAT section (as returned by SectionAssembler)
// after checking its header and CRC32. Entries with program number 0 (the
// NIT) are kept.
func ParsePAT(section []byte) (PAT, error) {
	section, err := checkSection(section, 0x00)
	if err != nil {
		return PAT{}, fmt.Errorf("ts: PAT: %w", err)
	}
	if (len(section)-12)%4 != 0 {
		return PAT{}, fmt.Errorf("ts: PAT: program loop of %d bytes: %w", len(section)-12, ErrBadSection)
	}
	var buf [6 * PacketSize]byte
	d, err := demuxPSI(appendSectionPackets(buf[:0], PATPID, 0, section), PATPID, false)
	if err != nil {
		return PAT{}, fmt.Errorf("ts: PAT: %w", err)
	}
	pat := PAT{
		TransportStreamID: d.PAT.TransportStreamID,
		Programs:          make([]PATProgram, 0, len(d.PAT.Programs)),
	}
	for _, p := range d.PAT.Programs {
		pat.Programs = append(pat.Programs, PATProgram{Number: p.ProgramNumber, PMTPID: p.ProgramMapID})
	}
	return pat, nil
}

// AppendPATSection appends a PAT section (with CRC32) naming the given
// programs to dst.
func AppendPATSection(dst []byte, tsid uint16, version uint8, programs []PATProgram) []byte {
	n := 9 + 4*len(programs) // after section_length: 5 header bytes, entries, CRC
	start := len(dst)
	dst = append(dst, 0x00, 0xB0|byte(n>>8)&0x0F, byte(n),
		byte(tsid>>8), byte(tsid), 0xC1|(version&0x1F)<<1, 0, 0)
	for _, p := range programs {
		dst = append(dst, byte(p.Number>>8), byte(p.Number), 0xE0|byte(p.PMTPID>>8)&0x1F, byte(p.PMTPID))
	}
	crc := CRC32(dst[start:])
	return append(dst, byte(crc>>24), byte(crc>>16), byte(crc>>8), byte(crc))
}

// ParsePMT parses a complete PMT section (as returned by SectionAssembler)
// after checking its header and CRC32. Stream type 0x06 is refined to AC-3 or
// E-AC-3 when the stream carries the matching DVB descriptor or an ATSC
// registration descriptor.
func ParsePMT(section []byte) (PMT, error) {
	section, err := checkSection(section, 0x02)
	if err != nil {
		return PMT{}, fmt.Errorf("ts: PMT: %w", err)
	}
	number := uint16(section[3])<<8 | uint16(section[4])
	if number == 0 {
		return PMT{}, fmt.Errorf("ts: PMT: program number 0 is reserved: %w", ErrBadSection)
	}
	// go-astits treats a PID as PMT only after a PAT named it, so announce
	// the section's program on a made-up PID first.
	const pmtPID = 0x100
	var buf [7 * PacketSize]byte
	var patBuf [16]byte
	pat := AppendPATSection(patBuf[:0], 1, 0, []PATProgram{{Number: number, PMTPID: pmtPID}})
	pkts := appendSectionPackets(buf[:0], PATPID, 0, pat)
	pkts = appendSectionPackets(pkts, pmtPID, 0, section)
	d, err := demuxPSI(pkts, pmtPID, true)
	if err != nil {
		return PMT{}, fmt.Errorf("ts: PMT: %w", err)
	}
	pmt := PMT{
		ProgramNumber: d.PMT.ProgramNumber,
		PCRPID:        d.PMT.PCRPID,
		Streams:       make([]PMTStream, 0, len(d.PMT.ElementaryStreams)),
	}
	for _, es := range d.PMT.ElementaryStreams {
		st := uint8(es.StreamType)
		c := CodecOf(st)
		if st == 0x06 {
			c = privateCodec(es.ElementaryStreamDescriptors)
		}
		pmt.Streams = append(pmt.Streams, PMTStream{PID: es.ElementaryPID, StreamType: st, Codec: c})
	}
	return pmt, nil
}

// privateCodec identifies the coding of a stream_type 0x06 stream from its
// descriptors.
func privateCodec(ds []*astits.Descriptor) Codec {
	for _, d := range ds {
		switch d.Tag {
		case astits.DescriptorTagAC3:
			return CodecAC3
		case astits.DescriptorTagEnhancedAC3:
			return CodecEAC3
		case astits.DescriptorTagRegistration:
			if d.Registration == nil {
				continue
			}
			switch d.Registration.FormatIdentifier {
			case 0x41432D33: // "AC-3"
				return CodecAC3
			case 0x45414333: // "EAC3"
				return CodecEAC3
			}
		}
	}
	return CodecPrivateData
}
