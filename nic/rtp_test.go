package nic

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rtpHdr describes the RTP header rtpPacket builds around a payload.
type rtpHdr struct {
	version  byte // 0 means 2
	pt       byte
	seq      uint16
	ssrc     uint32
	csrc     int // 0..15 CSRC entries
	extWords int // -1: no extension; else the extension's length in 4-byte words
	pad      int // padding bytes, 0: P bit clear
}

func rtpPacket(h rtpHdr, payload []byte) []byte {
	v := h.version
	if v == 0 {
		v = 2
	}
	b0 := v<<6 | byte(h.csrc)
	if h.pad > 0 {
		b0 |= 0x20
	}
	if h.extWords >= 0 {
		b0 |= 0x10
	}
	d := []byte{b0, 0x80 | h.pt, byte(h.seq >> 8), byte(h.seq), 0x12, 0x34, 0x56, 0x78,
		byte(h.ssrc >> 24), byte(h.ssrc >> 16), byte(h.ssrc >> 8), byte(h.ssrc)}
	for i := range h.csrc {
		d = append(d, 0xc5, 0xc5, 0xc5, byte(i))
	}
	if h.extWords >= 0 {
		d = append(d, 0xbe, 0xde, byte(h.extWords>>8), byte(h.extWords))
		for range h.extWords {
			d = append(d, 0xee, 0xee, 0xee, 0xee)
		}
	}
	d = append(d, payload...)
	if h.pad > 0 {
		for range h.pad - 1 {
			d = append(d, 0)
		}
		d = append(d, byte(h.pad))
	}
	return d
}

// tsFor returns n TS packets tagged with seq and tag, so an emitted
// payload tells which datagram it came from.
func tsFor(seq uint16, tag byte, n int) []byte {
	p := make([]byte, n*188)
	for i := 0; i < len(p); i += 188 {
		p[i], p[i+1], p[i+2], p[i+3] = 0x47, byte(seq>>8), byte(seq), tag
		for j := 4; j < 188; j++ {
			p[i+j] = byte(seq) + byte(j)
		}
	}
	return p
}

// tsSeq checks a payload built by tsFor and returns its sequence number.
func tsSeq(t testing.TB, p []byte) (uint16, byte) {
	t.Helper()
	if len(p) == 0 || len(p)%188 != 0 || len(p) > MaxRTPPayload {
		t.Fatalf("emitted %d bytes, want a non-zero multiple of 188 up to %d", len(p), MaxRTPPayload)
	}
	seq, tag := uint16(p[1])<<8|uint16(p[2]), p[3]
	if !bytes.Equal(p, tsFor(seq, tag, len(p)/188)) {
		t.Fatalf("payload of seq %d tag %d is corrupt", seq, tag)
	}
	return seq, tag
}

// npkts is how many TS packets the test datagram for seq carries, varied so
// a slot mixing up lengths shows.
func npkts(seq uint16) int { return int(seq%3) + 1 }

func noEmit([]byte) {}

