package httpts

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/slabcast/slabcast/ts"
)

func TestCheck(t *testing.T) {
	for u, ok := range map[string]bool{
		"tshttp://origin:8080/ch1/mpegts": true,
		"http://10.0.0.1/ch/mpegts":       true,
		"TSHTTP://origin/x":               true,
		"tshttp:///x":                     false,
		"tshttp://user:pw@origin/x":       false,
		"udp://239.0.0.1:1234":            false,
		"tshttp://[::1/x":                 false,
	} {
		if err := Check(u); (err == nil) != ok {
			t.Errorf("Check(%q) = %v, want ok %v", u, err, ok)
		}
	}
}

// A body served in odd-sized writes arrives as its packets; the end of the
// body, a 404 and a stall are told apart by reason.
func TestPull(t *testing.T) {
	clip, err := os.ReadFile("../testdata/h264_aac.ts")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ts":
			for b := clip; len(b) > 0; {
				n := min(len(b), 1000)
				w.Write(b[:n])
				b = b[n:]
			}
		case "/stall":
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	base := "tshttp://" + srv.Listener.Addr().String()
	var got []byte
	err = Pull(context.Background(), base+"/ts", time.Second, ts.NewFramer(7), func(run []byte) error {
		got = append(got, run...)
		return nil
	})
	var e *Error
	if !errors.As(err, &e) || e.Reason != "read" || len(got) != len(clip) {
		t.Fatalf("whole body: %v, %d of %d bytes", err, len(got), len(clip))
	}
	if err := Pull(context.Background(), base+"/nosuch", time.Second, ts.NewFramer(7), nil); !errors.As(err, &e) || e.Reason != "status" {
		t.Fatalf("404: %v", err)
	}
	began := time.Now()
	if err := Pull(context.Background(), base+"/stall", 200*time.Millisecond, ts.NewFramer(7), nil); !errors.As(err, &e) || e.Reason != "read" || time.Since(began) > 3*time.Second {
		t.Fatalf("stall: %v after %v", err, time.Since(began))
	}
}
