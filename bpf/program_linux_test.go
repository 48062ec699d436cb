package bpf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

// needEBPF skips (or, under CI=true, fails) when eBPF programs cannot be
// loaded here.
func needEBPF(t testing.TB) {
	t.Helper()
	mode, err := Probe()
	if mode == ModeEBPF {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("eBPF unavailable under CI: %+v", err)
	}
	t.Skipf("eBPF unavailable: %v", err)
}

// The eBPF programs' encoding, checked without loading them.
func TestProgramSpec(t *testing.T) {
	for _, kind := range []Kind{KindTS, KindRTP} {
		for _, base := range []int32{udpPayload, testRunPayload} {
			spec, err := programSpec(kind, base)
			if err != nil {
				t.Fatal(err)
			}
			insns := spec.Instructions
			if spec.Type != ebpf.SocketFilter || insns.Name() != programName(kind) {
				t.Errorf("%v: type %v, name %q", kind, spec.Type, insns.Name())
			}
			var buf bytes.Buffer
			if err := insns.Marshal(&buf, binary.LittleEndian); err != nil {
				t.Fatalf("%v: marshal: %v", kind, err)
			}
			if got, want := buf.Len(), int(insns.Size()); got != want || got%asm.InstructionSize != 0 {
				t.Errorf("%v: encoded %d bytes, want %d", kind, got, want)
			}
			var syncChecks, syncLoads, mapRefs int
			for i, ins := range insns {
				if ins.Source() == nil || ins.Source().String() == "" {
					t.Errorf("%v: instruction %d (%v) has no comment", kind, i, ins)
				}
				if ins.OpCode.JumpOp() == asm.JNE && ins.Dst == asm.R0 && ins.Constant == SyncByte {
					syncChecks++
				}
				if ins.OpCode.Mode() == asm.AbsMode || ins.OpCode.Mode() == asm.IndMode {
					off := ins.Constant
					if ins.OpCode.Mode() == asm.IndMode && ins.Src == asm.R8 {
						off += int64(base) // r8 includes base
					}
					if (off-int64(base))%PacketSize == 0 && ins.OpCode.Size() == asm.Byte && ins.Src != asm.R7 {
						syncLoads++
					}
				}
				if ins.Reference() == countersRef {
					mapRefs++
					if !ins.IsLoadFromMap() {
						t.Errorf("%v: %v references the map but does not load it", kind, ins)
					}
				}
				if ins.OpCode.Class().IsJump() && ins.OpCode.JumpOp() != asm.Exit && ins.OpCode.JumpOp() != asm.Call && ins.Reference() == "" {
					t.Errorf("%v: jump %d (%v) has no label", kind, i, ins)
				}
			}
			if syncChecks != MaxPackets {
				t.Errorf("%v: %d sync byte comparisons, want %d", kind, syncChecks, MaxPackets)
			}
			if want := MaxPackets + map[Kind]int{KindTS: 0, KindRTP: 1}[kind]; syncLoads != want { // RTP: + the flags byte
				t.Errorf("%v: %d byte loads at packet starts, want %d", kind, syncLoads, want)
			}
			if mapRefs != 1 {
				t.Errorf("%v: %d map references, want 1", kind, mapRefs)
			}
			if last := insns[len(insns)-1]; last.OpCode.JumpOp() != asm.Exit {
				t.Errorf("%v: last instruction %v is not exit", kind, last)
			}
			// The comments carry the C, so %v of the program is readable.
			if s := fmt.Sprintf("%v", insns); !strings.Contains(s, "goto bad_sync") || !strings.Contains(s, "bpf_map_lookup_elem") {
				t.Errorf("%v: program listing lacks its comments:\n%s", kind, s)
			}
		}
	}
	if _, err := programSpec(Kind(5), udpPayload); err == nil {
		t.Error("programSpec accepted an unknown kind")
	}
}

