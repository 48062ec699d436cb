package pipeline

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/slabcast/slabcast/ts"
)

// ChunkSize is the size of one slab chunk: a whole number of TS packets, so a
// packet never straddles two chunks and a segment's bytes are the
// concatenation of its chunks.
const ChunkSize = ts.PacketSize * 1024 // 192512 bytes

// MinMemory is the smallest pool a daemon accepts: a few chunks per stream is
// not enough for a useful window, so below this something is misconfigured.
const MinMemory = 16 << 20

// chunk is one fixed slice of the arena. gen counts how often the chunk has
// been handed out; a reader that remembered an older gen knows the bytes it
// wanted are gone (see segment.go).
type chunk struct {
	gen atomic.Uint64
	buf []byte
}

// Pool is the preallocated, bounded store of slab chunks shared by all
// streams. The arena is one anonymous mapping made at start (MAP_POPULATE, so
// the memory is really there), outside the Go heap: the garbage collector
// never scans it and it never grows. Get and Put are safe for concurrent use;
// they run once per chunk (about a thousand packets), never per packet.
type Pool struct {
	arena  []byte
	chunks []chunk

	mu   sync.Mutex
	free []*chunk

	exhausted atomic.Uint64 // Gets that found the pool empty

	// Packaged forms kept with segments (Segment.Package), on the Go heap
	// and bounded by the pool's size: past it the oldest kept go first.
	packed   atomic.Int64
	uncached atomic.Uint64
	evicted  atomic.Uint64
	packMu   sync.Mutex
	packQ    []packEntry // kept forms, oldest first
	packID   uint64
	packAdds int // entries added since the queue was last cleared of gone forms
}

// packEntry names a kept form: its segment, slot and id (not the form, so
// that the queue does not keep its bytes alive).
type packEntry struct {
	seg  *Segment
	slot int
	id   uint64
}

// PackedBytes is the size of the packaged forms kept with segments now.
func (p *Pool) PackedBytes() int64 { return p.packed.Load() }

// PackedUncached counts packaged forms made for a request and not kept:
// one larger than the whole bound.
func (p *Pool) PackedUncached() uint64 { return p.uncached.Load() }

// PackedEvicted counts kept forms dropped, oldest first, to keep a newer
// one within the bound.
func (p *Pool) PackedEvicted() uint64 { return p.evicted.Load() }

// keep reserves r.size of the packaged forms' budget (the pool's size) for
// r, kept in seg's slot, dropping the oldest kept forms if it must. It
// reports false when r alone is larger than the budget; r then has its id.
func (p *Pool) keep(seg *Segment, slot int, r *packResult) bool {
	budget := p.Size()
	p.packMu.Lock()
	defer p.packMu.Unlock()
	if r.size > budget {
		p.uncached.Add(1)
		return false
	}
	for len(p.packQ) > 0 && p.packed.Load()+r.size > budget {
		e := p.packQ[0]
		p.packQ[0] = packEntry{}
		p.packQ = p.packQ[1:]
		if old := e.seg.packed[e.slot].Load(); old != nil && old.id == e.id && e.seg.packed[e.slot].CompareAndSwap(old, nil) {
			p.packed.Add(-old.size)
			p.evicted.Add(1)
		}
	}
	p.packID++
	r.id = p.packID
	p.packed.Add(r.size)
	// Entries of forms already gone (their segment released) are cleared
	// out every 1024 entries added.
	if p.packAdds++; p.packAdds >= 1024 {
		p.packAdds = 0
		live := p.packQ[:0]
		for _, e := range p.packQ {
			if old := e.seg.packed[e.slot].Load(); old != nil && old.id == e.id {
				live = append(live, e)
			}
		}
		clear(p.packQ[len(live):])
		p.packQ = live
	}
	p.packQ = append(p.packQ, packEntry{seg: seg, slot: slot, id: r.id})
	return true
}

// NewPool maps size bytes (rounded down to whole chunks).
func NewPool(size int64) (*Pool, error) {
	n := size / ChunkSize
	if n < 1 {
		return nil, fmt.Errorf("pipeline: memory %d bytes is less than one %d-byte chunk", size, ChunkSize)
	}
	arena, err := unix.Mmap(-1, 0, int(n*ChunkSize), unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("pipeline: mapping %d bytes for the slab pool: %w", n*ChunkSize, err)
	}
	p := &Pool{arena: arena, chunks: make([]chunk, n), free: make([]*chunk, 0, n)}
	for i := range p.chunks {
		c := &p.chunks[i]
		c.buf = arena[i*ChunkSize : (i+1)*ChunkSize : (i+1)*ChunkSize]
		p.free = append(p.free, c)
	}
	return p, nil
}

// get hands out a free chunk, or nil when the pool is empty. Its generation
// moves on before the caller writes a byte, so readers of its previous
// contents notice.
func (p *Pool) get() *chunk {
	p.mu.Lock()
	n := len(p.free)
	if n == 0 {
		p.mu.Unlock()
		p.exhausted.Add(1)
		return nil
	}
	c := p.free[n-1]
	p.free = p.free[:n-1]
	p.mu.Unlock()
	c.gen.Add(1)
	return c
}

// put returns chunks to the pool. Their bytes stay readable until a later get
// hands them out again.
func (p *Pool) put(cs ...*chunk) {
	p.mu.Lock()
	p.free = append(p.free, cs...)
	p.mu.Unlock()
}

// Size is the pool's capacity in bytes.
func (p *Pool) Size() int64 { return int64(len(p.chunks)) * ChunkSize }

// Free is the number of bytes not held by any stream.
func (p *Pool) Free() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return int64(len(p.free)) * ChunkSize
}

// Exhausted counts the times a stream asked for a chunk and none was free.
func (p *Pool) Exhausted() uint64 { return p.exhausted.Load() }

// Close unmaps the arena. Only for tests and shutdown: every stream must be
// stopped and every HTTP reader gone first.
func (p *Pool) Close() error {
	if p.arena == nil {
		return errors.New("pipeline: pool already closed")
	}
	err := unix.Munmap(p.arena)
	p.arena = nil
	return err
}
