// Package nginxedge is deploy/nginx/slabcast-edge.conf as the test and the
// benchmark run it: the file as an operator installs it, only its EDIT
// values rewritten, inside an nginx.conf that puts pid, logs, temporary
// files and cache under one directory; and its access log (the
// slabcast_edge format) read back.
package nginxedge

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Path is the deployed edge config, relative to the repository root.
const Path = "deploy/nginx/slabcast-edge.conf"

// The EDIT values of the deployed config, each rewritten once.
const (
	editPrimary   = "192.0.2.10:8080"
	editBackup    = "192.0.2.11:8080"
	editCache     = "/var/cache/nginx/slabcast"
	editListen    = "listen 80;"
	editAccessLog = "/var/log/nginx/slabcast-edge.access.log"
)

// Config returns the edge config text with its EDIT values rewritten: the
// two origins, the listen address 127.0.0.1:port, the cache under
// dir/cache and the access log dir/access.log (AccessLog). Each EDIT value
// must occur exactly once.
func Config(text, primary, backup string, port int, dir string) (string, error) {
	for _, r := range [][2]string{
		{editPrimary, primary},
		{editBackup, backup},
		{editCache, filepath.Join(dir, "cache")},
		{editListen, fmt.Sprintf("listen 127.0.0.1:%d;", port)},
		{editAccessLog, AccessLog(dir)},
	} {
		if n := strings.Count(text, r[0]); n != 1 {
			return "", fmt.Errorf("nginxedge: the edge config holds %q %d times, want once (an EDIT value rewritten here)", r[0], n)
		}
		text = strings.Replace(text, r[0], r[1], 1)
	}
	return text, nil
}

// AccessLog is where Config puts the access log.
func AccessLog(dir string) string { return filepath.Join(dir, "access.log") }

// Main returns the nginx.conf around the edge config written to
// dir/slabcast-edge.conf (what Debian's /etc/nginx/nginx.conf is around
// conf.d/): worker processes, the error log dir/error.log and every
// temporary path under dir/tmp, which must exist.
func Main(dir string, workers int) string {
	var temps strings.Builder
	for _, k := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		fmt.Fprintf(&temps, "    %s_temp_path %s;\n", k, filepath.Join(dir, "tmp", k))
	}
	return fmt.Sprintf(`worker_processes %[1]d;
error_log %[2]s/error.log notice;
events { worker_connections 8192; }
http {
%[3]s    include %[2]s/slabcast-edge.conf;
}
`, workers, dir, temps.String())
}

// Line is one line of the edge's access log.
type Line struct {
	At             time.Time
	Method, URI    string
	Status         int
	Cache          string // $upstream_cache_status, "" or "-" when none
	Upstream       string // $upstream_addr: "-", "ADDR", or "ADDR, ADDR" when nginx moved on
	UpstreamStatus string // $upstream_status, likewise
}

var lineRE = regexp.MustCompile(`^\S+ \[[^\]]*\] (\d+\.\d+) "(\S+) (\S+) [^"]*" (\d+) \d+ cache=(\S*) upstream=(.*) upstream_status=(.*) rt=`)

// ParseLine reads one access-log line of the slabcast_edge format.
func ParseLine(s string) (Line, bool) {
	m := lineRE.FindStringSubmatch(s)
	if m == nil {
		return Line{}, false
	}
	sec, _ := strconv.ParseFloat(m[1], 64)
	code, _ := strconv.Atoi(m[4])
	return Line{At: time.UnixMicro(int64(sec * 1e6)), Method: m[2], URI: m[3], Status: code,
		Cache: m[5], Upstream: m[6], UpstreamStatus: m[7]}, true
}
