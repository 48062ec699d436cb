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
	// and bounded by a share of the pool: beyond it a form is made for
	// the request and not kept.
	packed   atomic.Int64
	uncached atomic.Uint64
}

// PackShare is the share of the pool's size that packaged forms kept with
// segments may take on the heap: a quarter.
const PackShare = 4

// PackedBytes is the size of the packaged forms kept with segments now.
func (p *Pool) PackedBytes() int64 { return p.packed.Load() }

// PackedUncached counts packaged forms made for a request and not kept,
// because those kept were at their bound (Size / PackShare).
func (p *Pool) PackedUncached() uint64 { return p.uncached.Load() }

// keepPacked reserves n bytes of the packaged forms' budget, or reports
// that it is spent.
func (p *Pool) keepPacked(n int64) bool {
	if p.packed.Add(n) > p.Size()/PackShare {
		p.packed.Add(-n)
		p.uncached.Add(1)
		return false
	}
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
