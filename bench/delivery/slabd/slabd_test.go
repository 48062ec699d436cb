package slabd

import (
	"os"
	"reflect"
	"testing"
	"time"
)

func TestParseMetrics(t *testing.T) {
	m := ParseMetrics([]byte("# HELP x y\nslabcast_input_bytes_total{stream=\"a b\"} 1316\nslabcast_mpegts_lagged_total 2\nbad line\n"))
	if m[`slabcast_input_bytes_total{stream="a b"}`] != 1316 || m["slabcast_mpegts_lagged_total"] != 2 || len(m) != 2 {
		t.Errorf("parsed %v", m)
	}
}

func TestStatTimes(t *testing.T) {
	u, s, err := StatTimes([]byte("42 (a b) c) S 1 42 42 0 -1 4194560 100 0 0 0 1234 56 0 0 20 0 1 0 100 0 0"))
	if err != nil || u != 1234 || s != 56 {
		t.Errorf("got %d %d %v, want 1234 56", u, s, err)
	}
	if _, _, err := StatTimes([]byte("42 (x) S 1")); err == nil {
		t.Error("a short line parsed")
	}
	if d, err := ProcCPU(os.Getpid()); err != nil || d < 0 || d > time.Hour {
		t.Errorf("ProcCPU(self) = %v, %v", d, err)
	}
}

func TestSegmentURIs(t *testing.T) {
	pl := "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.000,\n2026/11/26/08/06/37-02000.ts\n\n#EXTINF:2.000,\n/ch/x.ts\n"
	if got, want := SegmentURIs([]byte(pl)), []string{"2026/11/26/08/06/37-02000.ts", "/ch/x.ts"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
