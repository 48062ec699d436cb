package nginxedge

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The deployed edge config has each EDIT value once, and the rewrite puts
// the given values in their place.
func TestConfig(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", Path))
	if err != nil {
		t.Fatal(err)
	}
	out, err := Config(string(b), "127.0.0.1:9998", "127.0.0.1:9999", 18080, "/tmp/x")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"server 127.0.0.1:9998 max_fails", "server 127.0.0.1:9999 backup", "proxy_cache_path /tmp/x/cache ",
		"listen 127.0.0.1:18080;", "access_log /tmp/x/access.log slabcast_edge;"} {
		if !strings.Contains(out, want) {
			t.Errorf("rewritten config lacks %q", want)
		}
	}
	if _, err := Config(strings.ReplaceAll(string(b), "listen 80;", "listen 8080;"), "a:1", "b:1", 1, "/d"); err == nil {
		t.Error("a config without the listen EDIT value was rewritten")
	}
	if m := Main("/tmp/x", 2); !strings.Contains(m, "include /tmp/x/slabcast-edge.conf;") || !strings.Contains(m, "proxy_temp_path /tmp/x/tmp/proxy;") {
		t.Errorf("nginx.conf:\n%s", m)
	}
}

func TestParseLine(t *testing.T) {
	l, ok := ParseLine(`127.0.0.1 [06/Dec/2026:16:58:45 +0000] 1000.250 "GET /tv/index.m3u8?a=1 HTTP/1.1" 200 731 cache=REVALIDATED upstream=127.0.0.1:8080, 127.0.0.1:8081 upstream_status=502, 304 rt=0.001 urt=0.001`)
	if !ok || l.At.UnixMilli() != 1000250 || l.Method != "GET" || l.URI != "/tv/index.m3u8?a=1" || l.Status != 200 ||
		l.Cache != "REVALIDATED" || l.Upstream != "127.0.0.1:8080, 127.0.0.1:8081" || l.UpstreamStatus != "502, 304" {
		t.Errorf("%+v %v", l, ok)
	}
	if _, ok := ParseLine("not a line"); ok {
		t.Error("a line in no known format was read")
	}
}
