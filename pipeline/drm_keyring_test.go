package pipeline

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/slabcast/slabcast/config"
)

// The key fetcher of a stream with expires asks the key server for the
// current period's key and the next one's (and any a closing segment
// needed), never for a period long past: a key server may well refuse
// numbers that are not near now, and each refusal is counted, logged and
// retried every second.
func TestKeyringAsksOnlyNeededPeriods(t *testing.T) {
	var mu sync.Mutex
	var asked []int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.ParseInt(r.URL.Query().Get("number"), 10, 64)
		if err != nil {
			http.Error(w, "bad request", 400)
			return
		}
		mu.Lock()
		asked = append(asked, n)
		mu.Unlock()
		k := testKey(n)
		w.Write(k[:])
	}))
	defer srv.Close()
	d, err := config.ParseDRM("aes128 keyserver=" + srv.URL + "/cas expires=1")
	if err != nil {
		t.Fatal(err)
	}
	var c counters
	k := newKeyring(d, "news", &c, t.Logf)
	stop := make(chan struct{})
	done := make(chan struct{})
	first := d.KeyNumber(time.Now())
	go func() { k.run(stop); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		// Not k.key: a miss there is a segment asking, which the fetcher
		// heeds.
		k.mu.Lock()
		_, a := k.keys[first]
		_, b := k.keys[first+1]
		k.mu.Unlock()
		if a && b || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // a request still under way
	close(stop)
	<-done
	last := d.KeyNumber(time.Now())
	mu.Lock()
	defer mu.Unlock()
	for _, n := range asked {
		if n < first || n > last+1 {
			t.Errorf("the key server was asked for key %d; the periods were %d…%d (asked %v)", n, first, last+1, asked)
		}
	}
	if !slices.Contains(asked, first) || !slices.Contains(asked, first+1) {
		t.Errorf("asked %v, want %d and %d", asked, first, first+1)
	}
}