func TestParseRTP(t *testing.T) {
	ts := tsFor(7, 0, 7)
	ok := func(h rtpHdr, payload []byte) {
		t.Helper()
		d := rtpPacket(h, payload)
		p, seq, ssrc, err := parseRTP(d)
		if err != nil {
			t.Fatalf("%+v: %v", h, err)
		}
		if !bytes.Equal(p, payload) || seq != h.seq || ssrc != h.ssrc {
			t.Fatalf("%+v: got %d bytes seq %d ssrc %#x", h, len(p), seq, ssrc)
		}
	}
	for cc := range 16 {
		ok(rtpHdr{seq: 1, ssrc: 0xdeadbeef, csrc: cc, extWords: -1}, ts)
	}
	ok(rtpHdr{seq: 65535, ssrc: 1, extWords: 0}, ts)
	ok(rtpHdr{seq: 2, extWords: 3}, ts)
	ok(rtpHdr{seq: 2, csrc: 15, extWords: 255}, ts)
	ok(rtpHdr{seq: 2, extWords: -1, pad: 1}, ts)
	ok(rtpHdr{seq: 2, extWords: -1, pad: 4}, ts)
	ok(rtpHdr{seq: 2, extWords: -1, pad: 255}, ts)
	ok(rtpHdr{seq: 3, csrc: 2, extWords: 1, pad: 3}, ts)
	ok(rtpHdr{seq: 4, pt: 96, extWords: -1}, ts) // dynamic payload type
	ok(rtpHdr{seq: 4, pt: 0, extWords: -1}, ts)  // not checked at all
	ok(rtpHdr{seq: 5, extWords: -1}, ts[:188])
	ok(rtpHdr{seq: 5, extWords: -1}, tsFor(5, 0, 48))

	bad := func(d []byte, want error) {
		t.Helper()
		r := NewRTPReceiver(4)
		err := r.Push(d, func([]byte) { t.Fatalf("bad datagram emitted something") })
		if err != want || !errors.Is(err, ErrBadRTP) {
			t.Fatalf("Push(% x...) = %v, want %v wrapping ErrBadRTP", d[:min(len(d), 16)], err, want)
		}
		if !strings.HasPrefix(err.Error(), "nic: bad RTP packet: ") {
			t.Fatalf("error %q lacks the prefix", err)
		}
		if s := r.Stats(); s != (RTPStats{}) {
			t.Fatalf("a refused datagram was counted: %+v", s)
		}
	}
	none := rtpHdr{extWords: -1}
	bad(nil, errRTPShort)
	bad(rtpPacket(none, nil)[:11], errRTPShort)
	bad(rtpPacket(rtpHdr{version: 1, extWords: -1}, ts), errRTPVersion)
	bad(rtpPacket(rtpHdr{version: 3, extWords: -1}, ts), errRTPVersion)
	bad(append([]byte{0}, ts...), errRTPVersion) // bare TS is not RTP (0x47 has version 1)
	bad(rtpPacket(rtpHdr{csrc: 15, extWords: -1}, nil)[:12+4*15-1], errRTPCSRC)
	bad(rtpPacket(rtpHdr{csrc: 3, extWords: 0}, nil)[:12+12+3], errRTPExtension)
	bad(rtpPacket(rtpHdr{extWords: 2}, nil)[:12+4+7], errRTPExtension)
	long := rtpPacket(rtpHdr{extWords: 0}, ts)
	long[14], long[15] = 0xff, 0xff // extension claims 65535 words
	bad(long, errRTPExtension)
	noPad := rtpPacket(none, ts)
	noPad[0] |= 0x20 // P set but nothing appended: the last TS byte (194) is taken as the count
	bad(noPad, errRTPPayload)
	zeroPad := rtpPacket(rtpHdr{extWords: -1, pad: 2}, ts)
	zeroPad[len(zeroPad)-1] = 0
	bad(zeroPad, errRTPPadding)
	overPad := rtpPacket(rtpHdr{csrc: 1, extWords: -1, pad: 2}, ts[:188])
	overPad[len(overPad)-1] = 188 + 2 + 1 // eats into the CSRC list
	bad(overPad, errRTPPadding)
	bad(rtpPacket(none, nil), errRTPPayload)
	bad(rtpPacket(rtpHdr{extWords: -1, pad: 4}, nil), errRTPPayload)
	bad(rtpPacket(none, ts[:187]), errRTPPayload)
	bad(rtpPacket(none, ts[:189]), errRTPPayload)
	bad(rtpPacket(rtpHdr{extWords: -1, pad: 3}, ts[:190]), errRTPPayload)
	bad(rtpPacket(none, tsFor(1, 0, 49)), errRTPTooBig)
}

// pk is one datagram of a sequence test.
type pk struct {
	seq  uint16
	ssrc uint32
}

// rng returns n datagrams from SSRC 1 numbered from, wrapping at 65535.
func rng(from uint16, n int) []pk {
	out := make([]pk, n)
	for i := range out {
		out[i] = pk{from + uint16(i), 1}
	}
	return out
}

func seqsOf(in []pk) []uint16 {
	out := make([]uint16, len(in))
	for i, p := range in {
		out[i] = p.seq
	}
	return out
}

func without(in []pk, drop ...uint16) []pk {
	return slices.DeleteFunc(slices.Clone(in), func(p pk) bool { return slices.Contains(drop, p.seq) })
}

