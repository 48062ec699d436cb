package daemon

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/slabcast/slabcast/config"
)

func TestParseMetrics(t *testing.T) {
	m, err := ParseMetrics([]byte("# HELP x y\n# TYPE x counter\n" +
		`slabcast_input_datagrams_total{stream="ch0"} 10` + "\n" +
		`slabcast_input_datagrams_total{stream="ch1"} 32` + "\n" +
		`slabcast_ts_errors_total{stream="ch0",indicator="PAT_error_2"} 3` + "\n" +
		`slabcast_input_bytes_total{stream="a b"} 1316` + "\n" +
		"slabcast_pool_bytes 1.6777216e+07\ngo_memstats_mallocs_total 123\n"))
	if err != nil {
		t.Fatal(err)
	}
	f := func(got, want float64) {
		t.Helper()
		if got != want {
			t.Errorf("got %v, want %v", got, want)
		}
	}
	f(m.Sum("slabcast_input_datagrams_total"), 42)
	f(m.Stream("slabcast_input_datagrams_total", "ch1", ""), 32)
	f(m.Stream("slabcast_ts_errors_total", "ch0", `indicator="PAT_error_2"`), 3)
	f(m[`slabcast_input_bytes_total{stream="a b"}`], 1316) // a label value with a space
	f(m.Sum("slabcast_pool_bytes"), 16<<20)
	f(m.Sum("go_memstats_mallocs_total"), 123)
	f(m.Sum("slabcast_input"), 0) // a prefix of a name is not the name
	if n := len(m.Streams("slabcast_input_datagrams_total")); n != 2 {
		t.Errorf("%d streams, want 2", n)
	}
	if _, err := ParseMetrics([]byte("x{a=\"b\"} notanumber\n")); err == nil {
		t.Error("ParseMetrics accepted a bad value")
	}
}

func TestSegmentURIs(t *testing.T) {
	pl := "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.000,\n2026/11/26/08/06/37-02000.ts\n\n#EXTINF:2.000,\n/ch/x.ts\n"
	if got, want := SegmentURIs([]byte(pl)), []string{"2026/11/26/08/06/37-02000.ts", "/ch/x.ts"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestConfigLoads checks that slabcast accepts the config the harness
// writes, with the values asked for.
func TestConfigLoads(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "slabcast.conf")
	o := Options{Dir: dir, CPUs: "1", SegmentDuration: 500 * time.Millisecond, SegmentCount: 6,
		Streams: []Stream{{Name: "s0", Input: "udp://239.9.9.20:5000"}, {Name: "s1", Input: "udp://239.9.9.21:5000",
			Lines: []string{"drm aes128 keyserver=http://127.0.0.1:1/cas;"}}}}
	text := o.Config("127.0.0.1:8123")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, config.Options{})
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	if len(cfg.Streams) != 2 || len(cfg.CPUs) != 1 || cfg.CPUs[0] != 1 {
		t.Fatalf("config %+v", cfg)
	}
	if s := cfg.Streams[1]; s.Name != "s1" || s.SegmentDuration != 500*time.Millisecond || s.Inputs[0].URL != "udp://239.9.9.21:5000" ||
		s.DRM != "aes128 keyserver=http://127.0.0.1:1/cas" || cfg.Streams[0].DRM != "" {
		t.Errorf("stream %+v", s)
	}
}
