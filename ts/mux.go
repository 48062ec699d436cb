package ts

import "errors"

// Muxer writes access units as a single-program MPEG-TS, for sources that
// hand over frames rather than TS (RTMP, RTSP, SRT carrying frames): the
// transport stream the rest of the receive path then takes as if it had
// come from the wire.
//
// What it writes: a PAT and a PMT (program 1, PMT PID 0x1000) before every
// keyframe and at least every 100 ms; video on PID 0x100, audio on 0x101;
// a PES per access unit with PTS and, where it differs, DTS; a PCR on the
// PCR PID (video when there is video) with every access unit of it, so at
// least every frame (40 ms at 25 fps); random_access_indicator on
// keyframes. H.264 access units (Annex B) get an access unit delimiter
// when they lack one, and the last SPS and PPS seen in front of an IDR
// that lacks them. AAC frames (raw) get an ADTS header built from the
// AudioSpecificConfig; MPEG-1/2 audio frames (MP2, MP3: self-describing)
// go as they are. Packets go to emit in runs of up to seven (one
// datagram) from a buffer of the Muxer's own; it allocates nothing per
// access unit.
type Muxer struct {
	video, audio Codec
	emit         func([]byte) error

	run  [7 * PacketSize]byte
	n    int                  // packets in run
	cc   [4]uint8             // by ccPAT, ccPMT, ccVideo, ccAudio
	psi  [2 * PacketSize]byte // PAT and PMT packets, continuity counters patched at each write
	sps  []byte               // last H.264 SPS NAL behind a start code, for IDRs that lack it
	pps  []byte
	vps  []byte // HEVC
	adts [7]byte
	asc  bool // an AudioSpecificConfig was given

	lastPSI int64 // DTS of the last PAT/PMT, -1 before the first
	started bool

	// Scratch for one access unit, here so that nothing escapes per call.
	pre    [3][]byte
	pieces [5][]byte
	hdr    [19]byte
	ah     [7]byte
}

// PIDs and stream numbers the Muxer uses.
const (
	MuxPMTPID   = 0x1000
	MuxVideoPID = 0x100
	MuxAudioPID = 0x101
)

// Continuity counters, by PID.
const (
	ccPAT = iota
	ccPMT
	ccVideo
	ccAudio
)

const (
	psiEvery = 9000  // 100 ms in 90 kHz ticks
	pcrLead  = 63000 // the PCR runs 0.7 s behind DTS, as ffmpeg's muxer does
)

// Errors of the Muxer.
var (
	ErrMuxCodec = errors.New("ts: muxer: codec not supported (h264, hevc, aac and mpeg audio are)")
	ErrMuxASC   = errors.New("ts: muxer: bad AudioSpecificConfig")
	ErrMuxNoASC = errors.New("ts: muxer: AAC frame before the AudioSpecificConfig")
)

// NewMuxer makes a muxer for a video track (CodecH264, CodecHEVC, or
// CodecUnknown for none) and an audio track (CodecAAC, CodecMPEGAudio, or
// CodecUnknown).
func NewMuxer(video, audio Codec, emit func([]byte) error) (*Muxer, error) {
	if video != CodecUnknown && video != CodecH264 && video != CodecHEVC ||
		audio != CodecUnknown && audio != CodecAAC && audio != CodecMPEGAudio ||
		video == CodecUnknown && audio == CodecUnknown {
		return nil, ErrMuxCodec
	}
	m := &Muxer{video: video, audio: audio, emit: emit, lastPSI: -1}
	m.buildPSI()
	return m, nil
}

func (m *Muxer) pcrPID() uint16 {
	if m.video != CodecUnknown {
		return MuxVideoPID
	}
	return MuxAudioPID
}