// The classic programs' encoding, checked the way the kernel's
// bpf_check_classic does, without attaching them.
func TestClassicSpec(t *testing.T) {
	for _, kind := range []Kind{KindTS, KindRTP} {
		p, err := classicSpec(kind)
		if err != nil {
			t.Fatal(err)
		}
		prog, err := assembleClassic(p)
		if err != nil {
			t.Fatalf("%v: %v", kind, err)
		}
		if len(prog) > unix.BPF_MAXINSNS {
			t.Fatalf("%v: %d instructions", kind, len(prog))
		}
		stored := map[uint32]bool{}
		var syncChecks int
		for i, in := range prog {
			if p[i].comment == "" {
				t.Errorf("%v: instruction %d has no comment", kind, i)
			}
			switch in.Code & 0x07 { // class
			case unix.BPF_JMP:
				if in.Code&0xf0 == unix.BPF_JA {
					t.Errorf("%v: %d: unexpected ja", kind, i)
				}
				for _, off := range []uint8{in.Jt, in.Jf} {
					if i+1+int(off) >= len(prog) {
						t.Errorf("%v: %d: jump past the end", kind, i)
					}
				}
				if in.Code == cJeqK && in.K == SyncByte {
					syncChecks++
				}
			case unix.BPF_ST:
				if in.K >= unix.BPF_MEMWORDS {
					t.Errorf("%v: %d: store to M[%d]", kind, i, in.K)
				}
				stored[in.K] = true
			case unix.BPF_LD, unix.BPF_LDX:
				// Linear order suffices: every store in these programs
				// precedes, on every path, the loads that read it.
				if in.Code&0xe0 == unix.BPF_MEM && !stored[in.K] {
					t.Errorf("%v: %d: M[%d] loaded before any store", kind, i, in.K)
				}
			case unix.BPF_ALU:
				if (in.Code&0xf0 == unix.BPF_DIV || in.Code&0xf0 == unix.BPF_MOD) && in.Code&0x08 == unix.BPF_K && in.K == 0 {
					t.Errorf("%v: %d: division by zero", kind, i)
				}
			}
		}
		if syncChecks != MaxPackets {
			t.Errorf("%v: %d sync byte comparisons, want %d", kind, syncChecks, MaxPackets)
		}
		// The program ends with its verdicts: pass, then a marker per
		// reason the kind can refuse for; no verdict drops.
		tail := []unix.SockFilter{{Code: cRetK, K: acceptAll}, {Code: cRetK, K: 8 + 2}, {Code: cRetK, K: 8 + 3}}
		if kind == KindRTP {
			tail = append(tail, unix.SockFilter{Code: cRetK, K: 8 + 1})
		}
		if n := len(prog) - len(tail); n < 0 || !slices.Equal(prog[n:], tail) {
			t.Errorf("%v: program does not end with %+v", kind, tail)
		}
		for i, in := range prog {
			if in.Code&0x07 == unix.BPF_RET && (in.Code != cRetK || in.K == 0) {
				t.Errorf("%v: %d: %+v drops or returns A", kind, i, in)
			}
		}
	}
	if _, err := classicSpec(Kind(5)); err == nil {
		t.Error("classicSpec accepted an unknown kind")
	}
	f := func(p []cop, want string) {
		t.Helper()
		if _, err := assembleClassic(p); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("assembleClassic: %v, want an error with %q", err, want)
		}
	}
	ret := cop{code: cRetK, label: "end"}
	f([]cop{{code: cJeqK, jt: "nowhere"}, ret}, "undefined label")
	f([]cop{ret, {code: cJeqK, jt: "end"}, ret}, "defined twice")
	f(append(append([]cop{{code: cJeqK, jt: "end"}}, make([]cop, 256)...), ret), "256 instructions away")
	f(nil, "0 instructions")
}

