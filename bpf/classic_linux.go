package bpf

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// cop is one classic BPF instruction before assembly: jumps name their
// targets by label ("" is the next instruction) and every instruction says
// what it does in C terms. A is the accumulator, X the index register, M[]
// the 16 scratch words, P[] the packet from the UDP header on.
type cop struct {
	code    uint16
	k       uint32
	jt, jf  string
	label   string
	comment string
}

// Classic opcodes used by classicSpec.
const (
	cLdLen  = unix.BPF_LD | unix.BPF_W | unix.BPF_LEN  // A = skb->len
	cLdMem  = unix.BPF_LD | unix.BPF_MEM               // A = M[k]
	cLdxMem = unix.BPF_LDX | unix.BPF_W | unix.BPF_MEM // X = M[k]
	cLdxImm = unix.BPF_LDX | unix.BPF_W | unix.BPF_IMM // X = k
	cLdbAbs = unix.BPF_LD | unix.BPF_B | unix.BPF_ABS  // A = P[k]
	cLdbInd = unix.BPF_LD | unix.BPF_B | unix.BPF_IND  // A = P[X+k]
	cLdhInd = unix.BPF_LD | unix.BPF_H | unix.BPF_IND  // A = ntohs(P[X+k:X+k+2])
	cSt     = unix.BPF_ST                              // M[k] = A
	cAddK   = unix.BPF_ALU | unix.BPF_ADD | unix.BPF_K // A += k
	cAddX   = unix.BPF_ALU | unix.BPF_ADD | unix.BPF_X // A += X
	cSubK   = unix.BPF_ALU | unix.BPF_SUB | unix.BPF_K // A -= k
	cSubX   = unix.BPF_ALU | unix.BPF_SUB | unix.BPF_X // A -= X
	cAndK   = unix.BPF_ALU | unix.BPF_AND | unix.BPF_K // A &= k
	cLshK   = unix.BPF_ALU | unix.BPF_LSH | unix.BPF_K // A <<= k
	cModK   = unix.BPF_ALU | unix.BPF_MOD | unix.BPF_K // A %= k
	cTax    = unix.BPF_MISC | unix.BPF_TAX             // X = A
	cJeqK   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K // A == k ? jt : jf
	cJgtK   = unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K // A > k ? jt : jf
	cJgeK   = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K // A >= k ? jt : jf
	cJgtX   = unix.BPF_JMP | unix.BPF_JGT | unix.BPF_X // A > X ? jt : jf
	cJsetK  = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
	cRetK   = unix.BPF_RET | unix.BPF_K // return k
)

// Scratch words of the classic programs.
const (
	mLen   = 0 // TS length (KindRTP: first the payload length, then its end)
	mFlags = 1 // RTP V|P|X|CC
	mHdr   = 2 // RTP header length
)

