package bpf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// Filter is one stream's socket filter; its counters are the stream's.
// Attach it to the stream's socket (or sockets, which then share the
// counters) before the socket binds, so no datagram is queued unfiltered.
type Filter struct {
	kind   Kind
	mode   Mode
	why    error
	shared bool // counts by destination (NewShared)

	prog     *ebpf.Program // ModeEBPF
	counters *ebpf.Map     // ModeEBPF

	classic []unix.SockFilter // ModeClassic

	keys []uint32    // GroupCounts' buffers
	vals []rawCounts // batchKeys values of every CPU
}

// batchKeys is how many groups GroupCounts reads a system call.
const batchKeys = 256

// FallbackError says why a Filter runs classic BPF: it wraps the error that
// kept the eBPF program or its map from loading — EPERM without CAP_BPF or
// under kernel.unprivileged_bpf_disabled, an *ebpf.VerifierError (print it
// with %+v for the verifier's log) if the kernel refused the program.
type FallbackError struct {
	// Step is what failed: "create counters map" or "load program".
	Step string
	// Err is the error of that step.
	Err error
}

func (e *FallbackError) Error() string {
	return "bpf: eBPF unavailable, using classic BPF: " + e.Step + ": " + e.Err.Error() + e.hint()
}

// hint says what to do about EPERM, which cilium/ebpf words as a memlock
// problem although on kernels since 5.11 it means a missing capability.
func (e *FallbackError) hint() string {
	if errors.Is(e.Err, unix.EPERM) {
		return " (no CAP_BPF: run as root or grant CAP_BPF, e.g. systemd AmbientCapabilities=CAP_BPF)"
	}
	return ""
}

func (e *FallbackError) Unwrap() error { return e.Err }

// Format prints the wrapped error with the same verb, so %+v shows the
// verifier log of an *ebpf.VerifierError.
func (e *FallbackError) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('+') {
		fmt.Fprintf(f, "bpf: eBPF unavailable, using classic BPF: %s: %+v%s", e.Step, e.Err, e.hint())
		return
	}
	fmt.Fprint(f, e.Error())
}

// errClassicRequested is the Why of a Filter made by newFilter(kind, true).
var errClassicRequested = errors.New("bpf: classic BPF requested")

// New loads the filter for kind: the eBPF program with its counters map, or,
// when eBPF cannot be loaded, the equivalent classic BPF program; Why then
// says why. It fails only for an unknown kind.
func New(kind Kind) (*Filter, error) { return newFilter(kind, false) }

// newFilter is New, or with classicOnly the classic filter without trying
// eBPF (for tests and benchmarks).
func newFilter(kind Kind, classicOnly bool) (*Filter, error) {
	p, err := classicSpec(kind)
	if err != nil {
		return nil, err
	}
	f := &Filter{kind: kind}
	if !classicOnly {
		prog, m, err := loadEBPF(kind, udpPayload)
		if err == nil {
			f.mode, f.prog, f.counters = ModeEBPF, prog, m
			return f, nil
		}
		f.why = err
	} else {
		f.why = &FallbackError{Step: "new", Err: errClassicRequested}
	}
	f.mode = ModeClassic
	if f.classic, err = assembleClassic(p); err != nil {
		panic("BUG: " + err.Error()) // classicSpec is fixed; its tests assemble it
	}
	return f, nil
}

var memlockOnce sync.Once

// NewShared loads the filter for a socket that many multicast groups share
// (nic.ListenShared): the same judgement as New's, with counters kept per
// destination group, so each stream on the socket keeps its own (see
// AddGroup and GroupCounts). It needs eBPF: classic BPF has no maps, and
// markers would not say how many datagrams of a group passed. The error is
// a *FallbackError when eBPF cannot be loaded.
func NewShared(kind Kind) (*Filter, error) {
	prog, m, err := loadShared(kind, udpPayload)
	if err != nil {
		return nil, err
	}
	return &Filter{kind: kind, mode: ModeEBPF, shared: true, prog: prog, counters: m}, nil
}