// A program the verifier refuses surfaces as a *FallbackError wrapping an
// *ebpf.VerifierError whose log %+v prints.
func TestVerifierLog(t *testing.T) {
	needEBPF(t)
	spec := &ebpf.ProgramSpec{
		Name:    "slabcast_bad",
		Type:    ebpf.SocketFilter,
		License: "Dual MIT/GPL",
		Instructions: asm.Instructions{
			c(asm.Mov.Reg(asm.R0, asm.R2), "r0 = r2 (never written)"),
			c(asm.Return(), "return r0"),
		},
	}
	_, err := loadProgram(spec, nil)
	var fe *FallbackError
	var ve *ebpf.VerifierError
	if !errors.As(err, &fe) || !errors.As(err, &ve) {
		t.Fatalf("loadProgram: %v, want a *FallbackError with an *ebpf.VerifierError", err)
	}
	if full := fmt.Sprintf("%+v", err); !strings.Contains(full, "R2 !read_ok") || !strings.Contains(full, "load program") {
		t.Errorf("%%+v lacks the verifier log:\n%s", full)
	}
}

// testRunData wraps a UDP payload for BPF_PROG_TEST_RUN: Ethernet, IPv4,
// UDP headers.
func testRunData(payload []byte) []byte {
	d := make([]byte, 14+20+8, 14+20+8+len(payload))
	binary.BigEndian.PutUint16(d[12:], 0x0800) // EtherType IPv4
	ip := d[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(payload)))
	ip[8], ip[9] = 64, unix.IPPROTO_UDP
	copy(ip[12:], []byte{127, 0, 0, 1})
	copy(ip[16:], []byte{127, 0, 0, 1})
	binary.BigEndian.PutUint16(d[38:], uint16(8+len(payload)))
	return append(d, payload...)
}

// testRunMax is the largest input BPF_PROG_TEST_RUN takes for an skb
// program: a page less headroom and skb_shared_info.
const testRunMax = 3000

// The eBPF programs under BPF_PROG_TEST_RUN, on the table: same verdicts as
// Classify, and counters that add up. The test-run skb starts at the IP
// header, not the UDP header, so these programs read the payload at
// testRunPayload; cases larger than testRunMax are left to the socket tests.
func TestProgramRun(t *testing.T) {
	needEBPF(t)
	for _, kind := range []Kind{KindTS, KindRTP} {
		prog, m, err := loadEBPF(kind, testRunPayload)
		if err != nil {
			t.Fatalf("%+v", err)
		}
		defer prog.Close()
		defer m.Close()
		f := &Filter{kind: kind, mode: ModeEBPF, prog: prog, counters: m}
		var want Counts
		for _, tc := range cases() {
			if tc.kind != kind || len(tc.payload)+42 > testRunMax {
				continue
			}
			ret, err := prog.Run(&ebpf.RunOptions{Data: testRunData(tc.payload)})
			if errors.Is(err, ebpf.ErrNotSupported) {
				t.Skipf("BPF_PROG_TEST_RUN for socket filters: %v", err)
			}
			if err != nil {
				t.Fatalf("%s: run: %v", tc.name, err)
			}
			if pass := ret != 0; pass != (tc.want == Pass) {
				t.Errorf("%s: program returned %#x, want %v", tc.name, ret, tc.want)
			}
			want.add(tc.want)
		}
		if want.Passed < 5 || want.BadSize < 3 || want.BadSync < 2 || (kind == KindRTP && want.BadRTP < 5) {
			t.Fatalf("%v: too few cases small enough for a test run: %+v", kind, want)
		}
		got, ok, err := f.Counts()
		if err != nil || !ok {
			t.Fatalf("Counts: %v, %v", ok, err)
		}
		if got != want {
			t.Errorf("%v: counters %+v, want %+v", kind, got, want)
		}
	}
}

// add counts one verdict.
func (c *Counts) add(r Reason) {
	switch r {
	case Pass:
		c.Passed++
		return
	case BadSize:
		c.BadSize++
	case BadSync:
		c.BadSync++
	case BadRTP:
		c.BadRTP++
	}
	c.Refused++
}

