package config

import (
	"strings"
	"testing"
	"time"
)

func TestDRMDirective(t *testing.T) {
	src := "on_play http://auth.local/play;\nstream a {\n  input udp://239.0.0.1:1234;\n  drm aes128   keyserver=http://cas:5000/cas-server expires=10 hls_ext_x_key_iv=on;\n  on_play http://auth.local/a;\n}\n"
	c, err := Parse("a.conf", []byte(src), Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := c.Streams[0]
	d, ok := s.DRMSpec()
	if !ok || d.Keyserver != "http://cas:5000/cas-server" || d.Expires != 10*time.Minute || !d.ExplicitIV || d.UserKeyserver != "" {
		t.Errorf("drm %+v %v", d, ok)
	}
	if s.OnPlay != "http://auth.local/a" || c.OnPlay != "http://auth.local/play" || c.OnPlayBackendDown != "deny" || s.Problem != "" {
		t.Errorf("on_play %q, global %q, down %q, problem %q", s.OnPlay, c.OnPlay, c.OnPlayBackendDown, s.Problem)
	}
	// Written back in canonical form, Flussonic's words unquoted.
	out := string(FormatStream(s))
	if !strings.Contains(out, "  drm aes128 keyserver=http://cas:5000/cas-server expires=10 hls_ext_x_key_iv=on;\n") {
		t.Errorf("written:\n%s", out)
	}
	c2, err := Parse("b.conf", []byte(out), Options{})
	if err != nil || !c2.Streams[0].Equal(s) {
		t.Errorf("round trip: %v\n%s", err, out)
	}
	if n := d.KeyNumber(time.Unix(1200, 0)); n != 2 {
		t.Errorf("key number at 1200 s with 10 min keys: %d", n)
	}
	if n := (DRM{}).KeyNumber(time.Now()); n != 0 {
		t.Errorf("key number without expires: %d", n)
	}

	// What slabcast does not enforce keeps the stream from starting.
	for _, v := range []string{"drm widevine keyserver=http://x/", "drm aes128 expires=10", "drm aes128 keyserver=ftp://x/", "drm aes128 keyserver=http://x/ colour=red", "on_play auth://tokens"} {
		c, err := Parse("a.conf", []byte("stream a {\n  input udp://239.0.0.1:1234;\n  "+v+";\n}\n"), Options{})
		if err != nil {
			t.Errorf("%s: %v", v, err)
			continue
		}
		if s := c.Streams[0]; s.Problem == "" || s.DRM != "" || s.OnPlay != "" {
			t.Errorf("%s: problem %q, drm %q, on_play %q", v, s.Problem, s.DRM, s.OnPlay)
		}
	}
	for _, v := range []string{"expires=0", "expires=x", "hls_ext_x_key_iv=maybe", "keyserver=http://y/", "expires"} {
		if _, err := ParseDRM("aes128 keyserver=http://x/ " + v); err == nil {
			t.Errorf("%s: no error", v)
		}
	}
	if _, err := Parse("a.conf", []byte("on_play_backend_down maybe;"), Options{}); err == nil {
		t.Error("on_play_backend_down maybe: no error")
	}
}
