// Package bpf is the socket filter slabcast attaches to every input socket
// before it binds or joins: it passes only datagrams that carry MPEG-TS and
// counts what it passes and refuses, per stream.
//
// A datagram of a plain UDP input (KindTS) passes when its payload is 1 to 48
// whole 188-byte TS packets (48 packets is a 9024-byte jumbo datagram), each
// starting with the sync byte 0x47. A datagram of an RTP input (KindRTP,
// RFC 2250 MPEG-TS over RTP) passes when it starts with a valid RTP header
// (version 2; 12 bytes, 4 more per CSRC, the extension header and its words
// when X is set) and what follows the header, less the RTP padding when P is
// set, passes the same test. Padded RTP packets are handled, not refused: the
// padding length is the payload's last byte, which must be at least 1 and
// leave the header intact. The payload type is not checked: RFC 3551 gives
// MP2T the static type 33, but networks also announce it dynamically. Valid
// is the same rule in Go, and Classify says which rule a datagram breaks.
//
// The filter is an eBPF program (BPF_PROG_TYPE_SOCKET_FILTER, written with
// cilium/ebpf's asm) with a per-CPU counters map read by Filter.Counts; it
// drops what it refuses. When eBPF cannot be loaded — no CAP_BPF,
// kernel.unprivileged_bpf_disabled, an old kernel — New falls back to the
// equivalent classic BPF program (SO_ATTACH_FILTER, which needs no
// privilege); Filter.Why and Probe say why.
//
// Classic BPF has no maps, so the classic program counts through the
// socket instead: it does not drop a datagram it refuses but trims it to a
// marker, a datagram of at most 3 bytes whose length says why, and the
// daemon counts the markers it reads (Marker says for which reason) and
// discards them. Valid datagrams carry at least one 188-byte packet, so a
// marker is never mistaken for one. The socket's drop counter (SocketDrops)
// then counts exactly what the kernel lost — receive-buffer overflows,
// checksum errors; in eBPF mode it holds the refusals too (see
// Filter.Counts).
//
// The filter reads the UDP payload at the transport header, so the same
// program serves IPv4 and IPv6 sockets. It judges one datagram per run as
// long as the socket does not set UDP_GRO: with it, the kernel hands the
// filter a coalesced skb holding several datagrams' payloads, which the
// 48-packet bound would refuse (nic does not set UDP_GRO).
//
// The Linux mechanics live in *_linux.go. On other systems the package
// compiles, Valid and Classify work, and New, Probe and SocketDrops return
// ErrUnsupported.
//
// Concurrency: a Filter may be attached to any number of sockets, and its
// methods may be called from any goroutine; Close must not race with them.
// Valid, Classify and Marker allocate nothing and keep no state.
package bpf

import "errors"

// ErrUnsupported is returned by New, Probe and SocketDrops on systems other
// than Linux.
var ErrUnsupported = errors.New("bpf: not supported on this operating system")

// Kind is what an input's datagrams carry.
type Kind uint8

const (
	// KindTS is MPEG-TS directly in UDP (udp:// inputs).
	KindTS Kind = iota
	// KindRTP is MPEG-TS in RTP in UDP (rtp:// inputs, RFC 2250).
	KindRTP
)

// String returns "ts" or "rtp".
func (k Kind) String() string {
	switch k {
	case KindTS:
		return "ts"
	case KindRTP:
		return "rtp"
	}
	return "kind(" + itoa(int(k)) + ")"
}

// Mode is how a Filter runs in the kernel.
type Mode uint8

const (
	// ModeEBPF is an eBPF socket filter with a counters map (Counts); it
	// drops what it refuses, which SocketDrops counts as well.
	ModeEBPF Mode = iota
	// ModeClassic is a classic BPF socket filter without counters: it trims
	// what it refuses to a marker (see Marker) instead of dropping it.
	ModeClassic
)

// String returns "ebpf" or "classic".
func (m Mode) String() string {
	switch m {
	case ModeEBPF:
		return "ebpf"
	case ModeClassic:
		return "classic"
	}
	return "mode(" + itoa(int(m)) + ")"
}

// Counts are a Filter's counters since New (eBPF mode), or what a caller
// tallies from the markers of a classic filter (see Marker). Refused is
// BadSize + BadSync + BadRTP. What the kernel lost besides is SocketDrops in
// classic mode and SocketDrops − Refused in eBPF mode.
type Counts struct {
	// Passed is the number of datagrams the filter let through.
	Passed uint64
	// Refused is the number of datagrams the filter refused.
	Refused uint64
	// BadSize counts payloads (after the RTP header) that were empty, not a
	// multiple of 188 bytes, or longer than MaxPackets packets.
	BadSize uint64
	// BadSync counts payloads with a TS packet not starting with 0x47.
	BadSync uint64
	// BadRTP counts datagrams of an RTP filter whose RTP header is invalid
	// or does not fit the datagram.
	BadRTP uint64
}

// Reason is Classify's verdict on one datagram.
type Reason uint8

const (
	// Pass: the datagram carries MPEG-TS.
	Pass Reason = iota
	// BadSize: empty, not whole 188-byte packets, or more than MaxPackets.
	BadSize
	// BadSync: a packet does not start with SyncByte.
	BadSync
	// BadRTP: the RTP header is invalid or does not fit (KindRTP only).
	BadRTP
)