// buildPSI lays out the PAT and PMT packets once.
func (m *Muxer) buildPSI() {
	pat := AppendPATSection(make([]byte, 0, 32), 1, 0, []PATProgram{{Number: 1, PMTPID: MuxPMTPID}})
	copy(m.psi[:PacketSize], appendSectionPackets(nil, PATPID, 0, pat))
	var es []byte
	if m.video != CodecUnknown {
		st := byte(0x1B)
		if m.video == CodecHEVC {
			st = 0x24
		}
		es = append(es, st, 0xE0|MuxVideoPID>>8, MuxVideoPID&0xFF, 0xF0, 0)
	}
	switch m.audio {
	case CodecAAC:
		es = append(es, 0x0F, 0xE0|MuxAudioPID>>8, MuxAudioPID&0xFF, 0xF0, 0)
	case CodecMPEGAudio:
		es = append(es, 0x03, 0xE0|MuxAudioPID>>8, MuxAudioPID&0xFF, 0xF0, 0)
	}
	pcr := m.pcrPID()
	n := 13 + len(es) // after section_length: 9 header bytes, streams, CRC
	pmt := []byte{0x02, 0xB0 | byte(n>>8)&0x0F, byte(n), 0, 1, 0xC1, 0, 0, 0xE0 | byte(pcr>>8), byte(pcr), 0xF0, 0}
	pmt = append(pmt, es...)
	crc := CRC32(pmt)
	pmt = append(pmt, byte(crc>>24), byte(crc>>16), byte(crc>>8), byte(crc))
	copy(m.psi[PacketSize:], appendSectionPackets(nil, MuxPMTPID, 0, pmt))
}

// SetAudioConfig takes the AAC AudioSpecificConfig (ISO 14496-3 1.6.2.1)
// that the ADTS headers are made from.
func (m *Muxer) SetAudioConfig(asc []byte) error {
	if len(asc) < 2 {
		return ErrMuxASC
	}
	obj := asc[0] >> 3
	freq := (asc[0]&7)<<1 | asc[1]>>7
	ch := asc[1] >> 3 & 0x0F
	if obj == 5 || obj == 29 {
		// HE-AAC (SBR, and PS): ADTS has no profile for it, so the
		// frames go as AAC LC at the core rate, which this config names,
		// and decoders find the SBR data in them (implicit signalling).
		obj = 2
	}
	if obj < 1 || obj > 4 || freq > 12 || ch > 7 {
		return ErrMuxASC // ADTS carries AAC Main, LC, SSR and LTP only
	}
	m.adts = [7]byte{0xFF, 0xF1, (obj-1)<<6 | freq<<2 | ch>>2, (ch & 3) << 6, 0, 0x1F, 0xFC}
	m.asc = true
	return nil
}

// WriteVideo writes one video access unit (Annex B byte stream: NAL units
// behind start codes) with its PTS and DTS (90 kHz, 33 bits).
func (m *Muxer) WriteVideo(pts, dts uint64, key bool, au []byte) error {
	pre := &m.pre
	np := 0
	if m.video == CodecH264 {
		aud, sps, pps, idr := scanH264(au)
		if sps != nil {
			m.sps = append(append(m.sps[:0], 0, 0, 0, 1), sps...)
		}
		if pps != nil {
			m.pps = append(append(m.pps[:0], 0, 0, 0, 1), pps...)
		}
		if !aud {
			pre[np] = audH264[:]
			np++
		}
		if idr && sps == nil && m.sps != nil && m.pps != nil {
			pre[np], pre[np+1] = m.sps, m.pps
			np += 2
		}
		key = key || idr
	}
	if m.video == CodecHEVC {
		aud, vps, sps, pps, irap := scanHEVC(au)
		if vps != nil {
			m.vps = append(append(m.vps[:0], 0, 0, 0, 1), vps...)
		}
		if sps != nil {
			m.sps = append(append(m.sps[:0], 0, 0, 0, 1), sps...)
		}
		if pps != nil {
			m.pps = append(append(m.pps[:0], 0, 0, 0, 1), pps...)
		}
		if !aud {
			pre[np] = audHEVC[:]
			np++
		}
		if irap && sps == nil && m.vps != nil && m.sps != nil && m.pps != nil {
			// Three parameter sets and the AUD do not fit pre: the
			// AUD gives way (it is optional in HEVC).
			pre[0], pre[1], pre[2] = m.vps, m.sps, m.pps
			np = 3
		}
		key = key || irap
	}
	return m.writeAU(MuxVideoPID, 0xE0, pts, dts, key, pre[:np], au)
}

var (
	audH264 = [6]byte{0, 0, 0, 1, 9, 0xF0}
	audHEVC = [7]byte{0, 0, 0, 1, 0x46, 0x01, 0x50} // AUD_NUT 35, pic_type 2 (any)
)