// rtpRun pushes in through r and flushes; it returns the sequence numbers
// emitted, checking each payload is the one sent for its number.
func rtpRun(t *testing.T, r *RTPReceiver, in []pk) []uint16 {
	t.Helper()
	var got []uint16
	emit := func(p []byte) {
		seq, _ := tsSeq(t, p)
		if len(p)/188 != npkts(seq) {
			t.Fatalf("seq %d emitted with %d TS packets, sent %d", seq, len(p)/188, npkts(seq))
		}
		got = append(got, seq)
	}
	for _, p := range in {
		d := rtpPacket(rtpHdr{seq: p.seq, ssrc: p.ssrc, pt: 33, extWords: -1}, tsFor(p.seq, byte(p.ssrc), npkts(p.seq)))
		if err := r.Push(d, emit); err != nil {
			t.Fatal(err)
		}
	}
	r.Flush(emit)
	if r.Held() != 0 {
		t.Fatalf("%d packets held after Flush", r.Held())
	}
	return got
}

func TestRTPReceiverSequence(t *testing.T) {
	f := func(name string, window int, in []pk, want []uint16, ws RTPStats) {
		t.Helper()
		r := NewRTPReceiver(window)
		got := rtpRun(t, r, in)
		if !slices.Equal(got, want) {
			t.Fatalf("%s: emitted %v\nwant %v", name, got, want)
		}
		ws.Packets = uint64(len(in))
		if s := r.Stats(); s != ws {
			t.Fatalf("%s: stats %+v, want %+v", name, s, ws)
		}
	}
	cat := func(parts ...[]pk) []pk { return slices.Concat(parts...) }
	s := func(seqs ...uint16) []pk {
		out := make([]pk, len(seqs))
		for i, q := range seqs {
			out[i] = pk{q, 1}
		}
		return out
	}
	swapPairs := func(in []pk) []pk {
		out := slices.Clone(in)
		for i := 0; i+1 < len(out); i += 2 {
			out[i], out[i+1] = out[i+1], out[i]
		}
		return out
	}
	reverseBlocks := func(in []pk, n int) []pk {
		out := slices.Clone(in)
		for i := 0; i < len(out); i += n {
			slices.Reverse(out[i:min(i+n, len(out))])
		}
		return out
	}
	ssrc := func(in []pk, id uint32) []pk {
		for i := range in {
			in[i].ssrc = id
		}
		return in
	}

	f("in order", 32, rng(0, 100), seqsOf(rng(0, 100)), RTPStats{})
	f("wrap 65535 to 0", 32, rng(65500, 100), seqsOf(rng(65500, 100)), RTPStats{})
	f("starts at 65535", 32, rng(65535, 3), []uint16{65535, 0, 1}, RTPStats{})
	// The first packet sets the expectation, so these start with one in order.
	f("swap pairs", 32, cat(s(65519), swapPairs(rng(65520, 64))), seqsOf(rng(65519, 65)), RTPStats{Reordered: 32})
	f("reverse blocks of 8", 32, cat(s(65499), reverseBlocks(rng(65500, 256), 8)), seqsOf(rng(65499, 257)), RTPStats{Reordered: 32 * 7})
	f("reverse a full window", 32, cat(s(6), reverseBlocks(rng(7, 64), 32)), seqsOf(rng(6, 65)), RTPStats{Reordered: 2 * 31})
	f("first packet out of order", 32, s(1, 0, 2, 3), []uint16{1, 2, 3}, RTPStats{Late: 1})
	f("reverse more than the window", 4, cat(s(0), s(5, 4, 3, 2, 1)), []uint16{0, 2, 3, 4, 5},
		RTPStats{Lost: 1, Reordered: 3, Late: 1})

	drops := []uint16{5, 17, 18, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 250, 298}
	f("drops", 32, without(rng(0, 300), drops...), seqsOf(without(rng(0, 300), drops...)), RTPStats{Lost: uint64(len(drops))})
	f("drops across the wrap", 8, without(rng(65530, 20), 65534, 65535, 0, 3), seqsOf(without(rng(65530, 20), 65534, 65535, 0, 3)), RTPStats{Lost: 4})
	f("drop a window's worth", 8, without(rng(0, 40), seqsOf(rng(10, 20))...), seqsOf(without(rng(0, 40), seqsOf(rng(10, 20))...)), RTPStats{Lost: 20})
	f("drops and swaps", 32, cat(s(0), swapPairs(without(rng(1, 64), 9, 30))), seqsOf(without(rng(0, 65), 9, 30)), RTPStats{Lost: 2, Reordered: 31})
	f("flush gives up the gaps", 32, s(0, 2, 5, 6), []uint16{0, 2, 5, 6}, RTPStats{Lost: 3})

	f("duplicates", 32, s(0, 1, 1, 2, 4, 4, 3, 3, 5, 0), []uint16{0, 1, 2, 3, 4, 5}, RTPStats{Duplicates: 4, Reordered: 1})
	f("late after give-up", 4, s(0, 2, 3, 4, 5, 6, 1, 1), []uint16{0, 2, 3, 4, 5, 6}, RTPStats{Lost: 1, Late: 1, Duplicates: 1})
	f("late beyond a window of 8", 8, cat(s(0), rng(2, 11), s(1)), seqsOf(cat(s(0), rng(2, 11))), RTPStats{Lost: 1, Late: 1})
	f("behind the start is late", 32, s(10, 11, 9), []uint16{10, 11}, RTPStats{Late: 1})

	f("step of RTPMaxJump is loss", 32, cat(rng(0, 10), s(10+RTPMaxJump)), append(seqsOf(rng(0, 10)), 10+RTPMaxJump), RTPStats{Lost: RTPMaxJump})
	f("step past RTPMaxJump resets", 32, cat(rng(0, 10), rng(10+RTPMaxJump+1, 5)), seqsOf(cat(rng(0, 10), rng(10+RTPMaxJump+1, 5))), RTPStats{Resets: 1})
	f("jump forward resets", 32, cat(rng(0, 10), rng(40000, 10)), seqsOf(cat(rng(0, 10), rng(40000, 10))), RTPStats{Resets: 1})
	f("jump back resets", 32, cat(rng(40000, 10), rng(100, 10)), seqsOf(cat(rng(40000, 10), rng(100, 10))), RTPStats{Resets: 1})
	f("step back past RTPMaxJump resets", 32, cat(rng(5000, 10), rng(5010-RTPMaxJump-1, 3)), seqsOf(cat(rng(5000, 10), rng(5010-RTPMaxJump-1, 3))), RTPStats{Resets: 1})
	f("step back of RTPMaxJump is late", 32, cat(rng(5000, 10), s(5010-RTPMaxJump)), seqsOf(rng(5000, 10)), RTPStats{Late: 1})
	f("reset emits what is held", 32, cat(s(0, 1, 3, 4), rng(9000, 2)), []uint16{0, 1, 3, 4, 9000, 9001}, RTPStats{Lost: 1, Resets: 1})
	f("ssrc change", 32, cat(rng(0, 10), ssrc(rng(10, 10), 2)), seqsOf(rng(0, 20)), RTPStats{Resets: 1})
	f("ssrc change restarting", 32, cat(rng(500, 10), ssrc(rng(0, 10), 2)), seqsOf(cat(rng(500, 10), rng(0, 10))), RTPStats{Resets: 1})
	f("ssrc change with held", 32, cat(s(0, 1, 3), ssrc(rng(3, 3), 2)), []uint16{0, 1, 3, 3, 4, 5}, RTPStats{Lost: 1, Resets: 1})
	f("ssrc changes back and forth", 32, cat(rng(0, 3), ssrc(rng(3, 3), 2), ssrc(rng(6, 3), 3)), seqsOf(rng(0, 9)), RTPStats{Resets: 2})
}