// String returns "pass", "bad_size", "bad_sync" or "bad_rtp".
func (r Reason) String() string {
	switch r {
	case Pass:
		return "pass"
	case BadSize:
		return "bad_size"
	case BadSync:
		return "bad_sync"
	case BadRTP:
		return "bad_rtp"
	}
	return "reason(" + itoa(int(r)) + ")"
}

const (
	// PacketSize is the size of one MPEG-TS packet.
	PacketSize = 188
	// SyncByte starts every MPEG-TS packet.
	SyncByte = 0x47
	// MaxPackets is the most TS packets one datagram may carry: 48 packets
	// are a 9024-byte jumbo datagram.
	MaxPackets = 48
	// rtpMinHeader is the fixed part of an RTP header.
	rtpMinHeader = 12
)

// Valid reports whether the filter for kind passes a datagram with this UDP
// payload. It is the filters' rule in Go: the daemon can use it to count in
// user space, and the tests hold both kernel filters to it.
func Valid(kind Kind, payload []byte) bool { return Classify(kind, payload) == Pass }

// Classify says whether the filter for kind passes a datagram with this UDP
// payload and, if not, which rule it breaks, in the order the filters check
// them: for KindRTP the RTP header first, then the size, then the sync bytes.
// An unknown kind refuses everything as BadSize.
func Classify(kind Kind, payload []byte) Reason {
	switch kind {
	case KindTS:
		return classifyTS(payload)
	case KindRTP:
		ts, ok := rtpPayload(payload)
		if !ok {
			return BadRTP
		}
		return classifyTS(ts)
	}
	return BadSize
}

// classifyTS checks that p is 1..MaxPackets whole packets, each starting
// with SyncByte.
func classifyTS(p []byte) Reason {
	if len(p) == 0 || len(p) > MaxPackets*PacketSize || len(p)%PacketSize != 0 {
		return BadSize
	}
	for i := 0; i < len(p); i += PacketSize {
		if p[i] != SyncByte {
			return BadSync
		}
	}
	return Pass
}

// rtpPayload returns what follows a valid RTP header in p, less padding, or
// false when the header is invalid or does not fit p.
func rtpPayload(p []byte) ([]byte, bool) {
	if len(p) < rtpMinHeader || p[0]>>6 != 2 {
		return nil, false
	}
	hdr := rtpMinHeader + 4*int(p[0]&0x0f)
	if p[0]&0x10 != 0 {
		// Extension: 16-bit profile data, 16-bit length in 32-bit words.
		if hdr+4 > len(p) {
			return nil, false
		}
		hdr += 4 + 4*(int(p[hdr+2])<<8|int(p[hdr+3]))
	}
	if hdr > len(p) {
		return nil, false
	}
	end := len(p)
	if p[0]&0x20 != 0 {
		// Padding: the last byte counts the padding bytes, itself included.
		pad := int(p[len(p)-1])
		if pad == 0 || hdr+pad > len(p) {
			return nil, false
		}
		end -= pad
	}
	return p[hdr:end], true
}

// Marker lengths: a classic filter trims a datagram it refuses for a reason
// to this many bytes of UDP payload. BadRTP has the shortest marker because
// only it refuses RTP datagrams too short for their marker, and BadSize the
// next because only it refuses TS ones: a datagram shorter than its marker
// arrives whole (the kernel trims, it never pads), and the order keeps it
// from reading as a marker of another reason (see Marker).
const (
	markerRTP  = 1
	markerSize = 2
	markerSync = 3
)

// markerLen is the UDP payload length of the marker a classic filter trims
// a datagram refused for r to: 1 for BadRTP, 2 for BadSize, 3 for BadSync;
// 0 for Pass and unknown reasons, which have no marker. A refused datagram
// shorter than that arrives whole.
func markerLen(r Reason) int {
	switch r {
	case BadRTP:
		return markerRTP
	case BadSize:
		return markerSize
	case BadSync:
		return markerSync
	}
	return 0
}

// Marker reports whether a datagram whose UDP payload is n bytes, received
// on a socket with a classic-mode filter for kind, is a refusal marker, and
// the reason the filter refused it for. Such a datagram is read and then
// discarded: its bytes are the first bytes of the refused one, nothing more.
//
// n up to 3 is always a marker: no valid datagram is that short. The kind
// is needed for n below 3 because a refused datagram shorter than its
// marker arrives whole, and what makes a datagram that short differs: an
// empty or 1-byte RTP datagram is BadRTP (n = 0 or 1), an empty to 2-byte
// TS datagram BadSize. Marker allocates nothing. In eBPF mode refused
// datagrams are dropped and a short datagram is never received.
func Marker(kind Kind, n int) (Reason, bool) {
	if n < 0 || n > markerSync || (kind != KindTS && kind != KindRTP) {
		return Pass, false
	}
	switch {
	case n == markerSync:
		return BadSync, true
	case n == markerSize:
		return BadSize, true
	case kind == KindRTP:
		return BadRTP, true // n = 1, or a shorter RTP datagram
	}
	return BadSize, true // n < 2: a TS datagram shorter than its marker
}

// itoa formats small non-negative numbers for String methods without fmt.
func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
