package bpf

import (
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"testing"
)

// tsPackets returns n TS packets, each with the sync byte, a PID and a
// continuity counter so that no two packets are equal.
func tsPackets(n int) []byte {
	b := make([]byte, n*PacketSize)
	for i := range n {
		p := b[i*PacketSize : (i+1)*PacketSize]
		p[0], p[1], p[2], p[3] = SyncByte, 0x01, 0x00, 0x10|byte(i&0x0f)
		for j := 4; j < PacketSize; j++ {
			p[j] = byte(i + j)
		}
	}
	return b
}

// rtpHeader returns an RTP header: version v, csrc CSRC identifiers, an
// extension of extWords words when extWords >= 0, the P bit when padded.
func rtpHeader(v byte, csrc, extWords int, padded bool) []byte {
	h := make([]byte, rtpMinHeader, rtpMinHeader+4*csrc+4+4*max(extWords, 0))
	h[0] = v<<6 | byte(csrc)
	if extWords >= 0 {
		h[0] |= 0x10
	}
	if padded {
		h[0] |= 0x20
	}
	h[1] = 33                                     // payload type MP2T
	binary.BigEndian.PutUint16(h[2:], 4711)       // sequence number
	binary.BigEndian.PutUint32(h[4:], 90000)      // timestamp
	binary.BigEndian.PutUint32(h[8:], 0x5ca1ab1e) // SSRC
	for i := range csrc {
		h = binary.BigEndian.AppendUint32(h, uint32(0xc5c00000+i))
	}
	if extWords >= 0 {
		h = binary.BigEndian.AppendUint16(h, 0xbede)
		h = binary.BigEndian.AppendUint16(h, uint16(extWords))
		for i := range extWords {
			h = binary.BigEndian.AppendUint32(h, uint32(i))
		}
	}
	return h
}

func cat(parts ...[]byte) []byte { return slices.Concat(parts...) }

// withSync returns p with the sync byte of packet i (counted from off) set
// to b.
func withSync(p []byte, off, i int, b byte) []byte {
	p = slices.Clone(p)
	p[off+i*PacketSize] = b
	return p
}

// garbage returns n pseudo-random bytes, the first not a sync byte.
func garbage(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	if n > 0 && b[0] == SyncByte {
		b[0] = 0
	}
	return b
}

type tcase struct {
	name    string
	kind    Kind
	payload []byte
	want    Reason
}