// The shared program under BPF_PROG_TEST_RUN: the same verdicts as the
// per-stream one for the groups it counts, each group's counters its own,
// and a datagram for an address no group has refused and counted as a
// stray, however good its TS.
func TestSharedProgramRun(t *testing.T) {
	needEBPF(t)
	for _, kind := range []Kind{KindTS, KindRTP} {
		prog, m, err := loadShared(kind, testRunPayload)
		if err != nil {
			t.Fatalf("%+v", err)
		}
		defer prog.Close()
		defer m.Close()
		f := &Filter{kind: kind, mode: ModeEBPF, shared: true, prog: prog, counters: m}
		groups := [][4]byte{{239, 1, 1, 1}, {239, 1, 1, 2}}
		for _, g := range groups {
			if err := f.AddGroup(g); err != nil {
				t.Fatal(err)
			}
		}
		want := map[[4]byte]Counts{}
		var stray Counts
		for i, tc := range cases() {
			if tc.kind != kind || len(tc.payload)+42 > testRunMax {
				continue
			}
			dst := groups[i%2]
			if i%5 == 4 {
				dst = [4]byte{239, 9, 9, 9} // no group
			}
			data := testRunData(tc.payload)
			copy(data[14+16:], dst[:])
			ret, err := prog.Run(&ebpf.RunOptions{Data: data})
			if errors.Is(err, ebpf.ErrNotSupported) {
				t.Skipf("BPF_PROG_TEST_RUN for socket filters: %v", err)
			}
			if err != nil {
				t.Fatalf("%s: run: %v", tc.name, err)
			}
			pass := ret != 0
			if dst == [4]byte{239, 9, 9, 9} {
				if pass {
					t.Errorf("%s: a stray passed", tc.name)
				}
				stray.add(tc.want)
				continue
			}
			if pass != (tc.want == Pass) {
				t.Errorf("%s: program returned %#x, want %v", tc.name, ret, tc.want)
			}
			c := want[dst]
			c.add(tc.want)
			want[dst] = c
		}
		stray.Refused += stray.Passed // every stray is refused
		got := map[[4]byte]Counts{}
		gotStray, err := f.GroupCounts(got)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[groups[0]] != want[groups[0]] || got[groups[1]] != want[groups[1]] {
			t.Errorf("%v: group counters %+v, want %+v", kind, got, want)
		}
		if want[groups[0]].Passed == 0 || want[groups[1]].Refused == 0 || stray.Passed == 0 {
			t.Fatalf("%v: the cases do not exercise every counter: %+v, strays %+v", kind, want, stray)
		}
		if gotStray != stray {
			t.Errorf("%v: strays %+v, want %+v", kind, gotStray, stray)
		}
		// A group removed counts as a stray from then on.
		if err := f.RemoveGroup(groups[1]); err != nil {
			t.Fatal(err)
		}
		data := testRunData(tsPackets(2))
		copy(data[14+16:], groups[1][:])
		if kind == KindRTP {
			data = testRunData(append(rtpHeader(2, 0, 0, false), tsPackets(2)...))
			copy(data[14+16:], groups[1][:])
		}
		if ret, _ := prog.Run(&ebpf.RunOptions{Data: data}); ret != 0 {
			t.Errorf("%v: a datagram of a removed group passed", kind)
		}
		if _, err := f.GroupCounts(got); err != nil || len(got) != 1 {
			t.Errorf("%v: after RemoveGroup: %v groups, %v", kind, len(got), err)
		}
		if err := f.AddGroup([4]byte{}); err == nil {
			t.Error("AddGroup(0.0.0.0) succeeded")
		}
	}
	if _, ok, err := (&Filter{shared: true, mode: ModeEBPF}).Counts(); ok || err == nil {
		t.Error("Counts of a shared filter did not refuse")
	}
}

