package pipeline

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/slabcast/slabcast/config"
	"github.com/slabcast/slabcast/internal/logcap"
)

// AES-128 HLS (config.DRM): a drm stream's segments are encrypted once,
// when they close, in place in their slabs (AES-128-CBC, PKCS7 padding, IV
// the media sequence number), with the key of their period, which a
// fetcher takes from the operator's key server ahead of time. A segment
// whose key cannot be had is never published: no byte of a drm stream
// leaves in the clear.

// KeySize is the size of an AES-128 key.
const KeySize = 16

// keyTimeout bounds one request to the key server.
const keyTimeout = 3 * time.Second

// keyring holds a drm stream's keys by period number, fetched by its own
// goroutine; the worker and the HTTP key route read it.
type keyring struct {
	drm    config.DRM
	stream string
	client *http.Client
	logf   func(string, ...any)
	c      *counters

	mu   sync.Mutex
	keys map[int64][KeySize]byte
	want int64 // the newest period the segmenter asked for
	kick chan struct{}
}

// keysKept is how many periods' keys a ring keeps: those of the segments a
// playlist may still list, with room.
const keysKept = 16

func newKeyring(d config.DRM, stream string, c *counters, logf func(string, ...any)) *keyring {
	return &keyring{drm: d, stream: stream, c: c, logf: logf, keys: map[int64][KeySize]byte{},
		client: &http.Client{Timeout: keyTimeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		kick:   make(chan struct{}, 1)}
}

// key returns key n, if the ring has it. A miss asks the fetcher to hurry.
func (k *keyring) key(n int64) ([KeySize]byte, bool) {
	k.mu.Lock()
	key, ok := k.keys[n]
	if !ok && n > k.want {
		k.want = n
	}
	k.mu.Unlock()
	if !ok {
		select {
		case k.kick <- struct{}{}:
		default:
		}
	}
	return key, ok
}

// Key returns key n of a drm stream, for the key route; false when the
// stream has no drm or the key is not (or no longer) held.
func (s *Stream) Key(n int64) ([KeySize]byte, bool) {
	if s.keys == nil {
		return [KeySize]byte{}, false
	}
	k := s.keys
	k.mu.Lock()
	defer k.mu.Unlock()
	key, ok := k.keys[n]
	return key, ok
}

// DRM is the stream's drm directive; ok false without one.
func (s *Stream) DRM() (config.DRM, bool) {
	if s.keys == nil {
		return config.DRM{}, false
	}
	return s.keys.drm, true
}

// run fetches the keys of the current period and the next until stop:
// every second while one is missing (so a key server that comes back is
// used within a second), else shortly before the next period begins.
func (k *keyring) run(stop <-chan struct{}) {
	limit := logcap.NewLimiter(k.logf, time.Minute, 4)
	defer limit.Close()
	for {
		now := time.Now()
		cur := k.drm.KeyNumber(now)
		missing := false
		for _, n := range k.needed(cur) {
			if err := k.fetch(n); err != nil {
				missing = true
				k.c.add(KeyErrors, 1)
				limit.Logf("drm "+k.stream, "drm: stream "+k.stream+": key server failures",
					"drm: stream %s: key %d: %v", k.stream, n, err)
			}
		}
		wait := time.Second
		if !missing && k.drm.Expires > 0 {
			next := time.Unix(0, (cur+1)*int64(k.drm.Expires))
			wait = max(time.Second, time.Until(next)/2)
		} else if !missing {
			wait = time.Minute // one key for ever: check it is still held
		}
		t := time.NewTimer(wait)
		select {
		case <-stop:
			t.Stop()
			return
		case <-k.kick:
		case <-t.C:
		}
		t.Stop()
	}
}

// needed lists the periods whose keys the ring lacks: the current one, the
// next, and any the segmenter asked for.
func (k *keyring) needed(cur int64) []int64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []int64
	for _, n := range []int64{cur, cur + 1, k.want} {
		if k.drm.Expires <= 0 {
			n = 0
		} else if n < cur-1 {
			continue // a period long past (want starts at 0): no segment needs it
		}
		if _, ok := k.keys[n]; !ok && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// fetch asks the key server for key n: GET keyserver?file=STREAM&number=N,
// whose answer must be 200 with exactly 16 bytes.
func (k *keyring) fetch(n int64) error {
	u, err := url.Parse(k.drm.Keyserver)
	if err != nil {
		return err
	}
	q := u.Query()
	q.Set("file", k.stream)
	q.Set("number", strconv.FormatInt(n, 10))
	u.RawQuery = q.Encode()
	ctx, cancel := context.WithTimeout(context.Background(), keyTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", u.String(), nil)
	if err != nil {
		return err
	}
	resp, err := k.client.Do(req)
	if err != nil {
		return fmt.Errorf("no answer: %v", logcap.Text(err.Error(), 200))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, KeySize+1))
	switch {
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("the key server answered %s", resp.Status)
	case err != nil:
		return fmt.Errorf("reading the key: %v", err)
	case len(body) != KeySize:
		return fmt.Errorf("the key server answered %d bytes, not %d", min(len(body), KeySize+1), KeySize)
	}
	k.mu.Lock()
	k.keys[n] = [KeySize]byte(body)
	for old := range k.keys {
		if old < n-keysKept {
			delete(k.keys, old)
		}
	}
	k.mu.Unlock()
	return nil
}

// encrypt turns the finished segment seg, whose bytes are [0, seg.wr) of
// its chunks, into its AES-128-CBC ciphertext in place, padded (PKCS7) to
// whole blocks, the padding taking a new chunk when the last is full. It
// reports false when the segment's key is not held or no chunk could be
// had for the padding; the segment must then not be published.
func (g *segmenter) encrypt(seg *Segment) bool {
	k := g.s.keys
	n := k.drm.KeyNumber(seg.Start)
	key, ok := k.key(n)
	if !ok {
		return false
	}
	pad := aes.BlockSize - int(seg.wr%aes.BlockSize)
	var padding [aes.BlockSize]byte
	for i := range pad {
		padding[i] = byte(pad)
	}
	if !g.writeRaw(seg, padding[:pad]) {
		return false
	}
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return false
	}
	var iv [aes.BlockSize]byte
	binary.BigEndian.PutUint64(iv[8:], seg.MSN)
	cbc := cipher.NewCBCEncrypter(block, iv[:])
	for ci := int64(0); ci*ChunkSize < seg.wr; ci++ {
		buf := seg.refs[ci].c.buf[:min(ChunkSize, seg.wr-ci*ChunkSize)]
		cbc.CryptBlocks(buf, buf) // ChunkSize is whole blocks: none straddles chunks
	}
	seg.Key = n
	seg.Encrypted = true
	return true
}

// writeRaw appends b, which fits in what is left of a chunk or starts a
// new one, to seg; false when no chunk could be had.
func (g *segmenter) writeRaw(seg *Segment, b []byte) bool {
	off := seg.wr % ChunkSize
	ci := int(seg.wr / ChunkSize)
	if off == 0 {
		if ci == maxChunks {
			return false
		}
		c := g.chunk(seg)
		if c == nil {
			return false
		}
		seg.refs[ci] = chunkRef{c: c, gen: c.gen.Load()}
		seg.nref.Store(int32(ci + 1))
	}
	copy(seg.refs[ci].c.buf[off:], b)
	seg.wr += int64(len(b))
	return true
}
