package fmp4

import (
	"errors"
	"fmt"

	"github.com/slabcast/slabcast/ts"
)

// pes is one reassembled PES packet of an elementary stream.
type pes struct {
	pts, dts uint64 // 33-bit, 90 kHz; dts == pts when the header has no DTS
	hasPTS   bool
	data     []byte // elementary stream bytes after the PES header
}

// program is the result of demultiplexing one segment.
type program struct {
	streams []ts.PMTStream
	pes     map[uint16][]pes
}

// Demultiplexing errors.
var (
	ErrNotTS = errors.New("fmp4: not an MPEG-TS segment")
	ErrNoPMT = errors.New("fmp4: segment has no PAT/PMT")
)

// demux splits a TS segment into the PES packets of the streams of its one
// program. It takes the first program of the first PAT and the first PMT;
// packets of elementary streams before that PMT are ignored. PES data slices
// share no memory with tsData.
func demux(tsData []byte) (*program, error) {
	if len(tsData) < ts.PacketSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrNotTS, len(tsData))
	}
	// Per elementary stream state, found by a linear search: a program has
	// a handful of streams, and maps cost more than the search.
	type esState struct {
		pid      uint16
		cc       uint8
		haveCC   bool
		open     bool   // cur holds a PES under assembly
		cur      []byte // PES under assembly
		lastSize int    // the previous PES's size: the next one's first guess
	}
	var (
		patAsm, pmtAsm ts.SectionAssembler
		pmtPID         uint16
		havePMTPID     bool
		prog           = &program{pes: make(map[uint16][]pes)}
		es             []esState
	)
	find := func(pid uint16) *esState {
		for i := range es {
			if es[i].pid == pid {
				return &es[i]
			}
		}
		return nil
	}
	flush := func(e *esState) {
		if !e.open {
			return
		}
		b := e.cur
		e.open, e.cur = false, nil
		e.lastSize = len(b)
		var h ts.PESHeader
		if ts.ParsePESHeader(b, &h) != nil {
			return // a broken PES is dropped
		}
		if n := int(b[4])<<8 | int(b[5]); n != 0 && 6+n < len(b) {
			b = b[:6+n]
		}
		if h.DataOffset > len(b) {
			return
		}
		p := pes{data: b[h.DataOffset:]}
		if h.HasPTS {
			p.hasPTS, p.pts, p.dts = true, h.PTS, h.PTS
			if h.HasDTS {
				p.dts = h.DTS
			}
		}
		prog.pes[e.pid] = append(prog.pes[e.pid], p)
	}
	for off := 0; off+ts.PacketSize <= len(tsData); off += ts.PacketSize {
		pkt := tsData[off : off+ts.PacketSize]
		if pkt[0] != ts.SyncByte {
			return nil, fmt.Errorf("%w: no sync byte at offset %d", ErrNotTS, off)
		}
		pid := ts.PID(pkt)
		if e := find(pid); e != nil {
			if ts.TEI(pkt) || !ts.HasPayload(pkt) {
				continue
			}
			cc := ts.CC(pkt)
			if e.haveCC && e.cc == cc && !ts.DiscontinuityIndicator(pkt) {
				continue // a repeated packet
			}
			e.cc, e.haveCC = cc, true
			pl := ts.Payload(pkt)
			if len(pl) == 0 {
				continue
			}
			if ts.PUSI(pkt) {
				flush(e)
				// A PES is assembled in one buffer sized from its declared
				// length or, for video (length 0), the previous PES's.
				size := e.lastSize + e.lastSize/4
				if len(pl) >= 6 {
					if n := int(pl[4])<<8 | int(pl[5]); n != 0 {
						size = 6 + n
					}
				}
				e.cur = append(make([]byte, 0, max(size, len(pl))), pl...)
				e.open = true
			} else if e.open {
				e.cur = append(e.cur, pl...)
			}
			continue
		}
		switch {
		case pid == ts.PATPID:
			sec, ok := patAsm.Push(pkt)
			for ; ok && !havePMTPID; sec, ok = patAsm.Next() {
				pat, err := ts.ParsePAT(sec)
				if err != nil {
					continue
				}
				for _, p := range pat.Programs {
					if p.Number != 0 && p.PMTPID != ts.PATPID && p.PMTPID != ts.NullPID {
						pmtPID, havePMTPID = p.PMTPID, true
						break
					}
				}
			}
		case havePMTPID && pid == pmtPID:
			sec, ok := pmtAsm.Push(pkt)
			for ; ok && prog.streams == nil; sec, ok = pmtAsm.Next() {
				pmt, err := ts.ParsePMT(sec)
				if err != nil {
					continue
				}
				prog.streams = pmt.Streams
				if prog.streams == nil {
					prog.streams = []ts.PMTStream{}
				}
				for _, s := range pmt.Streams {
					if s.PID != pmtPID && s.PID != ts.PATPID && find(s.PID) == nil {
						es = append(es, esState{pid: s.PID})
					}
				}
			}
		}
	}
	if prog.streams == nil {
		return nil, ErrNoPMT
	}
	for i := range es {
		flush(&es[i])
	}
	return prog, nil
}

// splitAnnexB returns the NAL units of an Annex-B byte stream, sharing b's
// memory. Bytes before the first start code and empty units are dropped.
func splitAnnexB(b []byte) [][]byte {
	var nalus [][]byte
	start := -1
	i := 0
	for i+2 < len(b) {
		if b[i+2] > 1 {
			i += 3
			continue
		}
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			if start >= 0 {
				nalus = appendNALU(nalus, b[start:i])
			}
			i += 3
			start = i
			continue
		}
		i++
	}
	if start >= 0 {
		nalus = appendNALU(nalus, b[start:])
	}
	return nalus
}

func appendNALU(nalus [][]byte, n []byte) [][]byte {
	for len(n) > 0 && n[len(n)-1] == 0 {
		n = n[:len(n)-1] // trailing_zero_8bits and the first byte of a 4-byte start code
	}
	if len(n) == 0 {
		return nalus
	}
	return append(nalus, n)
}

// adtsFrame is one AAC frame of an ADTS stream.
type adtsFrame struct {
	objectType    uint8 // profile + 1
	freqIndex     uint8
	channelConfig uint8
	au            []byte // raw_data_block, sharing the input's memory
}

// splitADTS returns the ADTS frames of b. It stops at the first byte that
// is not the start of a whole, valid frame. Frames with more than one
// raw_data_block are skipped (their blocks cannot be told apart without
// decoding the audio).
func splitADTS(b []byte) []adtsFrame {
	var frames []adtsFrame
	for len(b) >= 7 {
		if b[0] != 0xFF || b[1]&0xF6 != 0xF0 { // syncword, layer 0
			break
		}
		protectionAbsent := b[1]&1 == 1
		hdr := 7
		if !protectionAbsent {
			hdr = 9
		}
		n := int(b[3]&3)<<11 | int(b[4])<<3 | int(b[5]>>5)
		if n < hdr || n > len(b) {
			break
		}
		blocks := b[6] & 3
		if blocks == 0 && n > hdr {
			frames = append(frames, adtsFrame{
				objectType:    b[2]>>6 + 1,
				freqIndex:     b[2] >> 2 & 0x0F,
				channelConfig: (b[2]&1)<<2 | b[3]>>6,
				au:            b[hdr:n:n],
			})
		}
		b = b[n:]
	}
	return frames
}
