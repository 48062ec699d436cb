# slabcast build, demo, tests. Multicast only ever flows inside private network
# namespaces: `make test` runs the suite under unshare --net (see
# internal/testnet), and the demo sends over loopback unicast.
GO      ?= go
BIN     := bin/slabcast
NETNS   := unshare --net -- sh -c 'ip link set lo up; ip link set lo multicast on; ip route add 224.0.0.0/4 dev lo; exec "$$@"' netns
# NETNS runs a command in a private namespace where lo carries multicast,
# for benchmarks and experiments: make netns CMD="go run ./bench/cmd/slabbench ingest".
FUZZTIME ?= 30s

.PHONY: build run test bench bench-deps fuzz vet clean deps netns install

build:
	$(GO) build -trimpath -o $(BIN) ./cmd/slabcast

# Install as a service: the binary, the hardened systemd unit, the sysctl
# drop-in, an example config (never over an existing one), the monitoring
# files, the nginx edge config (deploy/nginx, for the edge hosts) and the
# README; as root, a slabcast system user. DESTDIR stages it (the test
# installs into a temporary directory). Then: systemctl daemon-reload;
# sysctl --system; systemctl enable --now slabcast.
PREFIX  ?= /usr/local
install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/slabcast
	install -D -m 0644 deploy/slabcast.service $(DESTDIR)/etc/systemd/system/slabcast.service
	install -D -m 0644 deploy/sysctl/90-slabcast.conf $(DESTDIR)/etc/sysctl.d/90-slabcast.conf
	install -d -m 0750 $(DESTDIR)/etc/slabcast
	[ -e $(DESTDIR)/etc/slabcast/slabcast.conf ] || install -m 0640 deploy/slabcast.conf $(DESTDIR)/etc/slabcast/slabcast.conf
	install -D -m 0644 deploy/prometheus/slabcast-alerts.yml $(DESTDIR)$(PREFIX)/share/slabcast/prometheus/slabcast-alerts.yml
	install -D -m 0644 deploy/grafana/slabcast.json $(DESTDIR)$(PREFIX)/share/slabcast/grafana/slabcast.json
	install -D -m 0644 deploy/nginx/slabcast-edge.conf $(DESTDIR)$(PREFIX)/share/slabcast/nginx/slabcast-edge.conf
	install -D -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/slabcast/README.md
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then \
		getent passwd slabcast >/dev/null || useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin slabcast; \
		chown -R root:slabcast /etc/slabcast; chmod -R g+w /etc/slabcast; \
	fi

# The demo: the committed clip, looped by the built-in feeder over loopback
# UDP into a one-stream config; Ctrl-C stops both.
run: build
	@sh deploy/demo.sh $(BIN)

# Test tools are installed by deps when missing: ffmpeg/ffprobe (tests decode
# what slabcast serves with them, and publish over RTMP, SRT and HTTP),
# GStreamer's RTSP server (a camera for the RTSP pull tests), Chromium and
# hls.js (the browser tests);
# bench-deps adds nginx and wrk, which the benchmarks' own tests run too.
deps:
	@command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || { \
		echo "installing ffmpeg (tests decode what slabcast serves with it)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null; }
	@/usr/bin/python3 -c "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer; gi.require_version('Gst', '1.0'); from gi.repository import Gst; Gst.init(None); assert Gst.ElementFactory.find('x264enc')" 2>/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then echo "installing GStreamer's RTSP server (the RTSP pull tests' source)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-ugly >/dev/null; fi; }
	@if [ "$$(id -u)" = 0 ]; then bash .ci/browser-deps >/dev/null; fi

# Every package whose tests send multicast runs them in a private network
# namespace of its own (internal/testnet re-executes the test binary under
# unshare --net), so packages tested in parallel never hear each other's
# groups. Without root those tests skip, and fail under CI=true.
test: deps bench-deps vet
	@[ "$$(id -u)" = 0 ] || echo "not root: multicast tests will skip (they need a private network namespace)"
	$(GO) test -count=1 -timeout 18m ./...
	@# The read loop's tests need idle cores: they run alone, after the rest.
	SLABCAST_IDLE_CORES=1 $(GO) test -count=1 -run 'TestReadLoopKeepsUp|TestFloodedInputStarvesNone' -v ./pipeline/
	@# The race detector over the packages whose goroutines share memory
	@# (the slabs, timelines, connection tables).
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 5m ./pipeline/ ./hls/ ./httpts/ ./ctl/... ./nic/ ./rtmp/

# The benchmark suite (issue 5): each benchmark against its baseline, side by
# side, tables and plots in bench/results/. Then the micro-benchmarks beside
# the hot path.
bench: build deps bench-deps
	$(NETNS) $(GO) run ./bench/cmd/slabbench all
	$(GO) test -run '^$$' -bench . -benchmem ./ts/ ./pipeline/ ./nic/

# Baselines the suite compares against: nginx (delivery), wrk (load).
bench-deps:
	@if [ "$$(id -u)" = 0 ] && ! { command -v nginx >/dev/null && command -v wrk >/dev/null; }; then \
		echo "installing nginx and wrk (the delivery benchmark's baseline and load)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light wrk >/dev/null; fi

# Every fuzz target of the module, FUZZTIME each, found with go test -list
# so a new target is fuzzed without a line here. Seed corpora live in each
# package's testdata/fuzz/ and run with every go test.
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

vet:
	$(GO) vet ./...

netns:
	$(NETNS) $(CMD)

clean:
	rm -rf bin
