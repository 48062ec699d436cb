package bpf

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// Where the UDP payload starts in the data a socket filter reads.
const (
	// udpPayload: attached to a UDP socket, the filter runs from
	// udp_queue_rcv_one_skb with skb->data at the UDP header.
	udpPayload = 8
	// testRunPayload: under BPF_PROG_TEST_RUN the data begins at an
	// Ethernet header that the kernel pulls (eth_type_trans), so skb->data
	// is the IPv4 header: 20 bytes of IPv4 (no options) and 8 of UDP.
	testRunPayload = 28
)

// The counters map: a per-CPU array with one element, a struct of four
// uint64 counters at these byte offsets. Refused is their sum less Passed.
const (
	countersRef   = "counters"     // the map's symbol in the program
	countersName  = "slabcast_cnt" // the map's name in the kernel (bpftool map)
	offPassed     = 0
	offBadSize    = 8
	offBadSync    = 16
	offBadRTP     = 24
	countersValue = 32 // sizeof the map value
)

// rawCounts is one CPU's map value.
type rawCounts struct {
	Passed, BadSize, BadSync, BadRTP uint64
}

// acceptAll is the socket filter verdict that keeps the whole datagram (the
// kernel trims the skb to the returned length; 0 drops it).
const acceptAll = 0xffffffff

// c attaches the C meaning of an instruction to it, shown by %v of the
// program and in the verifier log.
func c(ins asm.Instruction, comment string) asm.Instruction {
	return ins.WithSource(asm.Comment(comment))
}

// programName is the kernel's name for the program (at most 15 bytes).
func programName(kind Kind) string {
	if kind == KindRTP {
		return "slabcast_rtp"
	}
	return "slabcast_ts"
}

// programSpec builds the eBPF socket filter for kind, reading the UDP
// payload at byte base of the skb (udpPayload attached to a socket,
// testRunPayload under BPF_PROG_TEST_RUN). The map load references
// countersRef; loadEBPF associates the map.
//
// Registers: r6 the skb (LD_ABS/LD_IND read through it and clobber r0-r5),
// r7 the length of the TS part, r8 its offset in the skb (KindRTP), r9 the
// RTP flags byte and then the offset of the counter to bump.
func programSpec(kind Kind, base int32) (*ebpf.ProgramSpec, error) {
	return buildProgram(kind, base, false)
}

// sharedSpec is programSpec for a socket that many groups share
// (NewShared): it counts in a per-CPU hash keyed by the datagram's
// destination address, read from the IPv4 header (SKF_NET_OFF reaches the
// network header from a socket filter and under BPF_PROG_TEST_RUN alike).
// A datagram for an address without a key (unicast to the shared port, or
// a group just left) is counted under key 0, strayKey, and refused
// whatever it carries.
func sharedSpec(kind Kind, base int32) (*ebpf.ProgramSpec, error) {
	return buildProgram(kind, base, true)
}

// skfNetOff is SKF_NET_OFF from <linux/filter.h>: LD_ABS offsets from it
// read the network header.
const skfNetOff = -0x100000

// strayKey is the shared map's key for datagrams of no group (0.0.0.0 is
// never one).
const strayKey = 0

// ringSpec is sharedSpec for a packet socket (an AF_PACKET ring, NewRing)
// that sees every IPv4 packet of an interface, its data starting at the
// IPv4 header: it first keeps only UDP to port, returning 0 uncounted for
// anything else (not an input's traffic), and counts as bad_size, under the
// destination's key, a datagram of the port it cannot read at fixed
// offsets (IP options) or whole (a fragment). The UDP payload then starts
// at byte ringPayload, and its length is the UDP header's.
func ringSpec(kind Kind, port uint16) (*ebpf.ProgramSpec, error) {
	return build(kind, ringPayload, true, port)
}

// ringPayload is where the UDP payload of an IPv4 datagram without options
// starts, from its IPv4 header.
const ringPayload = 28