// WriteAudio writes one audio frame with its PTS: raw AAC (an ADTS header
// is put in front), or MPEG audio frames as they are.
func (m *Muxer) WriteAudio(pts uint64, frame []byte) error {
	if m.audio == CodecMPEGAudio {
		return m.writeAU(MuxAudioPID, 0xC0, pts, pts, m.video == CodecUnknown, nil, frame)
	}
	if !m.asc {
		return ErrMuxNoASC
	}
	n := len(frame) + 7
	m.ah = m.adts
	m.ah[3] |= byte(n >> 11 & 3)
	m.ah[4] = byte(n >> 3)
	m.ah[5] = byte(n&7)<<5 | 0x1F
	m.pre[0] = m.ah[:]
	return m.writeAU(MuxAudioPID, 0xC0, pts, pts, m.video == CodecUnknown, m.pre[:1], frame)
}

// writeAU writes the PSI when due and one PES of pieces pre then au.
func (m *Muxer) writeAU(pid uint16, sid byte, pts, dts uint64, key bool, pre [][]byte, au []byte) error {
	pts, dts = pts&(PTSWrap-1), dts&(PTSWrap-1)
	if !m.started || key && sid == 0xE0 || m.psiDue(dts) {
		if err := m.writePSI(dts); err != nil {
			return err
		}
	}
	m.started = true
	// PES header: start code, stream id, length, flags, timestamps.
	hdr := &m.hdr
	*hdr = [19]byte{}
	size := len(au)
	for _, p := range pre {
		size += len(p)
	}
	hlen := 5
	flags := byte(0x80)
	if dts != pts {
		hlen, flags = 10, 0xC0
	}
	hdr[0], hdr[1], hdr[2], hdr[3] = 0, 0, 1, sid
	if l := 3 + hlen + size; l <= 0xFFFF && sid != 0xE0 {
		hdr[4], hdr[5] = byte(l>>8), byte(l)
	} // video: 0, unbounded
	hdr[6], hdr[7], hdr[8] = 0x80, flags, byte(hlen)
	putTS(hdr[9:], flags>>6, pts)
	if hlen == 10 {
		putTS(hdr[14:], 1, dts)
	}
	pieces := &m.pieces
	pieces[0] = hdr[:9+hlen]
	np := 1
	for _, p := range pre {
		pieces[np] = p
		np++
	}
	pieces[np] = au
	np++
	withPCR := pid == m.pcrPID()
	return m.packetize(pid, pieces[:np], key, withPCR, dts)
}

// putTS writes a 33-bit timestamp with its 4-bit prefix (13818-1 2.4.3.7).
func putTS(b []byte, prefix byte, t uint64) {
	b[0] = prefix<<4 | byte(t>>29)&0x0E | 1
	b[1] = byte(t >> 22)
	b[2] = byte(t>>14) | 1
	b[3] = byte(t >> 7)
	b[4] = byte(t<<1) | 1
}

func (m *Muxer) psiDue(dts uint64) bool {
	d := PTSDiff(dts, uint64(m.lastPSI))
	return m.lastPSI < 0 || d >= psiEvery || d < 0
}

func (m *Muxer) writePSI(dts uint64) error {
	for i := 0; i < 2; i++ {
		p := m.psi[i*PacketSize : (i+1)*PacketSize]
		SetCC(p, m.cc[i])
		m.cc[i]++
		if err := m.put(p); err != nil {
			return err
		}
	}
	m.lastPSI = int64(dts)
	return nil
}