// classicSpec is the classic BPF equivalent of programSpec(kind, udpPayload),
// without the counters map: instead of dropping a datagram it refuses (return
// 0, which only the socket's sk_drops would count, together with overflows),
// it trims the datagram to a marker whose payload length says why, and user
// space counts the markers (see Marker).
//
// A socket filter's return value is how many bytes of the skb to keep from
// skb->data, which for a UDP socket is the UDP header: sk_filter_trim_cap
// (net/core/filter.c) does pskb_trim(skb, max(cap, ret)) with cap = 8, the
// UDP header. So "return 8 + markerLen(reason)" keeps the header and that
// many payload bytes, or the whole datagram when it is shorter (pskb_trim
// never lengthens). Trimming is safe: udp_queue_rcv_one_skb (net/ipv4/udp.c;
// udpv6_queue_rcv_one_skb in net/ipv6/udp.c likewise) verifies the UDP
// checksum with udp_lib_checksum_complete before it runs the filter when the
// socket has one, and udp_recvmsg then finds the checksum done, so a marker
// is never refused for a checksum over bytes it no longer has. The UDP
// header's length field is not rewritten: recvmsg returns the trimmed length.
func classicSpec(kind Kind) ([]cop, error) {
	const base = udpPayload
	op := func(code uint16, k uint32, comment string) cop { return cop{code: code, k: k, comment: comment} }
	jmp := func(code uint16, k uint32, jt, jf, comment string) cop {
		return cop{code: code, k: k, jt: jt, jf: jf, comment: comment}
	}
	var p []cop
	switch kind {
	case KindTS:
		p = []cop{
			op(cLdLen, 0, "A = skb->len (UDP header + payload)"),
			jmp(cJgeK, base, "", "bad_size", fmt.Sprintf("if (A < %d) goto bad_size (no UDP payload)", base)),
			op(cSubK, base, fmt.Sprintf("A -= %d (A = payload length = TS length)", base)),
			op(cLdxImm, base, fmt.Sprintf("X = %d (offset of the TS part)", base)),
		}
	case KindRTP:
		p = []cop{
			op(cLdLen, 0, "A = skb->len (UDP header + payload)"),
			jmp(cJgeK, base+rtpMinHeader, "", "bad_rtp", fmt.Sprintf("if (A < %d) goto bad_rtp (shorter than an RTP header)", base+rtpMinHeader)),
			op(cSubK, base, fmt.Sprintf("A -= %d (A = payload length)", base)),
			op(cSt, mLen, "M[len] = A"),
			op(cLdbAbs, base, fmt.Sprintf("A = P[%d] (RTP V|P|X|CC)", base)),
			op(cSt, mFlags, "M[flags] = A"),
			op(cAndK, 0xc0, "A &= 0xc0 (version bits)"),
			jmp(cJeqK, 0x80, "", "bad_rtp", "if (A != 0x80) goto bad_rtp (version is not 2)"),
			op(cLdMem, mFlags, "A = M[flags]"),
			op(cAndK, 0x0f, "A &= 0x0f (CSRC count)"),
			op(cLshK, 2, "A <<= 2 (4 bytes per CSRC)"),
			op(cAddK, rtpMinHeader, "A += 12"),
			op(cSt, mHdr, "M[hdr] = A (header length so far)"),
			op(cLdMem, mFlags, "A = M[flags]"),
			jmp(cJsetK, 0x10, "", "no_ext", "if (!(A & 0x10)) goto no_ext (X: extension)"),
			op(cLdMem, mHdr, "A = M[hdr]"),
			op(cAddK, 4, "A += 4 (end of the extension header)"),
			op(cLdxMem, mLen, "X = M[len]"),
			jmp(cJgtX, 0, "bad_rtp", "", "if (A > X) goto bad_rtp (extension header cut off)"),
			op(cLdxMem, mHdr, "X = M[hdr]"),
			op(cLdhInd, base+2, fmt.Sprintf("A = ntohs(*(u16 *)&P[X + %d]) (extension length in words)", base+2)),
			op(cLshK, 2, "A <<= 2 (in bytes)"),
			op(cAddK, 4, "A += 4"),
			op(cAddX, 0, "A += X"),
			op(cSt, mHdr, "M[hdr] = A (header length with the extension)"),
			{code: cLdMem, k: mHdr, label: "no_ext", comment: "no_ext: A = M[hdr]"},
			op(cLdxMem, mLen, "X = M[len]"),
			jmp(cJgtX, 0, "bad_rtp", "", "if (A > X) goto bad_rtp (header longer than the payload)"),
			op(cLdMem, mFlags, "A = M[flags]"),
			jmp(cJsetK, 0x20, "", "no_pad", "if (!(A & 0x20)) goto no_pad (P: padding)"),
			op(cLdbInd, base-1, fmt.Sprintf("A = P[X + %d] (last byte: padding length; X = M[len])", base-1)),
			jmp(cJeqK, 0, "bad_rtp", "", "if (A == 0) goto bad_rtp (padding counts itself)"),
			jmp(cJgtX, 0, "bad_rtp", "", "if (A > X) goto bad_rtp (padding longer than the payload)"),
			op(cTax, 0, "X = A"),
			op(cLdMem, mLen, "A = M[len]"),
			op(cSubX, 0, "A -= X"),
			op(cSt, mLen, "M[len] = A (end of the TS part)"),
			op(cLdMem, mHdr, "A = M[hdr]"),
			op(cLdxMem, mLen, "X = M[len]"),
			jmp(cJgtX, 0, "bad_rtp", "", "if (A > X) goto bad_rtp (padding overlaps the header)"),
			{code: cLdxMem, k: mHdr, label: "no_pad", comment: "no_pad: X = M[hdr]"},
			op(cLdMem, mLen, "A = M[len]"),
			op(cSubX, 0, "A -= X (A = TS length)"),
			op(cSt, mLen, "M[len] = A"),
			op(cLdMem, mHdr, "A = M[hdr]"),
			op(cAddK, base, fmt.Sprintf("A += %d", base)),
			op(cTax, 0, "X = A (offset of the TS part)"),
			op(cLdMem, mLen, "A = M[len]"),
		}
	default:
		return nil, fmt.Errorf("bpf: unknown input kind %d", kind)
	}
	// A = TS length, X = its offset.
	p = append(p,
		op(cSt, mLen, "M[len] = A"),
		jmp(cJeqK, 0, "bad_size", "", "if (A == 0) goto bad_size (no TS packet)"),
		jmp(cJgtK, MaxPackets*PacketSize, "bad_size", "", fmt.Sprintf("if (A > %d) goto bad_size (more than %d packets)", MaxPackets*PacketSize, MaxPackets)),
		op(cModK, PacketSize, "A %= 188"),
		jmp(cJeqK, 0, "", "bad_size", "if (A != 0) goto bad_size (not whole packets)"),
		op(cLdbInd, 0, "A = P[X] (sync byte of packet 0)"),
		jmp(cJeqK, SyncByte, "", "bad_sync", "if (A != 0x47) goto bad_sync"),
	)
	for i := uint32(1); i < MaxPackets; i++ {
		p = append(p,
			op(cLdMem, mLen, "A = M[len]"),
			jmp(cJgtK, i*PacketSize, "", "pass", fmt.Sprintf("if (A <= %d) goto pass (no packet %d)", i*PacketSize, i)),
			op(cLdbInd, i*PacketSize, fmt.Sprintf("A = P[X + %d] (sync byte of packet %d)", i*PacketSize, i)),
			jmp(cJeqK, SyncByte, "", "bad_sync", "if (A != 0x47) goto bad_sync"),
		)
	}
	ret := func(r Reason) cop {
		k := uint32(udpPayload + markerLen(r))
		return cop{code: cRetK, k: k, label: r.String(),
			comment: fmt.Sprintf("%s: return %d (keep the UDP header and %d payload bytes: the %s marker)", r, k, markerLen(r), r)}
	}
	p = append(p,
		cop{code: cRetK, k: acceptAll, label: "pass", comment: "pass: return 0xffffffff (keep the whole datagram)"},
		ret(BadSize),
		ret(BadSync),
	)
	if kind == KindRTP {
		p = append(p, ret(BadRTP))
	}
	return p, nil
}