// TestRTPReceiverRandom sends a long stream across the wrap with random
// drops, duplicates and reordering within the window, and checks the
// receiver puts back exactly what was sent and counts exactly what was
// dropped.
func TestRTPReceiverRandom(t *testing.T) {
	const n, maxShift = 20000, 8
	rnd := rand.New(rand.NewPCG(1, 2))
	type sent struct {
		key float64
		p   pk
	}
	var wire []sent
	var want []uint16
	lost, dups := 0, 0
	for i := range n {
		seq := uint16(60000 + i)
		if i > 0 && i < n-1 && rnd.IntN(50) == 0 { // not the first nor the last: undetectable
			lost++
			continue
		}
		want = append(want, seq)
		// Each packet may be overtaken by those up to maxShift after it.
		key := float64(i) + rnd.Float64()*maxShift
		if i == 0 {
			key = -1 // the first packet sets the expectation
		}
		wire = append(wire, sent{key, pk{seq, 1}})
		if rnd.IntN(100) == 0 {
			dups++
			wire = append(wire, sent{float64(i) + rnd.Float64()*maxShift, pk{seq, 1}})
		}
	}
	slices.SortStableFunc(wire, func(a, b sent) int {
		if a.key < b.key {
			return -1
		}
		if a.key > b.key {
			return 1
		}
		return 0
	})
	in := make([]pk, len(wire))
	for i, w := range wire {
		in[i] = w.p
	}
	r := NewRTPReceiver(32)
	got := rtpRun(t, r, in)
	if !slices.Equal(got, want) {
		t.Fatalf("emitted %d packets, want %d in order", len(got), len(want))
	}
	s := r.Stats()
	if s.Packets != uint64(len(in)) || s.Lost != uint64(lost) || s.Duplicates != uint64(dups) || s.Late != 0 || s.Resets != 0 {
		t.Fatalf("stats %+v, want Packets %d Lost %d Duplicates %d", s, len(in), lost, dups)
	}
	if s.Reordered < n/10 {
		t.Fatalf("only %d reordered of %d: the shuffle did not reorder", s.Reordered, n)
	}
	t.Logf("%+v", s)
}