// packetize cuts the pieces of one PES into packets of pid.
func (m *Muxer) packetize(pid uint16, pieces [][]byte, key, pcr bool, dts uint64) error {
	cc := &m.cc[ccVideo]
	if pid == MuxAudioPID {
		cc = &m.cc[ccAudio]
	}
	total := 0
	for _, p := range pieces {
		total += len(p)
	}
	first := true
	for total > 0 {
		var p [PacketSize]byte
		p[0] = SyncByte
		p[1] = byte(pid>>8) & 0x1F
		p[2] = byte(pid)
		af := 0 // adaptation field bytes, its length byte included
		var afFlags byte
		if first {
			p[1] |= 0x40
			if key {
				afFlags |= 0x40 // random_access_indicator
			}
			if pcr {
				afFlags |= 0x10
				af = 8
			} else if afFlags != 0 {
				af = 2
			}
		}
		if total < PacketSize-4-af {
			af = PacketSize - 4 - total // the last packet: stuff through the adaptation field
		}
		p[3] = 0x10 | *cc&0x0F
		*cc++
		body := p[4:]
		if af > 0 {
			p[3] |= 0x20
			body[0] = byte(af - 1)
			if af > 1 {
				body[1] = afFlags
				i := 2
				if afFlags&0x10 != 0 {
					base := (dts - pcrLead) & (PTSWrap - 1)
					body[2] = byte(base >> 25)
					body[3] = byte(base >> 17)
					body[4] = byte(base >> 9)
					body[5] = byte(base >> 1)
					body[6] = byte(base<<7) | 0x7E
					body[7] = 0
					i = 8
				}
				for ; i < af; i++ {
					body[i] = 0xFF
				}
			}
			body = body[af:]
		}
		for len(body) > 0 && len(pieces) > 0 {
			k := copy(body, pieces[0])
			body = body[k:]
			pieces[0] = pieces[0][k:]
			total -= k
			if len(pieces[0]) == 0 {
				pieces = pieces[1:]
			}
		}
		if err := m.put(p[:]); err != nil {
			return err
		}
		first = false
	}
	return nil
}

// put adds a packet to the run, handing the run on when it is full.
func (m *Muxer) put(p []byte) error {
	copy(m.run[m.n*PacketSize:], p)
	m.n++
	if m.n == len(m.run)/PacketSize {
		return m.Flush()
	}
	return nil
}

// Flush hands on the packets written since the last run.
func (m *Muxer) Flush() error {
	if m.n == 0 {
		return nil
	}
	n := m.n
	m.n = 0
	return m.emit(m.run[:n*PacketSize])
}

// scanHEVC finds in an Annex B HEVC access unit whether it has an AUD,
// its VPS, SPS and PPS (without start codes), and whether it is an IRAP
// picture (BLA, IDR or CRA: NAL types 16..21).
func scanHEVC(au []byte) (aud bool, vps, sps, pps []byte, irap bool) {
	forNALs(au, func(nal []byte) {
		switch t := nal[0] >> 1 & 0x3F; {
		case t == 35:
			aud = true
		case t == 32:
			vps = nal
		case t == 33:
			sps = nal
		case t == 34:
			pps = nal
		case t >= 16 && t <= 21:
			irap = true
		}
	})
	return
}

// forNALs calls f with each NAL unit of an Annex B byte stream, without its
// start code.
func forNALs(au []byte, f func(nal []byte)) {
	for i := 0; i+3 < len(au); {
		if au[i] != 0 || au[i+1] != 0 || au[i+2] != 1 {
			i++
			continue
		}
		start := i + 3
		end := len(au)
		for j := start; j+2 < len(au); j++ {
			if au[j] == 0 && au[j+1] == 0 && (au[j+2] == 1 || j+3 < len(au) && au[j+2] == 0 && au[j+3] == 1) {
				end = j
				break
			}
		}
		if start < end {
			f(au[start:end])
		}
		i = end
	}
}

// scanH264 finds in an Annex B access unit whether it has an AUD, its SPS
// and PPS (without start codes), and whether it has an IDR slice.
func scanH264(au []byte) (aud bool, sps, pps []byte, idr bool) {
	forNALs(au, func(nal []byte) {
		switch nal[0] & 0x1F {
		case 9:
			aud = true
		case 7:
			sps = nal
		case 8:
			pps = nal
		case 5:
			idr = true
		}
	})
	return
}

// AppendAnnexB appends nalus to dst as an Annex B byte stream, each behind a
// four-byte start code (empty ones left out): the form WriteVideo takes, from the NAL unit lists
// RTMP and RTSP depacketizers give.
func AppendAnnexB(dst []byte, nalus [][]byte) []byte {
	for _, n := range nalus {
		if len(n) == 0 {
			continue
		}
		dst = append(dst, 0, 0, 0, 1)
		dst = append(dst, n...)
	}
	return dst
}
