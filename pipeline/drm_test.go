package pipeline

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slabcast/slabcast/config"
	"github.com/slabcast/slabcast/ts"
)

func drmStream(t testing.TB, pool *Pool, drm string) *Stream {
	t.Helper()
	cfg := config.Stream{Name: "t", SegmentDuration: time.Second, SegmentCount: 6, SourceTimeout: 10 * time.Second,
		Inputs: []config.Input{{URL: "udp://239.0.0.1:1234"}}, DRM: drm}
	return newStream(cfg, pool, t.Logf)
}

func testKey(n int64) [KeySize]byte {
	var k [KeySize]byte
	binary.BigEndian.PutUint64(k[:8], uint64(n)*0x9e3779b97f4a7c15)
	k[15] = byte(n)
	return k
}

// decrypt undoes a segment's encryption: AES-128-CBC, IV its MSN, PKCS7.
func decrypt(t testing.TB, seg *Segment, key [KeySize]byte) []byte {
	t.Helper()
	data := make([]byte, seg.Size())
	if _, err := seg.CopyAt(data, 0); err != nil {
		t.Fatal(err)
	}
	if len(data)%aes.BlockSize != 0 {
		t.Fatalf("segment %d: %d bytes, not whole blocks", seg.MSN, len(data))
	}
	block, _ := aes.NewCipher(key[:])
	var iv [aes.BlockSize]byte
	binary.BigEndian.PutUint64(iv[8:], seg.MSN)
	cipher.NewCBCDecrypter(block, iv[:]).CryptBlocks(data, data)
	pad := int(data[len(data)-1])
	if pad < 1 || pad > aes.BlockSize {
		t.Fatalf("segment %d: padding %d", seg.MSN, pad)
	}
	for _, b := range data[len(data)-pad:] {
		if int(b) != pad {
			t.Fatalf("segment %d: bad PKCS7 padding", seg.MSN)
		}
	}
	return data[:len(data)-pad]
}

// A drm stream publishes only ciphertext: every segment decrypts, with the
// key of its period and its MSN as IV, to whole TS packets starting with
// PAT; the bytes as stored are not TS. Without the key nothing is
// published and the segments are counted as withheld.
func TestDRMSegmentsEncrypted(t *testing.T) {
	pool := testPool(t, 64<<20)
	s := drmStream(t, pool, "aes128 keyserver=http://127.0.0.1:1/ expires=1")
	clip := readClip(t, "h264_aac.ts")
	// No key yet: segments are cut, none is published.
	now := feed(s, clip, epoch, 10*time.Second)
	if tl := s.Timeline(); tl != nil && len(tl.Segments) > 0 {
		t.Fatalf("%d segments published without a key", len(tl.Segments))
	}
	if n := s.c.n[Withheld].Load(); n == 0 {
		t.Fatal("no segment counted as withheld")
	}
	// With the keys of every period, every segment is published encrypted.
	s.keys.mu.Lock()
	for n := s.keys.drm.KeyNumber(epoch) - 1; n < s.keys.drm.KeyNumber(epoch)+5; n++ {
		s.keys.keys[n] = testKey(n)
	}
	s.keys.mu.Unlock()
	for i := 0; i < 6; i++ { // a minute: the key changes
		now = feed(s, clip, now, 10*time.Second)
	}
	tl := s.Timeline()
	if tl == nil || len(tl.Segments) < 10 {
		t.Fatalf("segments after the keys came: %v", tl)
	}
	periods := map[int64]bool{}
	for _, seg := range tl.Segments {
		if !seg.Encrypted || seg.Key != s.keys.drm.KeyNumber(seg.Start) {
			t.Fatalf("segment %d: encrypted %v, key %d for a start at %v", seg.MSN, seg.Encrypted, seg.Key, seg.Start)
		}
		periods[seg.Key] = true
		raw := make([]byte, 2*ts.PacketSize)
		seg.CopyAt(raw, 0)
		if raw[0] == ts.SyncByte && raw[ts.PacketSize] == ts.SyncByte {
			t.Fatalf("segment %d is stored as TS", seg.MSN)
		}
		plain := decrypt(t, seg, testKey(seg.Key))
		if len(plain)%ts.PacketSize != 0 || ts.PID(plain) != ts.PATPID {
			t.Fatalf("segment %d decrypts to %d bytes starting with PID %d", seg.MSN, len(plain), ts.PID(plain))
		}
		for i := 0; i < len(plain); i += ts.PacketSize {
			if plain[i] != ts.SyncByte {
				t.Fatalf("segment %d: no sync byte at %d after decryption", seg.MSN, i)
			}
		}
	}
	if len(periods) < 2 {
		t.Errorf("one-minute keys over 10 s of segments from %v: periods %v, want a rotation", now, periods)
	}
}

// The key fetcher asks the key server for ?file=STREAM&number=N and takes
// only a 200 with exactly 16 bytes; failures are counted and retried.
func TestKeyringFetch(t *testing.T) {
	var mode atomic.Int32 // 0: good, 1: 500, 2: 8 bytes
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.ParseInt(r.URL.Query().Get("number"), 10, 64)
		if r.URL.Path != "/cas" || r.URL.Query().Get("file") != "news" || err != nil {
			http.Error(w, "bad request", 400)
			return
		}
		switch mode.Load() {
		case 1:
			http.Error(w, "down", 500)
		case 2:
			w.Write(make([]byte, 8))
		default:
			k := testKey(n)
			w.Write(k[:])
		}
	}))
	defer srv.Close()
	d, err := config.ParseDRM("aes128 keyserver=" + srv.URL + "/cas?tenant=a expires=10")
	if err != nil {
		t.Fatal(err)
	}
	var c counters
	k := newKeyring(d, "news", &c, t.Logf)
	for _, m := range []int32{1, 2} {
		mode.Store(m)
		if err := k.fetch(7); err == nil {
			t.Errorf("mode %d: a key was taken", m)
		}
	}
	if _, ok := k.key(7); ok {
		t.Fatal("a bad answer left a key")
	}
	mode.Store(0)
	if err := k.fetch(7); err != nil {
		t.Fatal(err)
	}
	if key, ok := k.key(7); !ok || key != testKey(7) {
		t.Errorf("key 7: %x %v", key, ok)
	}
	// The fetcher keeps the current and the next period's keys.
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { k.run(stop); close(done) }()
	cur := d.KeyNumber(time.Now())
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, a := k.key(cur)
		_, b := k.key(cur + 1)
		if a && b {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the fetcher did not get the current and next keys")
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	<-done
}
