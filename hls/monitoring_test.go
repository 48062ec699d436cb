package hls

import (
	"context"
	"strings"
	"testing"
	"time"
)

// Liveness answers while the server runs; readiness only once a stream
// that runs all the time has a segment, and not while shutting down.
func TestMonitoring(t *testing.T) {
	f := newFixture(t, time.Second, 6, nil)
	if resp, body := get(t, f.base+"/monitoring/liveness"); resp.StatusCode != 200 || !strings.Contains(string(body), `"ok"`) {
		t.Errorf("liveness: %d %s", resp.StatusCode, body)
	}
	if resp, body := get(t, f.base+"/monitoring/readiness"); resp.StatusCode != 503 || !strings.Contains(string(body), `"no_stream_serving"`) {
		t.Errorf("readiness with no segment yet: %d %s", resp.StatusCode, body)
	}
	f.send(t)
	f.waitSegments(t, 2)
	if resp, body := get(t, f.base+"/monitoring/readiness"); resp.StatusCode != 200 || string(body) != `{"status":"ready","streams":1,"serving":1}`+"\n" {
		t.Errorf("readiness with a stream serving: %d %s", resp.StatusCode, body)
	}
	f.srv.closing.Store(true) // as Shutdown sets it before it drains
	if resp, body := get(t, f.base+"/monitoring/readiness"); resp.StatusCode != 503 || !strings.Contains(string(body), "shutting_down") {
		t.Errorf("readiness while shutting down: %d %s", resp.StatusCode, body)
	}
	f.srv.Shutdown(context.Background())
}