// NewRing returns the filter of a packet socket's ring (nic.Ring) that
// takes port's datagrams of kind for many groups: sharedSpec's verdicts
// and counts by destination group, behind a check that keeps only UDP to
// port (anything else is dropped uncounted: it is no input's). eBPF only:
// an error means the caller keeps sockets.
func NewRing(kind Kind, port uint16) (*Filter, error) {
	if port == 0 {
		return nil, errors.New("bpf: ring filter: port 0")
	}
	spec, err := ringSpec(kind, port)
	if err != nil {
		return nil, err
	}
	prog, m, err := loadWith(spec, sharedCountersSpec(), func(m *ebpf.Map) error { return putZero(m, strayKey) })
	if err != nil {
		return nil, err
	}
	return &Filter{kind: kind, mode: ModeEBPF, shared: true, prog: prog, counters: m}, nil
}

// loadShared is loadEBPF for sharedSpec, with the strays' key in place.
func loadShared(kind Kind, base int32) (*ebpf.Program, *ebpf.Map, error) {
	spec, err := sharedSpec(kind, base)
	if err != nil {
		return nil, nil, err
	}
	return loadWith(spec, sharedCountersSpec(), func(m *ebpf.Map) error { return putZero(m, strayKey) })
}

func putZero(m *ebpf.Map, key uint32) error {
	n, err := ebpf.PossibleCPU()
	if err != nil {
		return err
	}
	return m.Update(key, make([]rawCounts, n), ebpf.UpdateAny)
}

// groupKey is the map key of an IPv4 group: the program reads the address
// with LD_ABS, which converts it to host order.
func groupKey(group [4]byte) uint32 { return binary.BigEndian.Uint32(group[:]) }

// Shared reports whether the filter came from NewShared.
func (f *Filter) Shared() bool { return f.shared }

// AddGroup starts counting datagrams for group, from zero, on a shared
// filter. Add it before joining the group: until then its datagrams count
// as strays and are refused. It fails once MaxGroups are counted.
func (f *Filter) AddGroup(group [4]byte) error {
	if !f.shared || f.counters == nil {
		return errors.New("bpf: add group: not an open shared filter")
	}
	if group == [4]byte{} {
		return errors.New("bpf: add group: 0.0.0.0 is not a group")
	}
	if err := putZero(f.counters, groupKey(group)); err != nil {
		return fmt.Errorf("bpf: add group %d.%d.%d.%d: %w", group[0], group[1], group[2], group[3], err)
	}
	return nil
}

// RemoveGroup stops counting group: its datagrams count as strays from now
// on. Leave the group first.
func (f *Filter) RemoveGroup(group [4]byte) error {
	if !f.shared || f.counters == nil {
		return errors.New("bpf: remove group: not an open shared filter")
	}
	if err := f.counters.Delete(groupKey(group)); err != nil {
		return fmt.Errorf("bpf: remove group %d.%d.%d.%d: %w", group[0], group[1], group[2], group[3], err)
	}
	return nil
}

