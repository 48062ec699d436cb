package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/slabcast/slabcast/config"
	"github.com/slabcast/slabcast/ctl"
)

// The hand-written encoder writes what encoding/json would, escapes
// included.
func TestEncodeMatchesEncodingJSON(t *testing.T) {
	o := object{
		{"s", "plain"}, {"esc", "a\"b\\c<d>&e\n\x01é\u2028"}, {"b", true}, {"i", -3}, {"i64", int64(1 << 40)}, {"u", uint64(1 << 63)},
		{"u16", uint16(256)}, {"f", 0.25}, {"raw", json.RawMessage(`2.5`)}, {"nil", nil}, {"m", map[string]uint64{"z": 1, "a": 2}},
		{"t", time.Unix(1800000000, 0).UTC()}, {"ints", []int{1, 2}},
		{"objs", []object{{{"k", "v"}}, {}}}, {"obj", object{{"n", object{}}}},
	}
	got, err := o.appendJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	var viaStd bytes.Buffer
	if err := json.Compact(&viaStd, must(json.Marshal(o))); err != nil {
		t.Fatal(err)
	}
	var a, b any
	if err := json.Unmarshal(got, &a); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, got)
	}
	json.Unmarshal(viaStd.Bytes(), &b)
	if fmt.Sprint(a) != fmt.Sprint(b) || !strings.Contains(string(got), `\u003cd\u003e\u0026e`) {
		t.Errorf("got\n%s\nencoding/json\n%s", got, viaStd.Bytes())
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// A list answer is served again for a second to the same query and
// access, and a change through the API is seen at once.
func TestListCached(t *testing.T) {
	h, f := fixture(t)
	now := time.Unix(1_800_000_000, 0)
	h.now = func() time.Time { return now }
	first := do(h, "GET", base+"/streams?select=name,stats", viewAuth, "").body
	x := f.stats["alpha"]
	x.BitrateBps = 1
	f.stats["alpha"] = x
	if again := do(h, "GET", base+"/streams?select=name,stats", viewAuth, "").body; !bytes.Equal(again, first) {
		t.Error("a second ask within a second was rendered again")
	}
	if other := do(h, "GET", base+"/streams?select=name,stats", editAuth, "").body; bytes.Equal(other, first) {
		t.Error("edit_auth got view_auth's cached answer")
	}
	now = now.Add(time.Second)
	if later := do(h, "GET", base+"/streams?select=name,stats", viewAuth, "").body; bytes.Equal(later, first) {
		t.Error("the answer outlived its second")
	}
	do(h, "PUT", base+"/streams/fresh", editAuth, `{"inputs":[{"url":"udp://239.9.0.1:1"}]}`)
	if m := do(h, "GET", base+"/streams?select=name,stats", viewAuth, "").json(t); len(m["streams"].([]any)) != 6 {
		t.Errorf("a created stream is not listed at once: %v", names(t, m))
	}
	do(h, "DELETE", base+"/streams/fresh", editAuth, "")
	if m := do(h, "GET", base+"/streams?select=name,stats", viewAuth, "").json(t); len(m["streams"].([]any)) != 5 {
		t.Errorf("a deleted stream is still listed: %v", names(t, m))
	}
}

// BenchmarkListAnswer is one uncached answer of the stream list with
// stats, 40 running streams: what a console's poll costs the daemon.
func BenchmarkListAnswer(b *testing.B) {
	var src strings.Builder
	src.WriteString("edit_auth admin s3cret;\n")
	for i := range 40 {
		fmt.Fprintf(&src, "stream ch%d { input udp://239.10.0.%d:20000; }\n", i, i+1)
	}
	f := newFake(b, src.String())
	for i := range 40 {
		name := fmt.Sprintf("ch%d", i)
		f.stats[name] = ctl.StreamStats{
			StreamStatus:  ctl.StreamStatus{Name: name, Status: ctl.StatusRunning, ActiveInput: fmt.Sprintf("udp://239.10.0.%d:20000", i+1)},
			UptimeSeconds: 100, BitrateBps: 4_000_000, LastData: time.Now(),
			Counters: []ctl.Count{{Name: "bytes_in", N: 1 << 30}, {Name: "packets_in", N: 1 << 22}},
			TSErrors: map[string]uint64{"Continuity_count_error": 0, "PAT_error_2": 0, "PCR_repetition_error": 0, "PTS_error": 0},
			PIDs:     []ctl.PIDStats{{PID: 256, Codec: "h264", Width: 1280, Height: 720}, {PID: 257, Codec: "aac"}},
		}
	}
	h := New(f, config.Options{}, nil)
	b.ReportAllocs()
	for b.Loop() {
		h.lists.clear()
		if a := do(h, "GET", base+"/streams", editAuth, ""); a.code != 200 {
			b.Fatal(a.code)
		}
	}
}