func TestRTPReceiverFlushContinues(t *testing.T) {
	r := NewRTPReceiver(32)
	got := rtpRun(t, r, []pk{{0, 1}, {1, 1}, {3, 1}}) // Flush gives up 2
	got = append(got, rtpRun(t, r, []pk{{4, 1}, {5, 1}, {2, 1}, {7, 1}, {8, 1}})...)
	if want := []uint16{0, 1, 3, 4, 5, 7, 8}; !slices.Equal(got, want) {
		t.Fatalf("emitted %v, want %v", got, want)
	}
	if s, want := r.Stats(), (RTPStats{Packets: 8, Lost: 2, Late: 1}); s != want {
		t.Fatalf("stats %+v, want %+v", s, want)
	}
}

func TestRTPReceiverReset(t *testing.T) {
	r := NewRTPReceiver(8)
	rtpRun(t, r, []pk{{0, 1}, {2, 1}})
	r.Push(rtpPacket(rtpHdr{seq: 5, ssrc: 1, extWords: -1}, tsFor(5, 0, 3)), noEmit)
	if r.Held() != 1 {
		t.Fatalf("held %d, want 1", r.Held())
	}
	r.Reset()
	if r.Held() != 0 || r.Stats() != (RTPStats{}) || r.Window() != 8 {
		t.Fatalf("after Reset: held %d, stats %+v, window %d", r.Held(), r.Stats(), r.Window())
	}
	// A fresh start: 5 is neither held nor remembered, and 9000 is no jump.
	got := rtpRun(t, r, []pk{{9000, 1}, {9002, 1}, {9001, 1}})
	if want := []uint16{9000, 9001, 9002}; !slices.Equal(got, want) {
		t.Fatalf("emitted %v, want %v", got, want)
	}
	if s, want := r.Stats(), (RTPStats{Packets: 3, Reordered: 1}); s != want {
		t.Fatalf("stats %+v, want %+v", s, want)
	}
}

func TestRTPReceiverZeroValue(t *testing.T) {
	var r RTPReceiver
	if r.Window() != DefaultRTPWindow {
		t.Fatalf("zero window %d", r.Window())
	}
	r.Flush(func([]byte) { t.Fatal("empty Flush emitted") })
	r.Reset()
	got := rtpRun(t, &r, append(rng(0, 1), swapPairs4(rng(1, 8))...))
	if !slices.Equal(got, seqsOf(rng(0, 9))) || r.Stats().Reordered != 4 {
		t.Fatalf("emitted %v, stats %+v", got, r.Stats())
	}
	for _, w := range []struct{ in, want int }{{-1, DefaultRTPWindow}, {0, DefaultRTPWindow}, {1, 1}, {MaxRTPWindow + 1, MaxRTPWindow}} {
		if got := NewRTPReceiver(w.in).Window(); got != w.want {
			t.Fatalf("NewRTPReceiver(%d).Window() = %d, want %d", w.in, got, w.want)
		}
	}
	// A window of one repairs nothing but still counts exactly.
	r1 := NewRTPReceiver(1)
	if got := rtpRun(t, r1, []pk{{0, 1}, {2, 1}, {1, 1}, {3, 1}}); !slices.Equal(got, []uint16{0, 2, 3}) {
		t.Fatalf("window 1 emitted %v", got)
	}
	if s := r1.Stats(); s.Lost != 1 || s.Late != 1 {
		t.Fatalf("window 1 stats %+v", s)
	}
}

