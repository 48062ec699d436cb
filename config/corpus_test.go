package config

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"
)

// The corpus: configs written the way operators' Flussonic configs are
// (installer default, Ansible template, several listeners, a DVB MPTS
// headend, failover, every kind of source, protected streams, Flussonic's
// Kubernetes layout with include and flussonic.conf.d/). Each loads; what it
// asks that slabcast does not do is a warning, and a stream slabcast cannot
// run as asked is configured but not started, with the reason.

// want is what a corpus stream should load as: "run", "disabled", or the
// start of its Problem.
type corpusStream struct{ name, want string }

func TestCorpus(t *testing.T) {
	f := func(file, http string, streams []corpusStream, warnings int, someWarnings ...string) {
		t.Helper()
		c, err := Load("testdata/flussonic/"+file, Options{})
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if got := httpText(c); got != http {
			t.Errorf("%s: http %q, want %q", file, got, http)
		}
		var got []corpusStream
		for _, s := range c.Streams {
			st := corpusStream{s.Name, "run"}
			switch {
			case s.Problem != "":
				st.want = s.Problem
			case s.Disabled:
				st.want = "disabled"
			}
			got = append(got, st)
		}
		if len(got) != len(streams) {
			t.Fatalf("%s: streams %q, want %q", file, got, streams)
		}
		for i, w := range streams {
			if got[i].name != w.name || !strings.HasPrefix(got[i].want, w.want) {
				t.Errorf("%s: stream %q is %q, want %q…", file, got[i].name, got[i].want, w.want)
			}
		}
		if len(c.Warnings) != warnings {
			t.Errorf("%s: %d warnings, want %d:\n%s", file, len(c.Warnings), warnings, strings.Join(c.Warnings, "\n"))
		}
		for _, w := range someWarnings {
			if !slices.Contains(c.Warnings, "testdata/flussonic/"+w) {
				t.Errorf("%s: no warning %q in:\n%s", file, w, strings.Join(c.Warnings, "\n"))
			}
		}
		checkRoundTrips(t, c)
	}
	f("installer.conf", ":80", []corpusStream{{"example_stream", "no input slabcast can read yet: fake://fake"}}, 4,
		`installer.conf:12:9: input "fake://fake": fake:// is not supported by slabcast yet; input skipped`)
	f("ansible.conf", ":80 :8080{api=false}", []corpusStream{{"ch001", "run"}, {"ch002", "run"}, {"ch003", "disabled"}}, 7,
		"ansible.conf:19:3: directive hls is not supported by slabcast; ignored")
	f("listeners.conf", ":80 :8080 127.0.0.1:8081{api=false}",
		[]corpusStream{{"lobby", "run"}, {"spare", "disabled"}, {"back", "run"}}, 5,
		"listeners.conf:8:1: directive https is not supported by slabcast; ignored")
	f("mpts.conf", ":8080", []corpusStream{{"news/hd", "run"}, {"news/sd", "run"}, {"special/1ifs", "run"}}, 1)
	f("failover.conf", ":8080", []corpusStream{{"tnt", "run"}, {"cam/lobby", "run"}, {"always", "run"}}, 5,
		"failover.conf:5:42: input: option frames_timeout is not supported by slabcast; ignored",
		"failover.conf:6:42: input: option backup is not supported by slabcast; ignored")
	f("mixed.conf", ":8080", []corpusStream{{"sport", "run"},
		{"foreign", "run"},                     // hls:// and srt:// (with its streamid option) are read
		{"ipcam", "run"}, {"radio", "run"}}, 3, // chunk_duration 200 is read: the LL-HLS part, in ms
		"mixed.conf:4:45: input: option user_agent is not supported by slabcast; ignored", // tshttp:// is read, its options judged
		"mixed.conf:16:31: input: option user_agent is not supported by slabcast; ignored")
	f("protected.conf", ":8080", []corpusStream{
		{"paid", "protected by on_play (testdata/flussonic/protected.conf:8:3), which slabcast does not enforce yet"},
		{"scrambled", "run"}, {"local", "protected by http_allowed_from"}, // drm aes128 is enforced
		{"region", "protected by allowed_countries (testdata/flussonic/protected.conf:23:3) and domains"},
		{"hlsonly", "protected by protocols"}, {"open", "run"}}, 6,
		"protected.conf:2:1: directive auth_backend is not supported by slabcast; ignored", // a definition protects nothing
		`protected.conf:8:3: directive on_play is not supported by slabcast: stream "paid" is not started rather than served to anyone`)
	f("global_on_play.conf", ":8080", []corpusStream{{"one", "run"}, {"two", "run"}}, 0) // on_play http:// is enforced
	f("k8s/flussonic.conf", ":80", []corpusStream{{"news", "run"}, {"sport", "run"}, {"weather", "run"}}, 1,
		"k8s/flussonic.conf.d/cluster.conf:1:1: directive cluster_key is not supported by slabcast; ignored")
}

