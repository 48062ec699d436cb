package nic

// RTP inputs (rtp://, RFC 2250 MPEG-TS over RTP as RFC 3550 defines it):
// RTPReceiver strips the RTP header, puts datagrams back in sequence order
// within a small window and counts what the network lost, duplicated or
// delivered too late.

import "errors"

const (
	// MaxRTPPayload is the largest TS payload an RTP datagram may carry: 48
	// TS packets, more than a 9000-byte jumbo frame holds.
	MaxRTPPayload = 48 * 188
	// DefaultRTPWindow is the reorder window NewRTPReceiver uses for a
	// window <= 0 and the zero RTPReceiver uses.
	DefaultRTPWindow = 32
	// MaxRTPWindow is the largest reorder window; larger ones are clamped.
	MaxRTPWindow = 1024
	// RTPMaxJump is the largest sequence step, forward or back, taken as
	// the same stream. A bigger one (a sender restart, a new encoder) makes
	// the receiver start over at the new sequence number without counting
	// the step as loss.
	RTPMaxJump = 3000

	rtpHeaderLen = 12
	tsPacketLen  = 188
	// historyBits covers the RTPMaxJump sequence numbers behind the
	// emitted point, so a packet arriving behind it can be told apart as a
	// duplicate (already emitted) or late (given up). A power of two that
	// divides 65536, so seq%historyBits is continuous across the wrap.
	historyBits = 4096
)

// ErrBadRTP is wrapped by every error Push returns for a datagram that is
// not an RTP packet carrying MPEG-TS.
var ErrBadRTP = errors.New("nic: bad RTP packet")

// badRTP is a reason a datagram is refused. Push returns only the
// preallocated values below, so refusing a datagram allocates nothing.
type badRTP string

func (e badRTP) Error() string { return ErrBadRTP.Error() + ": " + string(e) }
func (e badRTP) Unwrap() error { return ErrBadRTP }

var (
	errRTPShort     error = badRTP("shorter than the 12-byte RTP header")
	errRTPVersion   error = badRTP("RTP version is not 2")
	errRTPCSRC      error = badRTP("CSRC list runs past the end")
	errRTPExtension error = badRTP("header extension runs past the end")
	errRTPPadding   error = badRTP("bad padding length")
	errRTPPayload   error = badRTP("payload is not a non-zero multiple of 188 bytes")
	errRTPTooBig    error = badRTP("payload larger than 9024 bytes (48 TS packets)")
)

// RTPStats counts what an RTPReceiver saw. Every accepted datagram is
// counted in Packets and ends up in exactly one place: emitted, still held
// for reordering, or dropped as a duplicate or late packet.
type RTPStats struct {
	Packets    uint64 // valid RTP datagrams pushed (errors are not counted)
	Lost       uint64 // sequence numbers given up as missing
	Reordered  uint64 // packets that arrived after a later one and were put back in order
	Duplicates uint64 // packets dropped because the same sequence number was already held or emitted
	Late       uint64 // packets dropped because their place was already given up (counted in Lost then)
	Resets     uint64 // resyncs on an SSRC change or a step larger than RTPMaxJump
}

// RTPReceiver turns RTP datagrams carrying MPEG-TS into TS payloads in
// sequence order. It repairs reordering within Window packets and counts
// what is lost.
//
// Sequence numbers are 16 bits and wrap. The first packet sets the
// expectation. A packet with the expected number is emitted at once, with
// any held successors; an early one (ahead by less than the window) is held
// in a preallocated slot; when holding a packet would need more than the
// window, the missing numbers in front are given up (counted in Lost) and
// what follows them is emitted. Packets behind the emitted point are
// dropped, as Duplicates when emitted before and as Late when given up.
// An SSRC change or a step larger than RTPMaxJump emits what is held and
// starts over (Resets), not counting the step as loss.
//
// The payload type is deliberately not checked: RFC 3551 assigns 33 (MP2T)
// but many IPTV senders use a dynamic type (96-127) for the same payload.
//
// Memory: the slots (window × MaxRTPPayload bytes) are allocated once, by
// NewRTPReceiver or by the first Push into a zero RTPReceiver, which uses
// DefaultRTPWindow. Push, Flush, Stats and Reset allocate nothing.
//
// An RTPReceiver is used by one goroutine at a time.
type RTPReceiver struct {
	slots []byte   // window × MaxRTPPayload: the held payloads
	lens  []uint16 // payload length per slot; 0 means empty
	w     int      // window, len(lens)

	head    int    // slot of the sequence number next
	next    uint16 // the first sequence number not yet emitted or given up
	span    int    // 1 + offset from next of the furthest held packet; 0 if none held
	held    int    // packets held
	started bool   // a packet has set the expectation
	ssrc    uint32 // the stream's synchronisation source

	// emitted has bit seq%historyBits set when seq was emitted (or dropped
	// as late), clear when it was given up or never seen.
	emitted [historyBits / 64]uint64

	stats RTPStats
}

