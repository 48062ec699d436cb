package api

import (
	"encoding/json"
	"testing"
)

// FuzzPut sends any body to PUT /streams/NAME: the answer is always 200
// with a stream or a 4xx in Flussonic's error shape, never a panic, and a
// refused body changes nothing.
func FuzzPut(f *testing.F) {
	for _, s := range []string{
		`{"inputs":[{"url":"udp://239.1.1.1:5000","priority":2}],"static":false,"segment_duration":3000}`,
		`{"segment_count":null}`, `{"$reset":true,"inputs":[{"url":"publish://"}]}`,
		`{"inputs":[{"url":"udp://239.1.1.1:5000","source_timeout":false}],"clients_timeout":1e3}`,
		`{"inputs":[{}]}`, `{"inputs":[null]}`, `[]`, `"x"`, `{"a":`, `{"name":"news","stats":{"bitrate":1}}`,
	} {
		f.Add("news", s)
		f.Add("alpha", s)
	}
	f.Fuzz(func(t *testing.T, name, body string) {
		h, fb := fixture(t)
		before := fb.changes
		a := do(h, "PUT", base+"/streams/"+name, editAuth, body)
		switch {
		case a.code == 200:
			var m map[string]any
			if err := json.Unmarshal(a.body, &m); err != nil || m["name"] == nil {
				t.Fatalf("200 without a stream: %s", a.body)
			}
		case a.code >= 400 && a.code < 500:
			var e struct{ Errors []map[string]any }
			if err := json.Unmarshal(a.body, &e); err != nil || len(e.Errors) != 1 {
				t.Fatalf("%d without an error: %s", a.code, a.body)
			}
			if fb.changes != before {
				t.Fatalf("refused (%d) but changed: %s", a.code, a.body)
			}
		default:
			t.Fatalf("status %d: %s", a.code, a.body)
		}
	})
}