func swapPairs4(in []pk) []pk {
	for i := 0; i+1 < len(in); i += 2 {
		in[i], in[i+1] = in[i+1], in[i]
	}
	return in
}

// TestRTPReceiverPaddingAndExtension runs a stream whose datagrams carry
// CSRC lists, extensions and padding: all must be stripped.
func TestRTPReceiverPaddingAndExtension(t *testing.T) {
	r := NewRTPReceiver(32)
	var got []uint16
	emit := func(p []byte) {
		seq, _ := tsSeq(t, p)
		if len(p)/188 != npkts(seq) {
			t.Fatalf("seq %d: %d TS packets, want %d", seq, len(p)/188, npkts(seq))
		}
		got = append(got, seq)
	}
	for _, seq := range []uint16{0, 2, 1, 4, 3, 5, 6, 7} {
		h := rtpHdr{seq: seq, ssrc: 9, csrc: int(seq) * 2, extWords: int(seq) - 2, pad: int(seq) * 37 % 256}
		if err := r.Push(rtpPacket(h, tsFor(seq, 0, npkts(seq))), emit); err != nil {
			t.Fatalf("%+v: %v", h, err)
		}
	}
	r.Flush(emit)
	if !slices.Equal(got, []uint16{0, 1, 2, 3, 4, 5, 6, 7}) {
		t.Fatalf("emitted %v", got)
	}
}

func TestRTPReceiverAllocs(t *testing.T) {
	r := NewRTPReceiver(32)
	d := rtpPacket(rtpHdr{ssrc: 1, extWords: -1}, tsFor(0, 0, 7))
	var seq uint16
	var emitted int
	emit := func(p []byte) { emitted += len(p) }
	push := func(s uint16) {
		d[2], d[3] = byte(s>>8), byte(s)
		if err := r.Push(d, emit); err != nil {
			t.Fatal(err)
		}
	}
	inOrder := testing.AllocsPerRun(100, func() {
		for range 64 {
			push(seq)
			seq++
		}
	})
	// Reversed blocks of 8 and one drop per run: the hold, drain and
	// give-up paths.
	reordered := testing.AllocsPerRun(100, func() {
		for b := 0; b < 64; b += 8 {
			for i := 7; i >= 0; i-- {
				if b+i != 13 {
					push(seq + uint16(b+i))
				}
			}
		}
		seq += 64
	})
	flush := testing.AllocsPerRun(100, func() {
		push(seq)
		push(seq + 2)
		push(seq + 5)
		r.Flush(emit)
		seq += 6
	})
	bad := testing.AllocsPerRun(100, func() {
		if r.Push(d[:11], emit) == nil {
			t.Fatal("short datagram accepted")
		}
	})
	if inOrder != 0 || reordered != 0 || flush != 0 || bad != 0 {
		t.Fatalf("allocs per run: in order %v, reordered %v, flush %v, refused %v; want 0", inOrder, reordered, flush, bad)
	}
	if s := r.Stats(); s.Resets != 0 || s.Lost == 0 || s.Reordered == 0 || emitted == 0 {
		t.Fatalf("the runs did not take the intended paths: %+v", s)
	}
}