// NewRTPReceiver returns a receiver repairing reordering within window
// packets: window <= 0 means DefaultRTPWindow, and a window above
// MaxRTPWindow is clamped to it. It allocates window × MaxRTPPayload bytes.
func NewRTPReceiver(window int) *RTPReceiver {
	r := new(RTPReceiver)
	r.init(window)
	return r
}

func (r *RTPReceiver) init(window int) {
	if window <= 0 {
		window = DefaultRTPWindow
	}
	window = min(window, MaxRTPWindow)
	r.w = window
	r.slots = make([]byte, window*MaxRTPPayload)
	r.lens = make([]uint16, window)
}

// Window returns the reorder window in packets.
func (r *RTPReceiver) Window() int {
	if r.w == 0 {
		return DefaultRTPWindow
	}
	return r.w
}

// Stats returns the counters so far.
func (r *RTPReceiver) Stats() RTPStats { return r.stats }

// Held returns how many packets are held waiting for a missing predecessor.
func (r *RTPReceiver) Held() int { return r.held }

// Reset makes r as good as new: it forgets the sequence state, drops what
// it holds without emitting it and zeroes the counters. The slots are kept.
func (r *RTPReceiver) Reset() {
	clear(r.lens)
	slots, lens, w := r.slots, r.lens, r.w
	*r = RTPReceiver{slots: slots, lens: lens, w: w}
}

// parseRTP returns the TS payload of an RTP datagram with its sequence
// number and SSRC (RFC 3550 §5.1):
//
//	0: V(2) P(1) X(1) CC(4)   1: M(1) PT(7)   2-3: sequence   4-7: timestamp
//	8-11: SSRC   then CC×4 bytes of CSRC, then if X a 4-byte extension
//	header whose bytes 2-3 count the 4-byte words following it, then the
//	payload, then if P padding whose last byte counts the padding itself.
func parseRTP(d []byte) (payload []byte, seq uint16, ssrc uint32, err error) {
	if len(d) < rtpHeaderLen {
		return nil, 0, 0, errRTPShort
	}
	if d[0]>>6 != 2 {
		return nil, 0, 0, errRTPVersion
	}
	n := rtpHeaderLen + 4*int(d[0]&0x0f)
	if n > len(d) {
		return nil, 0, 0, errRTPCSRC
	}
	if d[0]&0x10 != 0 {
		if n+4 > len(d) {
			return nil, 0, 0, errRTPExtension
		}
		n += 4 + 4*(int(d[n+2])<<8|int(d[n+3]))
		if n > len(d) {
			return nil, 0, 0, errRTPExtension
		}
	}
	end := len(d)
	if d[0]&0x20 != 0 {
		pad := int(d[end-1])
		if pad == 0 || pad > end-n {
			return nil, 0, 0, errRTPPadding
		}
		end -= pad
	}
	payload = d[n:end]
	if len(payload) == 0 || len(payload)%tsPacketLen != 0 {
		return nil, 0, 0, errRTPPayload
	}
	if len(payload) > MaxRTPPayload {
		return nil, 0, 0, errRTPTooBig
	}
	seq = uint16(d[2])<<8 | uint16(d[3])
	ssrc = uint32(d[8])<<24 | uint32(d[9])<<16 | uint32(d[10])<<8 | uint32(d[11])
	return payload, seq, ssrc, nil
}