func buildProgram(kind Kind, base int32, keyed bool) (*ebpf.ProgramSpec, error) {
	return build(kind, base, keyed, 0)
}

// build assembles the program: for a UDP socket (port 0) the payload runs
// from base to the end of the skb; for a packet socket (port set) the
// IPv4 and UDP headers are checked first (ringSpec).
func build(kind Kind, base int32, keyed bool, port uint16) (*ebpf.ProgramSpec, error) {
	if kind != KindTS && kind != KindRTP {
		return nil, fmt.Errorf("bpf: unknown input kind %d", kind)
	}
	ring := port != 0
	// ld reads the first byte of TS packet i into r0.
	ld := func(i int32) asm.Instruction {
		if kind == KindTS {
			return c(asm.LoadAbs(base+i*PacketSize, asm.Byte),
				fmt.Sprintf("r0 = skb->data[%d] (sync byte of packet %d)", base+i*PacketSize, i))
		}
		return c(asm.LoadInd(asm.R0, asm.R8, i*PacketSize, asm.Byte),
			fmt.Sprintf("r0 = skb->data[r8 + %d] (sync byte of packet %d)", i*PacketSize, i))
	}

	insns := asm.Instructions{
		c(asm.Mov.Reg(asm.R6, asm.R1).WithSymbol(programName(kind)), "r6 = skb (LD_ABS/LD_IND read through r6)"),
	}
	if ring {
		insns = append(insns,
			c(asm.LoadAbs(0, asm.Byte), "r0 = skb->data[0] (IPv4 version and header length)"),
			c(asm.Mov.Reg(asm.R1, asm.R0), "r1 = r0"),
			c(asm.And.Imm(asm.R1, 0xf0), "r1 &= 0xf0 (version)"),
			c(asm.JNE.Imm(asm.R1, 0x40, "other"), "if (r1 != 0x40) goto other (not IPv4)"),
			c(asm.Mov.Reg(asm.R8, asm.R0), "r8 = r0 (the header length byte survives the loads)"),
			c(asm.LoadAbs(9, asm.Byte), "r0 = skb->data[9] (protocol)"),
			c(asm.JNE.Imm(asm.R0, 17, "other"), "if (r0 != 17) goto other (not UDP)"),
			c(asm.JNE.Imm(asm.R8, 0x45, "bad_size"), "if (r8 != 0x45) goto bad_size (IP options: the payload is not where the filter reads)"),
			c(asm.LoadAbs(22, asm.Half), "r0 = ntohs(udp->dest) (skb->data[22])"),
			c(asm.JNE.Imm(asm.R0, int32(port), "other"), fmt.Sprintf("if (r0 != %d) goto other (another port)", port)),
			c(asm.LoadAbs(6, asm.Half), "r0 = ntohs(ip->frag_off)"),
			c(asm.And.Imm(asm.R0, 0x3fff), "r0 &= 0x3fff (more fragments, fragment offset)"),
			c(asm.JNE.Imm(asm.R0, 0, "bad_size"), "if (r0 != 0) goto bad_size (a fragment)"),
			c(asm.LoadAbs(24, asm.Half), "r0 = ntohs(udp->len)"),
			c(asm.Mov.Reg(asm.R7, asm.R0), "r7 = r0"),
			c(asm.JLT.Imm(asm.R7, 8, "bad_size"), "if (r7 < 8) goto bad_size (shorter than its header)"),
			c(asm.Sub.Imm(asm.R7, 8), "r7 -= 8 (r7 = payload length)"),
			c(asm.LoadMem(asm.R1, asm.R6, 0, asm.Word), "r1 = skb->len (from the IPv4 header)"),
			c(asm.Mov.Reg(asm.R2, asm.R7), "r2 = r7"),
			c(asm.Add.Imm(asm.R2, base), fmt.Sprintf("r2 += %d (where the payload ends)", base)),
			c(asm.JGT.Reg(asm.R2, asm.R1, "bad_size"), "if (r2 > r1) goto bad_size (cut short)"),
		)
	} else {
		insns = append(insns,
			c(asm.LoadMem(asm.R7, asm.R6, 0, asm.Word), "r7 = skb->len (UDP header + payload)"),
			c(asm.JLT.Imm(asm.R7, base, "bad_size"), fmt.Sprintf("if (r7 < %d) goto bad_size (no UDP payload)", base)),
			c(asm.Sub.Imm(asm.R7, base), fmt.Sprintf("r7 -= %d (r7 = payload length)", base)),
		)
	}
	if kind == KindRTP {
		insns = append(insns,
			c(asm.JLT.Imm(asm.R7, rtpMinHeader, "bad_rtp"), fmt.Sprintf("if (r7 < %d) goto bad_rtp (shorter than an RTP header)", rtpMinHeader)),
			c(asm.LoadAbs(base, asm.Byte), fmt.Sprintf("r0 = skb->data[%d] (RTP V|P|X|CC)", base)),
			c(asm.Mov.Reg(asm.R9, asm.R0), "r9 = r0 (flags survive LD_ABS, which clobbers r0-r5)"),
			c(asm.Mov.Reg(asm.R1, asm.R0), "r1 = r0"),
			c(asm.And.Imm(asm.R1, 0xc0), "r1 &= 0xc0 (version bits)"),
			c(asm.JNE.Imm(asm.R1, 0x80, "bad_rtp"), "if (r1 != 0x80) goto bad_rtp (version is not 2)"),
			c(asm.Mov.Reg(asm.R8, asm.R9), "r8 = r9"),
			c(asm.And.Imm(asm.R8, 0x0f), "r8 &= 0x0f (CSRC count)"),
			c(asm.LSh.Imm(asm.R8, 2), "r8 <<= 2 (4 bytes per CSRC)"),
			c(asm.Add.Imm(asm.R8, rtpMinHeader), "r8 += 12 (r8 = header length so far)"),
			c(asm.Mov.Reg(asm.R1, asm.R9), "r1 = r9"),
			c(asm.And.Imm(asm.R1, 0x10), "r1 &= 0x10 (X: extension)"),
			c(asm.JEq.Imm(asm.R1, 0, "no_ext"), "if (r1 == 0) goto no_ext"),
			c(asm.Mov.Reg(asm.R1, asm.R8), "r1 = r8"),
			c(asm.Add.Imm(asm.R1, 4), "r1 += 4 (end of the extension header)"),
			c(asm.JGT.Reg(asm.R1, asm.R7, "bad_rtp"), "if (r1 > r7) goto bad_rtp (extension header cut off)"),
			c(asm.LoadInd(asm.R0, asm.R8, base+2, asm.Half), fmt.Sprintf("r0 = ntohs(*(u16 *)&skb->data[r8 + %d]) (extension length in words)", base+2)),
			c(asm.LSh.Imm(asm.R0, 2), "r0 <<= 2 (in bytes)"),
			c(asm.Add.Reg(asm.R8, asm.R0), "r8 += r0"),
			c(asm.Add.Imm(asm.R8, 4), "r8 += 4 (r8 = header length with the extension)"),
			c(asm.JGT.Reg(asm.R8, asm.R7, "bad_rtp").WithSymbol("no_ext"), "no_ext: if (r8 > r7) goto bad_rtp (header longer than the payload)"),
			c(asm.Mov.Reg(asm.R1, asm.R9), "r1 = r9"),
			c(asm.And.Imm(asm.R1, 0x20), "r1 &= 0x20 (P: padding)"),
			c(asm.JEq.Imm(asm.R1, 0, "no_pad"), "if (r1 == 0) goto no_pad"),
			c(asm.LoadInd(asm.R0, asm.R7, base-1, asm.Byte), fmt.Sprintf("r0 = skb->data[r7 + %d] (last byte: padding length)", base-1)),
			c(asm.JEq.Imm(asm.R0, 0, "bad_rtp"), "if (r0 == 0) goto bad_rtp (padding counts itself)"),
			c(asm.Mov.Reg(asm.R1, asm.R8), "r1 = r8"),
			c(asm.Add.Reg(asm.R1, asm.R0), "r1 += r0 (header + padding)"),
			c(asm.JGT.Reg(asm.R1, asm.R7, "bad_rtp"), "if (r1 > r7) goto bad_rtp (padding overlaps the header)"),
			c(asm.Sub.Reg(asm.R7, asm.R0), "r7 -= r0 (r7 = end of the TS part)"),
			c(asm.Sub.Reg(asm.R7, asm.R8).WithSymbol("no_pad"), "no_pad: r7 -= r8 (r7 = TS length)"),
			c(asm.Add.Imm(asm.R8, base), fmt.Sprintf("r8 += %d (r8 = offset of the TS part in skb->data)", base)),
		)
	}
	insns = append(insns,
		c(asm.JEq.Imm(asm.R7, 0, "bad_size"), "if (r7 == 0) goto bad_size (no TS packet)"),
		c(asm.JGT.Imm(asm.R7, MaxPackets*PacketSize, "bad_size"), fmt.Sprintf("if (r7 > %d) goto bad_size (more than %d packets)", MaxPackets*PacketSize, MaxPackets)),
		c(asm.Mov.Reg(asm.R1, asm.R7), "r1 = r7"),
		c(asm.Mod.Imm(asm.R1, PacketSize), "r1 %= 188"),
		c(asm.JNE.Imm(asm.R1, 0, "bad_size"), "if (r1 != 0) goto bad_size (not whole packets)"),
		ld(0),
		c(asm.JNE.Imm(asm.R0, SyncByte, "bad_sync"), "if (r0 != 0x47) goto bad_sync"),
	)
	// The loop, unrolled: packet i exists when r7 > 188*i.
	for i := int32(1); i < MaxPackets; i++ {
		insns = append(insns,
			c(asm.JLE.Imm(asm.R7, i*PacketSize, "pass"), fmt.Sprintf("if (r7 <= %d) goto pass (no packet %d)", i*PacketSize, i)),
			ld(i),
			c(asm.JNE.Imm(asm.R0, SyncByte, "bad_sync"), "if (r0 != 0x47) goto bad_sync"),
		)
	}
	insns = append(insns,
		c(asm.Mov.Imm(asm.R9, offPassed).WithSymbol("pass"), "pass: r9 = offsetof(counters, passed)"),
		c(asm.Ja.Label("count"), "goto count"),
		c(asm.Mov.Imm(asm.R9, offBadSize).WithSymbol("bad_size"), "bad_size: r9 = offsetof(counters, bad_size)"),
		c(asm.Ja.Label("count"), "goto count"),
		c(asm.Mov.Imm(asm.R9, offBadSync).WithSymbol("bad_sync"), "bad_sync: r9 = offsetof(counters, bad_sync)"),
		c(asm.Ja.Label("count"), "goto count"),
	)
	if kind == KindRTP {
		// Only the RTP program jumps here: the verifier refuses unreachable
		// instructions.
		insns = append(insns,
			c(asm.Mov.Imm(asm.R9, offBadRTP).WithSymbol("bad_rtp"), "bad_rtp: r9 = offsetof(counters, bad_rtp)"),
			c(asm.Ja.Label("count"), "goto count"),
		)
	}
	lookup := func(label string) asm.Instructions {
		return asm.Instructions{
			c(asm.Mov.Reg(asm.R2, asm.R10).WithSymbol(label), label+": r2 = fp"),
			c(asm.Add.Imm(asm.R2, -4), "r2 = &key"),
			c(asm.LoadMapPtr(asm.R1, 0).WithReference(countersRef), "r1 = &counters"),
			c(asm.FnMapLookupElem.Call(), "r0 = bpf_map_lookup_elem(&counters, &key) (this CPU's value)"),
		}
	}
	if ring {
		insns = append(insns,
			c(asm.Mov.Imm(asm.R0, 0).WithSymbol("other"), "other: r0 = 0 (drop, uncounted: not an input's datagram)"),
			c(asm.Return(), "return r0"),
		)
	}
	if !keyed {
		insns = append(insns, c(asm.StoreImm(asm.R10, -4, 0, asm.Word).WithSymbol("count"), "count: u32 key = 0 (on the stack at fp-4)"))
		insns = append(insns, lookup("lookup")...)
		insns = append(insns, c(asm.JEq.Imm(asm.R0, 0, "verdict"), "if (r0 == NULL) goto verdict"))
	} else {
		insns = append(insns,
			c(asm.Mov.Imm(asm.R8, 0).WithSymbol("count"), "count: r8 = 0 (not a stray)"),
			c(asm.LoadAbs(skfNetOff+16, asm.Word), "r0 = ntohl(ip->daddr) (SKF_NET_OFF + 16)"),
			c(asm.StoreMem(asm.R10, -4, asm.R0, asm.Word), "u32 key = r0 (on the stack at fp-4)"),
		)
		insns = append(insns, lookup("lookup")...)
		insns = append(insns,
			c(asm.JNE.Imm(asm.R0, 0, "found"), "if (r0 != NULL) goto found"),
			c(asm.Mov.Imm(asm.R8, 1), "r8 = 1 (a stray: no group has this address)"),
			c(asm.StoreImm(asm.R10, -4, strayKey, asm.Word), "key = 0 (the strays' counters)"),
		)
		insns = append(insns, lookup("lookup_stray")...)
		insns = append(insns, c(asm.JEq.Imm(asm.R0, 0, "verdict"), "if (r0 == NULL) goto verdict"))
	}
	insns = append(insns,
		c(asm.Add.Reg(asm.R0, asm.R9).WithSymbol("found"), "found: r0 += r9 (&value->counter)"),
		c(asm.Mov.Imm(asm.R1, 1), "r1 = 1"),
		c(asm.StoreXAdd(asm.R0, asm.R1, asm.DWord), "__sync_fetch_and_add((u64 *)r0, r1)"),
		c(asm.Mov.Imm(asm.R0, 0).WithSymbol("verdict"), "verdict: r0 = 0 (drop)"),
	)
	if keyed {
		insns = append(insns, c(asm.JNE.Imm(asm.R8, 0, "exit"), "if (r8 != 0) goto exit (strays are refused)"))
	}
	insns = append(insns,
		c(asm.JNE.Imm(asm.R9, offPassed, "exit"), "if (r9 != offsetof(counters, passed)) goto exit"),
		c(asm.Mov.Imm32(asm.R0, -1), "r0 = 0xffffffff (keep the whole datagram)"),
		c(asm.Return().WithSymbol("exit"), "exit: return r0"),
	)
	name := programName(kind)
	switch {
	case ring:
		name += "_r" // slabcast_ts_r, slabcast_rtp_r
	case keyed:
		name += "_g" // slabcast_ts_g, slabcast_rtp_g
	}
	insns[0] = insns[0].WithSymbol(name)
	return &ebpf.ProgramSpec{
		Name:         name,
		Type:         ebpf.SocketFilter,
		License:      "Dual MIT/GPL",
		Instructions: insns,
	}, nil
}

// MaxGroups is the most groups a shared filter counts (NewShared).
const MaxGroups = 4096

// sharedCountersSpec is the map sharedSpec's programs count in: this CPU's
// counters by destination address, key 0 for strays.
func sharedCountersSpec() *ebpf.MapSpec {
	return &ebpf.MapSpec{
		Name:       "slabcast_grp",
		Type:       ebpf.PerCPUHash,
		KeySize:    4,
		ValueSize:  countersValue,
		MaxEntries: MaxGroups + 1,
	}
}

// countersSpec is the map programSpec's programs count in.
func countersSpec() *ebpf.MapSpec {
	return &ebpf.MapSpec{
		Name:       countersName,
		Type:       ebpf.PerCPUArray,
		KeySize:    4,
		ValueSize:  countersValue,
		MaxEntries: 1,
	}
}
