package srt

import (
	"strings"
	"testing"
)

func TestParseStreamID(t *testing.T) {
	for _, c := range []struct {
		sid  string
		want StreamID
	}{
		{"publish:studio", StreamID{"publish", "studio", ""}},
		{"publish/studio", StreamID{"publish", "studio", ""}},
		{"publish:news/hd?password=x", StreamID{"publish", "news/hd", "x"}},
		{"publish:studio?token=t", StreamID{"publish", "studio", "t"}},
		{"play:studio", StreamID{"request", "studio", ""}},
		{"read:studio", StreamID{"request", "studio", ""}},
		{"studio", StreamID{"publish", "studio", ""}},
		{"#!::r=studio,m=publish", StreamID{"publish", "studio", ""}},
		{"#!::m=publish,r=event,password=s3cret", StreamID{"publish", "event", "s3cret"}},
		{"#!::r=studio", StreamID{"request", "studio", ""}},
		{"#!::u=admin,r=studio,m=publish,token=t", StreamID{"publish", "studio", "t"}},
		{"", StreamID{"publish", "", ""}},
	} {
		if got := ParseStreamID(c.sid); got != c.want {
			t.Errorf("%q: %+v, want %+v", c.sid, got, c.want)
		}
	}
}

// Whatever id a caller sends, parsing it gives a mode and a name that
// come from the id, and does not panic.
func FuzzParseStreamID(f *testing.F) {
	for _, s := range []string{"publish:studio", "#!::r=a,m=publish,password=x", "a?password=%zz", "#!::", ":/?=,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id := ParseStreamID(s)
		decoded := strings.ContainsAny(s, "%+") // a query's escapes
		if !strings.Contains(s, id.Name) || !decoded && !strings.Contains(s, id.Password) {
			t.Fatalf("%q gave %+v", s, id)
		}
	})
}

func TestCheck(t *testing.T) {
	for _, ok := range []string{"srt://127.0.0.1:9000", "srt://0.0.0.0:9000?mode=listener&streamid=srtin",
		"srt://h:9000?mode=caller&streamid=%23!::r=a,m=request&latency=200", "srt://:9000?mode=listener"} {
		if err := Check(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"srt://h", "srt://h:9000?mode=rendezvous", "srt://:9000", "udp://h:9000",
		"srt://h:9000?passphrase=short"} {
		if err := Check(bad); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}