// GroupCounts returns a shared filter's counters for each group added,
// summed over CPUs, into dst (cleared first), and those of the strays:
// datagrams for no group, every one of them refused (Refused is the sum of
// all four counters; their reasons say what else was wrong with them). Each
// group's Refused is what the socket's drop counter holds of it; sk_drops
// less every group's and the strays' refusals is what the receive queue
// lost. It allocates: call it a few times a second, not per datagram.
func (f *Filter) GroupCounts(dst map[[4]byte]Counts) (stray Counts, err error) {
	clear(dst)
	if !f.shared || f.counters == nil {
		return Counts{}, errors.New("bpf: group counts: not an open shared filter")
	}
	// In chunks of batchKeys, one system call each: an iteration costs two
	// a key, and this runs ten times a second per shared socket.
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return Counts{}, fmt.Errorf("bpf: group counts: %w", err)
	}
	if f.keys == nil {
		f.keys = make([]uint32, batchKeys)
		f.vals = make([]rawCounts, batchKeys*ncpu)
	}
	var cursor ebpf.MapBatchCursor
	for {
		n, err := f.counters.BatchLookup(&cursor, f.keys, f.vals, nil)
		for i, key := range f.keys[:n] {
			var c Counts
			for _, v := range f.vals[i*ncpu : (i+1)*ncpu] {
				c.Passed += v.Passed
				c.BadSize += v.BadSize
				c.BadSync += v.BadSync
				c.BadRTP += v.BadRTP
			}
			c.Refused = c.BadSize + c.BadSync + c.BadRTP
			if key == strayKey {
				c.Refused += c.Passed
				stray = c
				continue
			}
			var g [4]byte
			binary.BigEndian.PutUint32(g[:], key)
			dst[g] = c
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			break // the end
		}
		if err != nil {
			return Counts{}, fmt.Errorf("bpf: group counts: %w", err)
		}
	}
	return stray, nil
}

// loadEBPF creates the counters map and loads programSpec(kind, base) with
// it. Errors are *FallbackError.
func loadEBPF(kind Kind, base int32) (*ebpf.Program, *ebpf.Map, error) {
	spec, err := programSpec(kind, base)
	if err != nil {
		return nil, nil, err
	}
	return loadWith(spec, countersSpec(), nil)
}

// loadWith creates the map of ms, runs init on it when set, and loads spec
// with it. Errors are *FallbackError.
func loadWith(spec *ebpf.ProgramSpec, ms *ebpf.MapSpec, init func(*ebpf.Map) error) (*ebpf.Program, *ebpf.Map, error) {
	// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK; on newer
	// ones this does nothing.
	memlockOnce.Do(func() { _ = rlimit.RemoveMemlock() })
	m, err := ebpf.NewMap(ms)
	if err != nil {
		return nil, nil, &FallbackError{Step: "create counters map", Err: err}
	}
	if init != nil {
		if err := init(m); err != nil {
			m.Close()
			return nil, nil, &FallbackError{Step: "create counters map", Err: err}
		}
	}
	prog, err := loadProgram(spec, m)
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	return prog, m, nil
}

// loadProgram loads spec with the counters map m associated. Errors are
// *FallbackError; a verifier rejection wraps an *ebpf.VerifierError.
func loadProgram(spec *ebpf.ProgramSpec, m *ebpf.Map) (*ebpf.Program, error) {
	spec = spec.Copy()
	if m != nil {
		if err := spec.Instructions.AssociateMap(countersRef, m); err != nil {
			return nil, &FallbackError{Step: "load program", Err: err}
		}
	}
	prog, err := ebpf.NewProgram(spec)
	if err != nil {
		return nil, &FallbackError{Step: "load program", Err: err}
	}
	return prog, nil
}

// Kind returns the kind of input the filter is for.
func (f *Filter) Kind() Kind { return f.kind }

// Mode returns whether the filter runs as eBPF or classic BPF.
func (f *Filter) Mode() Mode { return f.mode }

// Why returns why the filter runs classic BPF (a *FallbackError), or nil in
// eBPF mode.
func (f *Filter) Why() error { return f.why }

// Attach installs the filter on the socket fd (SO_ATTACH_BPF, or
// SO_ATTACH_FILTER in classic mode), replacing any filter it had. The
// kernel keeps its own reference: the socket stays filtered after Close.
func (f *Filter) Attach(fd int) error {
	switch {
	case f.mode == ModeEBPF && f.prog != nil:
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ATTACH_BPF, f.prog.FD()); err != nil {
			return fmt.Errorf("bpf: attach %s filter: SO_ATTACH_BPF: %w", f.kind, err)
		}
	case f.mode == ModeClassic && len(f.classic) > 0:
		prog := unix.SockFprog{Len: uint16(len(f.classic)), Filter: &f.classic[0]}
		if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog); err != nil {
			return fmt.Errorf("bpf: attach classic %s filter: SO_ATTACH_FILTER: %w", f.kind, err)
		}
	default:
		return errors.New("bpf: attach: filter closed")
	}
	return nil
}