// cases is the table every filter — Valid, the eBPF and classic programs on
// real sockets, the eBPF program under BPF_PROG_TEST_RUN — must agree with.
func cases() []tcase {
	var cs []tcase
	add := func(name string, kind Kind, payload []byte, want Reason) {
		cs = append(cs, tcase{name, kind, payload, want})
	}
	for n := 1; n <= 7; n++ {
		add("ts/"+itoa(n)+"x188", KindTS, tsPackets(n), Pass)
	}
	add("ts/jumbo 48x188", KindTS, tsPackets(48), Pass)
	add("ts/49x188", KindTS, tsPackets(49), BadSize)
	add("ts/empty", KindTS, nil, BadSize)
	add("ts/187 bytes", KindTS, tsPackets(1)[:187], BadSize)
	add("ts/189 bytes", KindTS, cat(tsPackets(1), []byte{SyncByte}), BadSize)
	add("ts/1316 bad sync in packet 4", KindTS, withSync(tsPackets(7), 0, 3, 0x48), BadSync)
	add("ts/1316 bad sync in packet 7", KindTS, withSync(tsPackets(7), 0, 6, 0x00), BadSync)
	add("ts/jumbo bad sync in packet 48", KindTS, withSync(tsPackets(48), 0, 47, 0xb8), BadSync)
	add("ts/garbage 1316", KindTS, garbage(1, 1316), BadSync)
	add("ts/garbage 1000", KindTS, garbage(2, 1000), BadSize)
	add("ts/rtp datagram", KindTS, cat(rtpHeader(2, 0, -1, false), tsPackets(7)), BadSize)

	add("rtp/7 packets", KindRTP, cat(rtpHeader(2, 0, -1, false), tsPackets(7)), Pass)
	add("rtp/1 packet", KindRTP, cat(rtpHeader(2, 0, -1, false), tsPackets(1)), Pass)
	add("rtp/2 csrc", KindRTP, cat(rtpHeader(2, 2, -1, false), tsPackets(7)), Pass)
	add("rtp/15 csrc", KindRTP, cat(rtpHeader(2, 15, -1, false), tsPackets(3)), Pass)
	add("rtp/extension", KindRTP, cat(rtpHeader(2, 0, 3, false), tsPackets(7)), Pass)
	add("rtp/empty extension", KindRTP, cat(rtpHeader(2, 0, 0, false), tsPackets(2)), Pass)
	add("rtp/csrc and extension", KindRTP, cat(rtpHeader(2, 1, 2, false), tsPackets(7)), Pass)
	add("rtp/padded", KindRTP, cat(rtpHeader(2, 1, 1, true), tsPackets(2), []byte{0, 0, 0, 4}), Pass)
	add("rtp/jumbo 48 packets", KindRTP, cat(rtpHeader(2, 0, -1, false), tsPackets(48)), Pass)
	add("rtp/version 1", KindRTP, cat(rtpHeader(1, 0, -1, false), tsPackets(7)), BadRTP)
	add("rtp/version 3", KindRTP, cat(rtpHeader(3, 0, -1, false), tsPackets(7)), BadRTP)
	add("rtp/ts misaligned", KindRTP, cat(rtpHeader(2, 0, -1, false), []byte{0}, tsPackets(7)), BadSize)
	add("rtp/bare ts", KindRTP, tsPackets(7), BadRTP)
	add("rtp/empty", KindRTP, nil, BadRTP)
	add("rtp/11 bytes", KindRTP, rtpHeader(2, 0, -1, false)[:11], BadRTP)
	add("rtp/header only", KindRTP, rtpHeader(2, 0, -1, false), BadSize)
	add("rtp/csrc cut off", KindRTP, rtpHeader(2, 4, -1, false)[:20], BadRTP)
	add("rtp/extension header cut off", KindRTP, rtpHeader(2, 0, 0, false)[:14], BadRTP)
	add("rtp/extension past the end", KindRTP, cat(rtpHeader(2, 0, 0xffff, false)[:16], tsPackets(7)), BadRTP)
	add("rtp/padding 0", KindRTP, cat(rtpHeader(2, 0, -1, true), tsPackets(7), []byte{0}), BadRTP)
	add("rtp/padding into header", KindRTP, cat(rtpHeader(2, 0, -1, true), []byte{200}), BadRTP)
	add("rtp/padding over ts", KindRTP, cat(rtpHeader(2, 0, -1, true), tsPackets(1)), BadSize)
	add("rtp/49 packets", KindRTP, cat(rtpHeader(2, 0, -1, false), tsPackets(49)), BadSize)
	add("rtp/bad sync in packet 6", KindRTP, cat(rtpHeader(2, 3, 1, false), withSync(tsPackets(7), 0, 5, 0x46)), BadSync)
	add("rtp/garbage after header", KindRTP, cat(rtpHeader(2, 0, -1, false), garbage(3, 1316)), BadSync)
	return cs
}

func TestClassify(t *testing.T) {
	for _, tc := range cases() {
		if got := Classify(tc.kind, tc.payload); got != tc.want {
			t.Errorf("%s: Classify = %v, want %v", tc.name, got, tc.want)
		}
		if got := Valid(tc.kind, tc.payload); got != (tc.want == Pass) {
			t.Errorf("%s: Valid = %v", tc.name, got)
		}
		if got := refClassify(tc.kind, tc.payload); got != tc.want {
			t.Errorf("%s: refClassify = %v, want %v (the reference is wrong)", tc.name, got, tc.want)
		}
	}
	if got := Classify(Kind(7), tsPackets(1)); got != BadSize {
		t.Errorf("unknown kind: Classify = %v, want bad_size", got)
	}
}

