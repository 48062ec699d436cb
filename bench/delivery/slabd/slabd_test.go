package slabd

import (
	"reflect"
	"testing"
)

func TestParseMetrics(t *testing.T) {
	m := ParseMetrics([]byte("# HELP x y\nslabcast_input_bytes_total{stream=\"a b\"} 1316\nslabcast_mpegts_lagged_total 2\nbad line\n"))
	if m[`slabcast_input_bytes_total{stream="a b"}`] != 1316 || m["slabcast_mpegts_lagged_total"] != 2 || len(m) != 2 {
		t.Errorf("parsed %v", m)
	}
}

func TestSegmentURIs(t *testing.T) {
	pl := "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.000,\n2026/11/26/08/06/37-02000.ts\n\n#EXTINF:2.000,\n/ch/x.ts\n"
	if got, want := SegmentURIs([]byte(pl)), []string{"2026/11/26/08/06/37-02000.ts", "/ch/x.ts"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