// checkRoundTrips checks, for every stream of a loaded config, that the
// writer's form of it reads back the same, and that rewriting it in its
// file unchanged (as an update through the control socket that carries
// only what slabcast acts on would) keeps what it ignores.
func checkRoundTrips(t *testing.T, c *Config) {
	t.Helper()
	for _, s := range c.Streams {
		text := FormatStream(s)
		one, err := Parse("fmt.conf", text, Options{})
		if err != nil || len(one.Streams) != 1 || !one.Streams[0].Equal(s) {
			t.Fatalf("stream %s: FormatStream gives\n%s\nwhich reads back %+v, %v", s.Name, text, one, err)
		}
		if s.Problem != one.Streams[0].Problem && !strings.HasPrefix(s.Problem, "protected by") {
			t.Errorf("stream %s: problem %q reads back %q", s.Name, s.Problem, one.Streams[0].Problem)
		}
		src, err := os.ReadFile(s.File)
		if err != nil {
			t.Fatal(err)
		}
		bare := s
		bare.Extra = nil
		bare.Inputs = slices.Clone(s.Inputs)
		for i := range bare.Inputs {
			bare.Inputs[i].Extra = ""
		}
		out, err := SetStream(s.File, src, bare)
		if err != nil {
			t.Fatalf("stream %s: SetStream: %v", s.Name, err)
		}
		again, err := Parse(s.File, out, Options{noInclude: true})
		if err != nil {
			t.Fatalf("stream %s: rewritten file: %v\n%s", s.Name, err, out)
		}
		got, _ := again.Stream(s.Name)
		if !got.Equal(s) || (got.Problem == "") != (s.Problem == "") {
			t.Errorf("stream %s rewritten:\n%s\nreads %+v, want %+v", s.Name, out[got.Span.Start:got.Span.End], got, s)
		}
		if bytes.Equal(out, src) {
			continue
		}
		before := src[:s.Span.Start]
		if !bytes.HasPrefix(out, before) {
			t.Errorf("stream %s: rewriting it changed the file before it", s.Name)
		}
	}
}

// rtmp and srt lines are publish listeners, as Flussonic's are; none
// unless written.
func TestPublishListeners(t *testing.T) {
	c, err := Load("testdata/flussonic/listeners.conf", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := Lookup(Global, "rtmp").GlobalText(c); got != ":1935" {
		t.Errorf("rtmp %q, want :1935", got)
	}
	if got := Lookup(Global, "srt").GlobalText(c); got != ":9998" {
		t.Errorf("srt %q, want :9998", got)
	}
	c, err = Parse("t.conf", []byte("rtmp 127.0.0.1:1935;\nrtmp 1936;\nstream a udp://239.0.0.1:1234;"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.RTMP) != 2 || c.RTMP[0].Addr != "127.0.0.1:1935" || c.RTMP[1].Addr != ":1936" || len(c.SRT) != 0 {
		t.Errorf("rtmp %v, srt %v", c.RTMP, c.SRT)
	}
	if _, err := Parse("t.conf", []byte("srt 70000;"), Options{}); err == nil {
		t.Error("srt 70000 accepted")
	}
	if c, err = Parse("t.conf", []byte("# nothing"), Options{}); err != nil {
		t.Fatal(err)
	}
	if len(c.RTMP) != 0 || len(c.SRT) != 0 {
		t.Errorf("defaults: rtmp %v, srt %v, want none", c.RTMP, c.SRT)
	}
}