// TestRTPFromFFmpeg receives ffmpeg's RTP MPEG-TS output (unicast on
// loopback) on a plain UDP socket, depacketizes it and checks the result is
// a complete, decodable transport stream.
func TestRTPFromFFmpeg(t *testing.T) {
	ffmpeg, err1 := exec.LookPath("ffmpeg")
	ffprobe, err2 := exec.LookPath("ffprobe")
	if err1 != nil || err2 != nil {
		t.Skip("ffmpeg or ffprobe not installed")
	}
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadBuffer(4 << 20)
	port := conn.LocalAddr().(*net.UDPAddr).Port

	const seconds, fps = 2, 25
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate="+strconv.Itoa(fps),
		"-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=48000",
		"-t", strconv.Itoa(seconds), "-pix_fmt", "yuv420p",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", strconv.Itoa(fps), "-c:a", "aac",
		"-f", "rtp_mpegts", "rtp://127.0.0.1:"+strconv.Itoa(port))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	r := NewRTPReceiver(32)
	var out []byte
	emit := func(p []byte) {
		for i := 0; i < len(p); i += 188 {
			if p[i] != 0x47 {
				t.Fatalf("emitted payload lacks the sync byte at %d", i)
			}
		}
		out = append(out, p...)
	}
	buf := make([]byte, 65536)
	var datagrams uint64
	exited := false
	for deadline := time.Now().Add(50 * time.Second); time.Now().Before(deadline); {
		conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, err := conn.Read(buf)
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatal(err)
			}
			if exited {
				break // ffmpeg is gone and the socket is drained
			}
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("ffmpeg: %v\n%s", err, stderr.Bytes())
				}
				exited = true
			default:
			}
			continue
		}
		datagrams++
		if buf[1]&0x7f != 33 {
			t.Fatalf("ffmpeg sent payload type %d, want 33 (MP2T)", buf[1]&0x7f)
		}
		if err := r.Push(buf[:n], emit); err != nil {
			t.Fatalf("datagram %d: %v", datagrams, err)
		}
	}
	if !exited {
		t.Fatal("ffmpeg did not finish in time")
	}
	r.Flush(emit)
	s := r.Stats()
	t.Logf("%d datagrams, %d TS bytes, %+v", datagrams, len(out), s)
	if s.Packets != datagrams || s.Lost != 0 || s.Late != 0 || s.Duplicates != 0 || s.Resets != 0 || datagrams < 50 {
		t.Fatalf("stats %+v after %d datagrams", s, datagrams)
	}
	file := filepath.Join(t.TempDir(), "rtp.ts")
	if err := os.WriteFile(file, out, 0o644); err != nil {
		t.Fatal(err)
	}
	probe, err := exec.CommandContext(ctx, ffprobe, "-v", "error", "-count_frames",
		"-show_entries", "stream=codec_name,nb_read_frames", "-of", "csv=p=0", file).Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	lines := strings.Fields(string(probe))
	slices.Sort(lines)
	lines = slices.Compact(lines) // listed once per program and once per stream
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "aac,") || lines[1] != "h264,"+strconv.Itoa(seconds*fps) {
		t.Fatalf("ffprobe found %q, want aac and h264 with %d frames", lines, seconds*fps)
	}
}

// rtpAccount checks that every accepted datagram is accounted for: emitted,
// held, or dropped as a duplicate or late.
func rtpAccount(t *testing.T, r *RTPReceiver, emitted int) {
	t.Helper()
	s := r.Stats()
	if s.Packets != uint64(emitted)+uint64(r.Held())+s.Duplicates+s.Late {
		t.Fatalf("Packets %d != emitted %d + held %d + duplicates %d + late %d", s.Packets, emitted, r.Held(), s.Duplicates, s.Late)
	}
	if r.Held() >= r.Window() { // the expected number is never held
		t.Fatalf("holds %d packets with a window of %d", r.Held(), r.Window())
	}
}

// FuzzRTPReceiver feeds arbitrary datagrams: the input is a window byte
// followed by datagrams, each preceded by a 2-byte big-endian length.
func FuzzRTPReceiver(f *testing.F) {
	seed := func(window byte, ds ...[]byte) {
		in := []byte{window}
		for _, d := range ds {
			in = append(in, byte(len(d)>>8), byte(len(d)))
			in = append(in, d...)
		}
		f.Add(in)
	}
	h := func(seq uint16, ssrc uint32, csrc, ext, pad int) rtpHdr {
		return rtpHdr{seq: seq, ssrc: ssrc, pt: 33, csrc: csrc, extWords: ext, pad: pad}
	}
	one := tsFor(1, 0, 1)
	seed(4, rtpPacket(h(0, 1, 0, -1, 0), one), rtpPacket(h(2, 1, 0, -1, 0), one), rtpPacket(h(1, 1, 0, -1, 0), one))
	seed(2, rtpPacket(h(65535, 1, 2, 1, 3), one), rtpPacket(h(3, 1, 0, -1, 0), one), rtpPacket(h(0, 1, 0, -1, 0), one), rtpPacket(h(1, 1, 0, -1, 0), one))
	seed(8, rtpPacket(h(10, 1, 0, -1, 0), one), rtpPacket(h(9000, 1, 0, -1, 0), one), rtpPacket(h(9001, 2, 0, -1, 0), one))
	seed(1, rtpPacket(h(5, 7, 15, 0, 255), tsFor(5, 0, 2)), []byte{0x80, 0x21, 0, 6}, rtpPacket(h(5, 7, 0, -1, 0), one))
	seed(32, []byte{0xb0, 0x21, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		r := NewRTPReceiver(int(in[0] % 65))
		in = in[1:]
		emitted := 0
		emit := func(p []byte) {
			if len(p) == 0 || len(p)%188 != 0 || len(p) > MaxRTPPayload {
				t.Fatalf("emitted %d bytes", len(p))
			}
			emitted++
		}
		for len(in) >= 2 {
			n := min(int(in[0])<<8|int(in[1]), len(in)-2)
			d := in[2 : 2+n]
			in = in[2+n:]
			before := r.Stats()
			was := emitted
			if err := r.Push(d, emit); err != nil {
				if !errors.Is(err, ErrBadRTP) {
					t.Fatalf("error %v does not wrap ErrBadRTP", err)
				}
				if r.Stats() != before || emitted != was {
					t.Fatalf("a refused datagram changed the receiver")
				}
			} else if r.Stats().Packets != before.Packets+1 {
				t.Fatalf("an accepted datagram was not counted")
			}
			rtpAccount(t, r, emitted)
		}
		r.Flush(emit)
		if r.Held() != 0 {
			t.Fatalf("%d held after Flush", r.Held())
		}
		rtpAccount(t, r, emitted)
	})
}