func TestStrings(t *testing.T) {
	f := func(got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	f(ModeEBPF.String(), "ebpf")
	f(ModeClassic.String(), "classic")
	f(Mode(9).String(), "mode(9)")
	f(KindTS.String(), "ts")
	f(KindRTP.String(), "rtp")
	f(Kind(12).String(), "kind(12)")
	f(Pass.String(), "pass")
	f(BadSize.String(), "bad_size")
	f(BadSync.String(), "bad_sync")
	f(BadRTP.String(), "bad_rtp")
	f(Reason(200).String(), "reason(200)")
}

func TestClassifyAllocs(t *testing.T) {
	jumbo := cat(rtpHeader(2, 2, 3, false), tsPackets(48))
	if n := testing.AllocsPerRun(100, func() {
		if !Valid(KindRTP, jumbo) || Valid(KindTS, jumbo) {
			panic("wrong verdict")
		}
	}); n != 0 {
		t.Fatalf("Valid allocates %v times per call", n)
	}
}

// trimmed is what a classic filter for kind leaves of payload: all of it when
// it passes, else its first markerLen bytes, or all of it when shorter.
func trimmed(kind Kind, payload []byte) []byte {
	r := Classify(kind, payload)
	if r == Pass {
		return payload
	}
	return payload[:min(len(payload), markerLen(r))]
}

// checkMarker holds Marker to the classic filters' trimming: what arrives of
// a refused datagram is a marker of the reason Classify gives, and what
// arrives of a passed one is no marker.
func checkMarker(t *testing.T, kind Kind, payload []byte) {
	t.Helper()
	want := Classify(kind, payload)
	r, ok := Marker(kind, len(trimmed(kind, payload)))
	if ok != (want != Pass) || (ok && r != want) {
		t.Fatalf("%v datagram of %d bytes (%v): Marker says %v, %v", kind, len(payload), want, r, ok)
	}
}

func TestMarker(t *testing.T) {
	type res struct {
		r  Reason
		ok bool
	}
	want := map[Kind][]res{
		KindTS:  {{BadSize, true}, {BadSize, true}, {BadSize, true}, {BadSync, true}, {Pass, false}},
		KindRTP: {{BadRTP, true}, {BadRTP, true}, {BadSize, true}, {BadSync, true}, {Pass, false}},
	}
	for kind, w := range want {
		for n, w := range w {
			if r, ok := Marker(kind, n); r != w.r || ok != w.ok {
				t.Errorf("Marker(%v, %d) = %v, %v; want %v, %v", kind, n, r, ok, w.r, w.ok)
			}
		}
		for _, n := range []int{-1, 4, 187, 188, 1316, 1 << 16} {
			if r, ok := Marker(kind, n); ok {
				t.Errorf("Marker(%v, %d) = %v: no marker is that long", kind, n, r)
			}
		}
	}
	if _, ok := Marker(Kind(2), 2); ok {
		t.Error("Marker of an unknown kind")
	}
	for _, r := range []Reason{BadSize, BadSync, BadRTP} {
		if n := markerLen(r); n < 1 || n > 3 {
			t.Errorf("markerLen(%v) = %d", r, n)
		}
	}
	if markerLen(Pass) != 0 || markerLen(Reason(9)) != 0 {
		t.Error("a marker for pass or an unknown reason")
	}
	// The table, and every datagram up to 40 bytes long, with contents
	// that hit each reason.
	for _, tc := range cases() {
		for _, kind := range []Kind{KindTS, KindRTP} {
			checkMarker(t, kind, tc.payload)
		}
	}
	for n := range 41 {
		for _, first := range []byte{0, SyncByte, 0x80, 0x90, 0xa0, 0xff} {
			p := garbage(uint64(n), n)
			if n > 0 {
				p[0] = first
			}
			for _, kind := range []Kind{KindTS, KindRTP} {
				checkMarker(t, kind, p)
			}
		}
	}
}

func TestMarkerAllocs(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() {
		if r, ok := Marker(KindRTP, 1); !ok || r != BadRTP {
			panic("wrong marker")
		}
	}); n != 0 {
		t.Fatalf("Marker allocates %v times per call", n)
	}
}

// refClassify is Classify written the long way, for FuzzValid.
func refClassify(kind Kind, p []byte) Reason {
	if kind == KindRTP {
		if len(p) < 12 {
			return BadRTP
		}
		version, padding, extension, csrcs := p[0]>>6, p[0]&0x20 != 0, p[0]&0x10 != 0, int(p[0]&0x0f)
		if version != 2 {
			return BadRTP
		}
		start := 12 + 4*csrcs
		if extension {
			if len(p) < start+4 {
				return BadRTP
			}
			start += 4 + 4*int(binary.BigEndian.Uint16(p[start+2:start+4]))
		}
		if len(p) < start {
			return BadRTP
		}
		end := len(p)
		if padding {
			n := int(p[end-1])
			if n < 1 || end-n < start {
				return BadRTP
			}
			end -= n
		}
		p = p[start:end]
	}
	packets := slices.Collect(slices.Chunk(p, 188))
	if len(packets) < 1 || len(packets) > 48 || len(packets[len(packets)-1]) != 188 {
		return BadSize
	}
	for _, pkt := range packets {
		if pkt[0] != 0x47 {
			return BadSync
		}
	}
	return Pass
}

func FuzzValid(f *testing.F) {
	for _, tc := range cases() {
		f.Add(uint8(tc.kind), tc.payload)
	}
	f.Fuzz(func(t *testing.T, kind uint8, p []byte) {
		k := Kind(kind % 2)
		got, want := Classify(k, p), refClassify(k, p)
		if got != want {
			t.Fatalf("Classify(%v, % x) = %v, reference says %v", k, p, got, want)
		}
		if Valid(k, p) != (want == Pass) {
			t.Fatalf("Valid(%v) disagrees with Classify", k)
		}
		checkMarker(t, k, p)
	})
}