// Counts returns the filter's counters since New, summed over CPUs, with
// ok=true, in eBPF mode. What the kernel lost on a socket — receive-buffer
// overflows, checksum errors — is then SocketDrops less Refused: sk_drops
// counts the refusals too (net/ipv4/udp.c, udp_queue_rcv_one_skb: a filter
// refusal goes to its drop: label, which increments sk_drops, as do a
// checksum error and an IPsec policy refusal; __udp_enqueue_schedule_skb
// increments it for a full receive buffer).
//
// Classic mode has no map: Counts returns ok=false, and the caller counts
// the refusals from the markers it reads (Marker). No refusal reaches
// sk_drops there, so SocketDrops (or the SO_RXQ_OVFL control message, which
// reports the same counter) is exactly what the kernel lost. A marker takes
// as much of the receive buffer as the datagram it replaces until it is read
// (trimming does not shrink skb->truesize), and one that finds the buffer
// full is lost and counted in SocketDrops like any other datagram.
func (f *Filter) Counts() (c Counts, ok bool, err error) {
	if f.shared {
		return Counts{}, false, errors.New("bpf: counts: a shared filter counts by group (GroupCounts)")
	}
	if f.mode != ModeEBPF {
		return Counts{}, false, nil
	}
	if f.counters == nil {
		return Counts{}, false, errors.New("bpf: counts: filter closed")
	}
	var perCPU []rawCounts
	if err := f.counters.Lookup(uint32(0), &perCPU); err != nil {
		return Counts{}, false, fmt.Errorf("bpf: counts: %w", err)
	}
	for _, v := range perCPU {
		c.Passed += v.Passed
		c.BadSize += v.BadSize
		c.BadSync += v.BadSync
		c.BadRTP += v.BadRTP
	}
	c.Refused = c.BadSize + c.BadSync + c.BadRTP
	return c, true, nil
}

// Close releases the program and its map. Sockets the filter is attached
// to keep filtering; Counts and Attach fail afterwards.
func (f *Filter) Close() error {
	var errs []error
	if f.prog != nil {
		errs = append(errs, f.prog.Close())
		f.prog = nil
	}
	if f.counters != nil {
		errs = append(errs, f.counters.Close())
		f.counters = nil
	}
	f.classic = nil
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("bpf: close: %w", err)
	}
	return nil
}

// Probe reports which mode New would use on this host and, for
// ModeClassic, why eBPF cannot be loaded (a *FallbackError). It loads the
// RTP program and its map, and releases them.
func Probe() (Mode, error) {
	prog, m, err := loadEBPF(KindRTP, udpPayload)
	if err != nil {
		return ModeClassic, err
	}
	prog.Close()
	m.Close()
	return ModeEBPF, nil
}

// SocketDrops returns the socket's drop counter, SK_MEMINFO_DROPS of
// getsockopt(SO_MEMINFO): datagrams that found the receive buffer full or
// failed the checksum, plus, in eBPF mode, those the filter refused (see
// Filter.Counts); a classic filter's refusals arrive as markers instead.
// The kernel keeps it in 32 bits; it wraps. It allocates nothing.
func SocketDrops(fd int) (uint64, error) {
	var info [unix.SK_MEMINFO_VARS]uint32
	size := uint32(unsafe.Sizeof(info))
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_MEMINFO,
		uintptr(unsafe.Pointer(&info)), uintptr(unsafe.Pointer(&size)), 0)
	if errno != 0 {
		return 0, fmt.Errorf("bpf: getsockopt SO_MEMINFO: %w", errno)
	}
	if size <= unix.SK_MEMINFO_DROPS*4 {
		return 0, fmt.Errorf("bpf: getsockopt SO_MEMINFO: %d bytes, no drop counter", size)
	}
	return uint64(info[unix.SK_MEMINFO_DROPS]), nil
}
