#!/bin/sh
# The `make run` demo: slabcast serving the committed clip, fed over loopback
# UDP by `slabcast feed --loop`. Unicast on 127.0.0.1, so nothing leaves the
# machine and no multicast is sent in this namespace.
set -eu
BIN=${1:-bin/slabcast}
PORT=${PORT:-8080}
UDP=${UDP:-5000}
dir=$(mktemp -d)
trap 'kill $FEED $DAEMON 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT INT TERM
cat >"$dir/demo.conf" <<CONF
http 127.0.0.1:$PORT;
ctl $dir/ctl.sock;
memory 64M;
edit_auth admin demo;    # the console and the HTTP API: demo credentials
stream demo {
  input udp://127.0.0.1:$UDP;
  segment_duration 2;
  segment_count 6;
}
CONF
"$BIN" run -c "$dir/demo.conf" &
DAEMON=$!
sleep 0.5
"$BIN" feed --loop testdata/h264_aac.ts "udp://127.0.0.1:$UDP" &
FEED=$!
cat <<MSG

  slabcast demo is running (config: $dir/demo.conf)

  HLS playlist:   http://127.0.0.1:$PORT/demo/index.m3u8
  HTTP MPEG-TS:   http://127.0.0.1:$PORT/demo/mpegts
  Metrics:        http://127.0.0.1:$PORT/metrics
  Console:        http://127.0.0.1:$PORT/admin/   (user admin, password demo)
  HTTP API:       curl -u admin:demo http://127.0.0.1:$PORT/streamer/api/v3/streams

  Watch it:       ffplay http://127.0.0.1:$PORT/demo/index.m3u8
  The first segment is ready about 2 s after start. Ctrl-C stops.

MSG
wait $DAEMON