// Push takes one datagram and calls emit for every TS payload that is now
// in order: none, one or several. Each payload is valid only during its
// emit call. A datagram that is not valid RTP carrying MPEG-TS (version not
// 2, too short, CSRC list, extension or padding running past the end,
// payload empty, not a multiple of 188 bytes or above MaxRTPPayload) is
// refused with an error wrapping ErrBadRTP; nothing is emitted or counted
// then, so the caller counts those.
func (r *RTPReceiver) Push(d []byte, emit func(ts []byte)) error {
	p, seq, ssrc, err := parseRTP(d)
	if err != nil {
		return err
	}
	if r.slots == nil {
		r.init(DefaultRTPWindow)
	}
	r.stats.Packets++
	switch {
	case !r.started:
		r.start(seq, ssrc)
	case ssrc != r.ssrc:
		r.resync(seq, ssrc, emit)
	}
	off := int(int16(seq - r.next))
	switch {
	case off >= r.w && off <= RTPMaxJump:
		// Holding it would need more than the window: give up on the
		// oldest missing numbers so that it fits.
		r.advance(off-(r.w-1), emit)
		r.drain(emit)
		off = int(int16(seq - r.next))
	case off < -RTPMaxJump || off > RTPMaxJump:
		r.resync(seq, ssrc, emit)
		off = 0
	}
	switch {
	case off == 0:
		if r.held > 0 {
			r.stats.Reordered++ // a later packet came first
		}
		r.emit(p, emit)
		r.drain(emit)
	case off > 0:
		i := r.slot(off)
		if r.lens[i] != 0 {
			r.stats.Duplicates++
			return nil
		}
		if off < r.span {
			r.stats.Reordered++
		} else {
			r.span = off + 1
		}
		copy(r.slots[i*MaxRTPPayload:], p)
		r.lens[i] = uint16(len(p))
		r.held++
	default: // behind the emitted point, by at most RTPMaxJump
		bit := &r.emitted[seq/64%(historyBits/64)]
		if m := uint64(1) << (seq % 64); *bit&m != 0 {
			r.stats.Duplicates++
		} else {
			r.stats.Late++
			*bit |= m // a second copy is a duplicate
		}
	}
	return nil
}

// Flush emits everything held, in order, giving up on the missing numbers
// between (counted in Lost), for example when the source goes quiet. The
// expectation moves past the last held packet; the stream's next packet
// continues from there.
func (r *RTPReceiver) Flush(emit func(ts []byte)) {
	r.advance(r.span, emit)
}

// start makes seq the expected number of a new stream from ssrc.
func (r *RTPReceiver) start(seq uint16, ssrc uint32) {
	r.started, r.next, r.ssrc, r.head = true, seq, ssrc, 0
	clear(r.emitted[:])
}

// resync emits what is held and starts over at seq.
func (r *RTPReceiver) resync(seq uint16, ssrc uint32, emit func([]byte)) {
	r.Flush(emit)
	r.stats.Resets++
	r.start(seq, ssrc)
}

// slot returns the slot index for the sequence number off after next;
// 0 <= off < w.
func (r *RTPReceiver) slot(off int) int {
	i := r.head + off
	if i >= r.w {
		i -= r.w
	}
	return i
}

// emit hands out the payload of next and moves past it.
func (r *RTPReceiver) emit(p []byte, emit func([]byte)) {
	r.emitted[r.next/64%(historyBits/64)] |= 1 << (r.next % 64)
	emit(p)
	r.step()
}

// step moves the expectation one number on.
func (r *RTPReceiver) step() {
	r.next++
	if r.head++; r.head == r.w {
		r.head = 0
	}
	if r.span > 0 {
		r.span--
	}
}

// drain emits the held packets that directly follow the emitted point.
func (r *RTPReceiver) drain(emit func([]byte)) {
	for r.held > 0 && r.lens[r.head] != 0 {
		r.emitSlot(emit)
	}
}

// emitSlot emits the held packet in the head slot.
func (r *RTPReceiver) emitSlot(emit func([]byte)) {
	i := r.head
	n := int(r.lens[i])
	r.lens[i] = 0
	r.held--
	r.emit(r.slots[i*MaxRTPPayload:i*MaxRTPPayload+n], emit)
}

// advance moves the expectation n numbers on, emitting the held packets
// among them and giving up on the rest.
func (r *RTPReceiver) advance(n int, emit func([]byte)) {
	for ; n > 0; n-- {
		if r.lens[r.head] != 0 {
			r.emitSlot(emit)
			continue
		}
		r.emitted[r.next/64%(historyBits/64)] &^= 1 << (r.next % 64)
		r.stats.Lost++
		r.step()
	}
}