// FuzzRTPSequence sends well-formed datagrams in an order the fuzzer
// chooses and checks what comes out: payloads intact, strictly increasing
// sequence numbers between resets, and Lost equal to the numbers skipped
// between consecutive emitted packets. Each 3-byte op is flags, hi, lo:
// flags bit 0 jumps by hi<<8|lo, else the sequence number moves by
// int8(lo); bit 1 changes SSRC; bit 2 pushes a copy of the previous
// datagram instead; bits 3-4 choose 1-3 TS packets.
func FuzzRTPSequence(f *testing.F) {
	f.Add(byte(8), []byte{0, 0, 1, 0, 0, 2, 0, 0, 0xff, 4, 0, 0, 0, 0, 3})
	f.Add(byte(4), []byte{1, 0xff, 0xfe, 0, 0, 1, 0, 0, 5, 0, 0, 0xfc, 0, 0, 1})
	f.Add(byte(32), []byte{1, 0x20, 0, 2, 0, 1, 0, 0, 1, 1, 0x0b, 0xb8, 0, 0, 0x80})
	f.Add(byte(0), []byte{0x18, 0, 1, 0x08, 0, 1, 0x10, 0, 0xf0, 0, 0, 0x20, 0, 0, 0xe0})
	f.Fuzz(func(t *testing.T, window byte, ops []byte) {
		r := NewRTPReceiver(int(window % 65))
		var (
			cur, last  uint16
			ssrc       uint32 = 1
			prev       []byte
			emitted    int
			gaps       uint64
			epoch      uint64
			haveLast   bool
			emitBudget = 1 << 20
		)
		emit := func(p []byte) {
			if emitBudget--; emitBudget < 0 {
				t.Fatal("emit called without end")
			}
			seq, _ := tsSeq(t, p)
			if s := r.Stats(); s.Resets != epoch {
				epoch, haveLast = s.Resets, false
			}
			if haveLast {
				d := seq - last
				if d == 0 || d > RTPMaxJump+MaxRTPWindow {
					t.Fatalf("emitted %d after %d within one epoch", seq, last)
				}
				gaps += uint64(d - 1)
			}
			last, haveLast = seq, true
			emitted++
		}
		for len(ops) >= 3 {
			flags, hi, lo := ops[0], ops[1], ops[2]
			ops = ops[3:]
			var d []byte
			if flags&4 != 0 && prev != nil {
				d = prev
			} else {
				if flags&1 != 0 {
					cur += uint16(hi)<<8 | uint16(lo)
				} else {
					cur += uint16(int8(lo))
				}
				if flags&2 != 0 {
					ssrc++
				}
				d = rtpPacket(rtpHdr{seq: cur, ssrc: ssrc, pt: 33, extWords: -1}, tsFor(cur, byte(ssrc), int(flags>>3&3)%3+1))
			}
			if err := r.Push(d, emit); err != nil {
				t.Fatalf("well-formed datagram refused: %v", err)
			}
			prev = d
			rtpAccount(t, r, emitted)
		}
		r.Flush(emit)
		rtpAccount(t, r, emitted)
		if s := r.Stats(); s.Lost != gaps {
			t.Fatalf("Lost %d, but %d numbers were skipped between emitted packets (%+v)", s.Lost, gaps, s)
		}
	})
}
