package hlstest

import (
	"errors"
	"fmt"
)

// PacketSize is the size of an MPEG-TS packet.
const PacketSize = 188

const (
	syncByte = 0x47
	nullPID  = 0x1fff
)

func pid(pkt []byte) uint16 { return uint16(pkt[1]&0x1f)<<8 | uint16(pkt[2]) }

func pusi(pkt []byte) bool { return pkt[1]&0x40 != 0 }

// payload returns the payload of a 188-byte packet, nil when it has none or
// the adaptation field is malformed.
func payload(pkt []byte) []byte {
	afc := pkt[3] >> 4 & 3
	switch afc {
	case 1:
		return pkt[4:]
	case 3:
		n := int(pkt[4])
		if 5+n >= PacketSize {
			return nil
		}
		return pkt[5+n:]
	}
	return nil
}

// FirstPacketIsPAT reports whether b starts with a whole TS packet (sync byte
// 0x47) on PID 0 that starts a section (payload_unit_start_indicator set):
// the first packet of a segment that starts with a PAT.
func FirstPacketIsPAT(b []byte) bool {
	return len(b) >= PacketSize && b[0] == syncByte && pid(b) == 0 && pusi(b)
}

// StartsWithPATPMT checks that b starts with a PAT packet and that the next
// packet carries the start of the PMT that PAT names (its first program with
// a non-zero number), as docs/SPEC.md §4 promises for every segment and for the
// start of /NAME/mpegts.
func StartsWithPATPMT(b []byte) error {
	if !FirstPacketIsPAT(b) {
		return errors.New("hlstest: first packet is not the start of a PAT")
	}
	pl := payload(b[:PacketSize])
	if len(pl) < 1 || 1+int(pl[0]) >= len(pl) {
		return errors.New("hlstest: PAT packet has no section")
	}
	sec := pl[1+int(pl[0]):]
	if len(sec) < 8 || sec[0] != 0x00 {
		return fmt.Errorf("hlstest: PID 0 section is not a PAT (table_id %#x)", sec[0])
	}
	secLen := int(sec[1]&0x0f)<<8 | int(sec[2])
	if secLen < 9 || 3+secLen > len(sec) {
		return fmt.Errorf("hlstest: PAT section length %d does not fit the packet", secLen)
	}
	pmtPID := -1
	for prog := sec[8 : 3+secLen-4]; len(prog) >= 4; prog = prog[4:] {
		if num := int(prog[0])<<8 | int(prog[1]); num != 0 {
			pmtPID = int(prog[2]&0x1f)<<8 | int(prog[3])
			break
		}
	}
	if pmtPID < 0 {
		return errors.New("hlstest: PAT lists no program")
	}
	if len(b) < 2*PacketSize {
		return errors.New("hlstest: no packet after the PAT")
	}
	pkt := b[PacketSize : 2*PacketSize]
	if pkt[0] != syncByte {
		return errors.New("hlstest: second packet lost sync")
	}
	if int(pid(pkt)) != pmtPID || !pusi(pkt) {
		return fmt.Errorf("hlstest: second packet is PID %#x, want the start of the PMT on PID %#x", pid(pkt), pmtPID)
	}
	pl = payload(pkt)
	if len(pl) < 2 || 1+int(pl[0]) >= len(pl) || pl[1+int(pl[0])] != 0x02 {
		return fmt.Errorf("hlstest: PID %#x does not start a PMT section", pmtPID)
	}
	return nil
}

// ContinuityErrors counts continuity_counter errors in a byte stream of TS
// packets (188-byte steps; packets without the sync byte and a trailing
// partial packet are skipped). Per PID other than the null PID, each packet
// with a payload must carry the previous payload packet's counter + 1 mod
// 16; one repeat of a counter (a duplicate packet) is allowed, a second is
// an error; a packet whose adaptation field sets discontinuity_indicator
// starts the count afresh. The first packet of each PID is not judged.
func ContinuityErrors(b []byte) int {
	const (
		unseen = iota
		seen
		dupSeen
	)
	var (
		state [8192]uint8
		last  [8192]uint8
	)
	errs := 0
	for ; len(b) >= PacketSize; b = b[PacketSize:] {
		pkt := b[:PacketSize]
		if pkt[0] != syncByte {
			continue
		}
		p := pid(pkt)
		afc := pkt[3] >> 4 & 3
		if p == nullPID || afc&1 == 0 {
			continue // no payload: the counter does not advance
		}
		cc := pkt[3] & 0x0f
		if afc == 3 && pkt[4] > 0 && pkt[5]&0x80 != 0 {
			state[p] = unseen // discontinuity_indicator
		}
		switch {
		case state[p] == unseen:
			state[p] = seen
		case cc == last[p]:
			if state[p] == dupSeen {
				errs++
			}
			state[p] = dupSeen
		case cc == (last[p]+1)&0x0f:
			state[p] = seen
		default:
			errs++
			state[p] = seen
		}
		last[p] = cc
	}
	return errs
}
