package ts

// Framer cuts a byte stream of TS (an HTTP body, a TCP or SRT session) into
// whole packets on their sync bytes, as a receiver of such a stream must:
// reads end anywhere, so a packet may arrive in pieces, and a stream that
// starts mid-packet or carries garbage is resynchronised where three sync
// bytes stand a packet apart, and a packet is taken only when the next
// one's sync byte follows it (so the last packet waits for one more byte).
// It hands out runs of up to a datagram's
// worth of packets, the unit the rest of the receive path takes.
//
// It holds fixed buffers and allocates nothing after NewFramer.
type Framer struct {
	acc     []byte // bytes not yet framed; cap fixed
	run     []byte // packets gathered for the next emit; cap perRun packets
	synced  bool   // acc starts where a packet starts
	skipped uint64
}

// resyncWindow is how many bytes a lost framer looks at before it gives up
// on them: three packets (the sync test) and a little more.
const resyncWindow = 3*PacketSize + 1

// NewFramer makes a framer whose runs hold at most perRun packets.
func NewFramer(perRun int) *Framer {
	perRun = max(1, perRun)
	return &Framer{acc: make([]byte, 0, 64<<10), run: make([]byte, 0, perRun*PacketSize)}
}

// Skipped is the number of bytes thrown away since NewFramer because no
// packet started there: a stream that began mid-packet, or garbage.
func (f *Framer) Skipped() uint64 { return f.skipped }

// Feed takes the next bytes of the stream and calls emit with each run of
// whole packets it completes (the slice is valid until emit returns), the
// last one short. Bytes of an incomplete packet wait for the next Feed. An
// error from emit stops Feed and is returned.
func (f *Framer) Feed(b []byte, emit func(run []byte) error) error {
	for len(b) > 0 {
		k := copy(f.acc[len(f.acc):cap(f.acc)], b)
		f.acc = f.acc[:len(f.acc)+k]
		b = b[k:]
		if err := f.frame(emit); err != nil {
			return err
		}
	}
	if len(f.run) > 0 {
		err := emit(f.run)
		f.run = f.run[:0]
		return err
	}
	return nil
}

// Flush emits the last packet of a stream that has ended, which Feed holds
// back until it sees the next sync byte, and forgets any incomplete rest.
func (f *Framer) Flush(emit func(run []byte) error) error {
	a := f.acc
	f.acc = f.acc[:0]
	if f.synced && len(a) == PacketSize && a[0] == SyncByte {
		return emit(a)
	}
	f.skipped += uint64(len(a))
	return nil
}

// frame takes the whole packets off the front of acc.
func (f *Framer) frame(emit func([]byte) error) error {
	a := f.acc
	for {
		if !f.synced {
			if len(a) < resyncWindow {
				break // wait for enough to judge
			}
			i := syncAt(a)
			if i < 0 {
				// None here: a packet may still start in the last two
				// packets' worth.
				i = len(a) - 2*PacketSize
				f.skipped += uint64(i)
				a = a[i:]
				break
			}
			f.skipped += uint64(i)
			a = a[i:]
			f.synced = true
		}
		// A packet counts once the next one's sync byte is in sight too: a
		// packet cut short by garbage starts with a sync byte as well.
		if len(a) <= PacketSize {
			break
		}
		if a[0] != SyncByte || a[PacketSize] != SyncByte {
			f.synced = false
			continue
		}
		f.run = append(f.run, a[:PacketSize]...)
		a = a[PacketSize:]
		if len(f.run) == cap(f.run) {
			if err := emit(f.run); err != nil {
				f.run = f.run[:0]
				f.acc = f.acc[:copy(f.acc, a)]
				return err
			}
			f.run = f.run[:0]
		}
	}
	f.acc = f.acc[:copy(f.acc, a)]
	return nil
}

// syncAt returns the first offset of b where three sync bytes stand a
// packet apart, -1 if none.
func syncAt(b []byte) int {
	for i := 0; i+2*PacketSize < len(b); i++ {
		if b[i] == SyncByte && b[i+PacketSize] == SyncByte && b[i+2*PacketSize] == SyncByte {
			return i
		}
	}
	return -1
}