// assembleClassic resolves labels to the 8-bit forward offsets classic
// jumps use.
func assembleClassic(p []cop) ([]unix.SockFilter, error) {
	if len(p) == 0 || len(p) > unix.BPF_MAXINSNS {
		return nil, fmt.Errorf("bpf: classic program of %d instructions", len(p))
	}
	at := make(map[string]int, 4)
	for i, in := range p {
		if in.label == "" {
			continue
		}
		if _, dup := at[in.label]; dup {
			return nil, fmt.Errorf("bpf: classic label %q defined twice", in.label)
		}
		at[in.label] = i
	}
	off := func(i int, label string) (uint8, error) {
		if label == "" {
			return 0, nil
		}
		t, ok := at[label]
		if !ok {
			return 0, fmt.Errorf("bpf: classic instruction %d jumps to undefined label %q", i, label)
		}
		d := t - i - 1
		if d < 0 || d > 255 {
			return 0, fmt.Errorf("bpf: classic instruction %d: label %q is %d instructions away (0..255)", i, label, d)
		}
		return uint8(d), nil
	}
	out := make([]unix.SockFilter, len(p))
	for i, in := range p {
		jt, err := off(i, in.jt)
		if err != nil {
			return nil, err
		}
		jf, err := off(i, in.jf)
		if err != nil {
			return nil, err
		}
		out[i] = unix.SockFilter{Code: in.code, Jt: jt, Jf: jf, K: in.k}
	}
	return out, nil
}