// GroupCounts reads a map larger than one batch of keys whole.
func TestGroupCountsManyGroups(t *testing.T) {
	needEBPF(t)
	f, err := NewShared(KindTS)
	if err != nil {
		t.Fatalf("%+v", err)
	}
	defer f.Close()
	const n = 3*batchKeys + 7
	for i := 0; i < n; i++ {
		if err := f.AddGroup([4]byte{239, 2, byte(i >> 8), byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	got := map[[4]byte]Counts{}
	if _, err := f.GroupCounts(got); err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("GroupCounts returned %d groups, added %d", len(got), n)
	}
}

// The ring program (a packet socket's, NewRing) under BPF_PROG_TEST_RUN,
// whose data starts at the IPv4 header as a packet socket's does: the
// port's datagrams get the shared program's verdicts and counts by group;
// other ports, other protocols and other IP versions are dropped
// uncounted; options and fragments count as bad_size.
func TestRingProgramRun(t *testing.T) {
	needEBPF(t)
	const port = 5000
	for _, kind := range []Kind{KindTS, KindRTP} {
		f, err := NewRing(kind, port)
		if err != nil {
			t.Fatalf("%+v", err)
		}
		defer f.Close()
		g := [4]byte{239, 1, 1, 1}
		if err := f.AddGroup(g); err != nil {
			t.Fatal(err)
		}
		run := func(data []byte) uint32 {
			t.Helper()
			ret, err := f.prog.Run(&ebpf.RunOptions{Data: data})
			if errors.Is(err, ebpf.ErrNotSupported) {
				t.Skipf("BPF_PROG_TEST_RUN for socket filters: %v", err)
			}
			if err != nil {
				t.Fatal(err)
			}
			return ret
		}
		to := func(payload []byte, dport uint16) []byte {
			d := testRunData(payload)
			copy(d[14+16:], g[:])
			binary.BigEndian.PutUint16(d[14+22:], dport)
			return d
		}
		var want Counts
		for _, tc := range cases() {
			if tc.kind != kind || len(tc.payload)+42 > testRunMax {
				continue
			}
			if pass := run(to(tc.payload, port)) != 0; pass != (tc.want == Pass) {
				t.Errorf("%s: passed %v, want %v", tc.name, pass, tc.want)
			}
			want.add(tc.want)
		}
		good := cases()[0].payload
		for _, c := range cases() {
			if c.kind == kind && c.want == Pass {
				good = c.payload
				break
			}
		}
		// Not the input's: another port, TCP, IPv6. Dropped, not counted.
		other := to(good, port+1)
		tcp := to(good, port)
		tcp[14+9] = unix.IPPROTO_TCP
		v6 := to(good, port)
		v6[14] = 0x60
		for name, d := range map[string][]byte{"another port": other, "tcp": tcp, "ipv6": v6} {
			if run(d) != 0 {
				t.Errorf("%s passed", name)
			}
		}
		// The port's, but unreadable at fixed offsets: bad_size.
		frag := to(good, port)
		frag[14+6] = 0x20 // more fragments
		if run(frag) != 0 {
			t.Error("a fragment passed")
		}
		want.add(BadSize)
		cut := to(good, port)
		binary.BigEndian.PutUint16(cut[14+24:], uint16(8+len(good)+188)) // UDP length past the packet
		if run(cut) != 0 {
			t.Error("a datagram longer than its packet passed")
		}
		want.add(BadSize)
		got := map[[4]byte]Counts{}
		if _, err := f.GroupCounts(got); err != nil {
			t.Fatal(err)
		}
		if got[g] != want {
			t.Errorf("%v: counts %+v, want %+v", kind, got[g], want)
		}
		if want.Passed == 0 || want.Refused == 0 {
			t.Fatalf("%v: the cases exercise too little: %+v", kind, want)
		}
	}
}
