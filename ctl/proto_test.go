package ctl

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/slabcast/slabcast/config"
)

func TestParseRequest(t *testing.T) {
	ok := func(line string, want Request) {
		t.Helper()
		got, err := ParseRequest([]byte(line))
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		if string(g) != string(w) {
			t.Fatalf("%s:\n got %s\nwant %s", line, g, w)
		}
	}
	bad := func(line, wantErr string) {
		t.Helper()
		_, err := ParseRequest([]byte(line))
		if err == nil || !strings.Contains(err.Error(), wantErr) || !strings.HasPrefix(err.Error(), "ctl: ") {
			t.Fatalf("%s: error %v, want one containing %q", line, err, wantErr)
		}
	}
	ok(`{"cmd":"list"}`, Request{Cmd: "list"})
	ok(` {"cmd":"show", "name":"a"} `, Request{Cmd: "show", StreamJSON: StreamJSON{Name: "a"}})
	ok(`{"cmd":"stats"}`, Request{Cmd: "stats"})
	ok(`{"name":"x","cmd":"add","input":"udp://239.0.0.1:1234","type":"ondemand","clients_timeout":2.5}`,
		Request{Cmd: "add", StreamJSON: StreamJSON{Name: "x", Type: "ondemand", Input: "udp://239.0.0.1:1234", Settings: map[string]string{"clients_timeout": "2.5"}}})
	ok(`{"cmd":"update","name":"x","inputs":[{"url":"udp://a:1","priority":1,"source_timeout":5,"program":2,"rcvbuf":65536}]}`,
		Request{Cmd: "update", StreamJSON: StreamJSON{Name: "x", Inputs: []InputJSON{{URL: "udp://a:1", Settings: map[string]string{"priority": "1", "source_timeout": "5", "program": "2", "rcvbuf": "65536"}}}}})

	bad(`{"cmd":"frobnicate"}`, `unknown command "frobnicate" (commands: list, show, add, update, remove, stats, reload)`)
	bad(`{"cmd":"list"`, "malformed JSON")
	bad(`{"cmd":"list"} {"cmd":"list"}`, "malformed JSON")
	bad(`not json`, "malformed JSON")
	bad(``, "malformed JSON")
	bad(`null`, "not a JSON object")
	bad(`["list"]`, "not a JSON object")
	bad(`"list"`, "not a JSON object")
	bad(`{}`, `no "cmd"`)
	bad(`{"cmd":1}`, `"cmd" is not a string`)
	bad(`{"CMD":"list"}`, `no "cmd"`)
	bad(`{"cmd":"list","Cmd":"show"}`, `unknown key "Cmd"`)
	bad(`{"cmd":"add","name":"x","input":"udp://a:1","colour":"red"}`, `unknown key "colour" in add (known: name, type`)
	bad(`{"cmd":"list","name":"x"}`, `list takes no "name"`)
	bad(`{"cmd":"remove","name":"x","input":"udp://a:1"}`, `remove takes no "input" (it takes name)`)
	bad(`{"cmd":"add","name":"x","inputs":[{"url":"udp://a:1","colour":1}]}`, `unknown key "colour" in inputs[0]`)
	bad(`{"cmd":"add","name":"x","inputs":[{"url":"udp://a:1","cmd":"x"}]}`, `unknown key "cmd" in inputs[0]`)
	bad(`{"cmd":"add","name":"x","inputs":[{"url":"udp://a:1","name":"x"}]}`, `inputs[0] takes no "name"`)
	bad(`{"cmd":"add","name":"x","inputs":"udp://a:1"}`, `"inputs" is not a list of objects`)
	bad(`{"cmd":"add","name":"x","inputs":[1]}`, `"inputs" is not a list of objects`)
	bad(`{"cmd":"add","name":"x","inputs":[null]}`, `inputs[0] is not an object`)
	bad(`{"cmd":"show","name":5}`, `"name": expected a string, found a JSON number`)
	bad(`{"cmd":"add","name":"x","segment_count":true}`, `"segment_count": expected a number, found a JSON bool`)
	bad(`{"cmd":"add","name":"x","segment_count":"abc"}`, `bad request`)
}

func TestStreamFromRequest(t *testing.T) {
	parse := func(line string, opt config.Options) (config.Stream, error) {
		t.Helper()
		req, err := ParseRequest([]byte(line))
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		return StreamFromRequest(req, opt)
	}
	// f compares with the stream the config file text gives.
	f := func(line, conf string) {
		t.Helper()
		got, err := parse(line, config.Options{})
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		cfg, err := config.Parse("want.conf", []byte(conf), config.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if !got.Equal(cfg.Streams[0]) || got.Line != 0 || got.Col != 0 || got.Span != (config.Span{}) {
			t.Fatalf("%s:\n got %+v\nwant %+v", line, got, cfg.Streams[0])
		}
	}
	bad := func(line, wantErr string) {
		t.Helper()
		_, err := parse(line, config.Options{})
		if err == nil || err.Error() != wantErr {
			t.Fatalf("%s:\n got error %v\nwant %s", line, err, wantErr)
		}
	}
	f(`{"cmd":"add","name":"a","input":"udp://239.0.0.1:1234"}`, `stream a udp://239.0.0.1:1234;`)
	f(`{"cmd":"add","name":"a","input":"udp://239.0.0.1:1234","type":"static"}`, `stream a udp://239.0.0.1:1234;`)
	f(`{"cmd":"add","name":"Cam-1.b_2","input":"udp://239.0.0.2:1234","type":"ondemand","clients_timeout":0}`,
		`ondemand Cam-1.b_2 { input udp://239.0.0.2:1234; clients_timeout 0; }`)
	f(`{"cmd":"add","name":"a","inputs":[{"url":"udp://239.0.0.1:1234","priority":1,"source_timeout":2.5},{"url":"rtp://239.0.0.9:5000","program":3,"rcvbuf":1048576}],
		"segment_duration":0.5,"segment_count":10,"source_timeout":3,"clients_timeout":1e1}`,
		`stream a { input udp://239.0.0.1:1234 priority=1 source_timeout=2.5; input rtp://239.0.0.9:5000 program=3 rcvbuf=1M;
		 segment_duration 0.5; segment_count 10; source_timeout 3; clients_timeout 10; }`)
	f(`{"cmd":"add","name":"a","input":"udp://a:1","segment_duration":25E-1,"segment_count":"7"}`,
		`stream a { input udp://a:1; segment_duration 2.5; segment_count 7; }`)

	bad(`{"cmd":"add","input":"udp://a:1"}`, `ctl: stream name is empty`)
	bad(`{"cmd":"add","name":"a b","input":"udp://a:1"}`, `ctl: stream name "a b" has characters other than letters, digits, '.', '-', '_' and '/'`)
	bad(`{"cmd":"add","name":"a;}\nstream b","input":"udp://a:1"}`, `ctl: stream name "a;}\nstream b" has characters other than letters, digits, '.', '-', '_' and '/'`)
	bad(`{"cmd":"add","name":"caf\u00e9","input":"udp://a:1"}`, `ctl: stream name "café" has characters other than letters, digits, '.', '-', '_' and '/'`)
	bad(`{"cmd":"add","name":"..","input":"udp://a:1"}`, `ctl: stream name ".." is not allowed`)
	bad(`{"cmd":"add","name":"`+strings.Repeat("a", config.MaxNameLen+1)+`","input":"udp://a:1"}`,
		`ctl: stream name "`+strings.Repeat("a", 64)+`"… is longer than 64 characters`)
	bad(`{"cmd":"add","name":"a","type":"push","input":"udp://a:1"}`, `ctl: type "push" is not static, ondemand or live`)
	bad(`{"cmd":"add","name":"a"}`, `ctl: stream "a" has no input`)
	bad(`{"cmd":"add","name":"a","inputs":[]}`, `ctl: stream "a" has no input`)
	bad(`{"cmd":"add","name":"a","input":"udp://a:1","inputs":[{"url":"udp://b:1"}]}`, `ctl: give input or inputs, not both`)
	bad(`{"cmd":"add","name":"a","inputs":[{"url":""}]}`, `ctl: input URL is empty`)
	bad(`{"cmd":"add","name":"a","input":"udp://a:1; stream b udp://b:2"}`, `ctl: input "udp://a:1; stream b udp://b:2": URL has a space, control or non-ASCII character at byte 10`)
	bad(`{"cmd":"add","name":"a","input":"udp://a:1\n}"}`, `ctl: input "udp://a:1\n}": URL has a space, control or non-ASCII character at byte 9`)
	bad(`{"cmd":"add","name":"a","input":"webrtc://a:1"}`, `ctl: input "webrtc://a:1": webrtc:// is not supported by slabcast yet (it reads udp://, rtp://, udp2://, mpts-udp://, tshttp://, http://, hls://, publish://, rtsp://, srt://, rtmp://)`)
	bad(`{"cmd":"add","name":"a","input":"udp://239.0.0.1"}`, `ctl: input "udp://239.0.0.1": config: missing port`)
	bad(`{"cmd":"add","name":"a","inputs":[{"url":"udp://a:1"},{"url":"udp://a:1"}]}`, `ctl: input "udp://a:1" is listed twice`)
	bad(`{"cmd":"add","name":"a","input":"udp://a:1","segment_duration":0.1}`, `ctl: segment_duration: "0.1" is out of range 0.5..60 seconds`)
	bad(`{"cmd":"add","name":"a","input":"udp://a:1","segment_duration":-2}`, `ctl: segment_duration: "-2" is not a number of seconds`)
	bad(`{"cmd":"add","name":"a","input":"udp://a:1","segment_count":2}`, `ctl: segment_count: "2" is out of range 3..100`)
	bad(`{"cmd":"add","name":"a","input":"udp://a:1","segment_count":6.5}`, `ctl: segment_count: "6.5" is not a whole number`)
	bad(`{"cmd":"add","name":"a","input":"udp://a:1","clients_timeout":1e999}`, `ctl: clients_timeout: "1e999" is out of range`)
	bad(`{"cmd":"add","name":"a","input":"udp://a:1","source_timeout":100000}`, `ctl: source_timeout: "100000" is out of range 0.5..3600 seconds`)
	bad(`{"cmd":"add","name":"a","inputs":[{"url":"udp://a:1","priority":1001}]}`, `ctl: input: priority "1001" is not a whole number 0..1000`)
	bad(`{"cmd":"add","name":"a","inputs":[{"url":"udp://a:1","program":0}]}`, `ctl: input: program "0" is not a program_number 1..65535`)
	bad(`{"cmd":"add","name":"a","inputs":[{"url":"udp://a:1","rcvbuf":100}]}`, `ctl: input: rcvbuf "100" is not a size from 4K to 1G`)
	bad(`{"cmd":"add","name":"a","inputs":[{"url":"udp://a:1","source_timeout":0}]}`, `ctl: input: source_timeout: "0" is out of range 0.5..3600 seconds`)

	// The daemon's input check applies, and its error is wrapped.
	errNoIface := errors.New("nic: no such interface")
	opt := config.Options{CheckInput: func(u string) error {
		if strings.Contains(u, "@") {
			return errNoIface
		}
		return nil
	}}
	_, err := parse(`{"cmd":"add","name":"a","input":"udp://eth9@239.0.0.1:1"}`, opt)
	if !errors.Is(err, errNoIface) || err.Error() != `ctl: input "udp://eth9@239.0.0.1:1": nic: no such interface` {
		t.Fatalf("CheckInput error: %v", err)
	}
	// Quotes and backslashes in a URL reach the checker as they were sent.
	var seen string
	opt = config.Options{CheckInput: func(u string) error { seen = u; return nil }}
	s, err := parse(`{"cmd":"add","name":"a","input":"udp://h:1/\"x\\\"y\\"}`, opt)
	if want := `udp://h:1/"x\"y\`; err != nil || seen != want || s.Inputs[0].URL != want {
		t.Fatalf("quoted URL: %v, checker saw %q, stream has %+v", err, seen, s.Inputs)
	}
}

// A stream the config gives, turned into JSON and back, is the same stream.
func TestStreamJSONRoundTrip(t *testing.T) {
	cfg, err := config.Parse("t.conf", []byte(`
stream a udp://239.0.0.1:1234;
ondemand b { input udp://239.0.0.2:1234; clients_timeout 0; segment_duration 1.000000001; }
stream c {
  input udp://239.0.0.3:1234 priority=2 source_timeout=0.75 program=7 rcvbuf=8M;
  input rtp://239.0.0.4:5000 priority=1;
  source_timeout 3600; segment_count 100; segment_duration 60;
}`), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range cfg.Streams {
		j := StreamToJSON(s)
		line, err := json.Marshal(Request{Cmd: CmdUpdate, StreamJSON: j})
		if err != nil {
			t.Fatal(err)
		}
		req, err := ParseRequest(line)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		got, err := StreamFromRequest(req, config.Options{})
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if !got.Equal(s) {
			t.Fatalf("%s:\n got %+v\nwant %+v", line, got, s)
		}
	}
	j, _ := json.Marshal(StreamToJSON(cfg.Streams[2]))
	want := `{"name":"c","type":"static","inputs":[{"url":"udp://239.0.0.3:1234","priority":2,"source_timeout":0.75,"program":7,"rcvbuf":8388608},{"url":"rtp://239.0.0.4:5000","priority":1}],"segment_duration":60,"segment_count":100,"chunk_duration":200,"source_timeout":3600,"clients_timeout":20,"disabled":false}`
	if string(j) != want {
		t.Fatalf("StreamToJSON:\n got %s\nwant %s", j, want)
	}
}

// FuzzRequest feeds arbitrary lines to the request decoder, the stream
// validator and the server's answer: none panics, every answer is one JSON
// line with "ok", and every stream accepted is valid and survives a round
// trip through its JSON.
func FuzzRequest(f *testing.F) {
	srv := NewServer(newFakeBackend(), config.Options{}, nil)
	f.Fuzz(func(t *testing.T, line []byte) {
		ans := srv.handle(line)
		var r Response
		if len(ans) == 0 || ans[len(ans)-1] != '\n' || json.Unmarshal(ans, &r) != nil {
			t.Fatalf("answer %q is not a JSON line", ans)
		}
		if !r.OK && !strings.HasPrefix(r.Error, "ctl: ") && !strings.HasPrefix(r.Error, "fake: ") {
			t.Fatalf("error answer %q", ans)
		}
		req, err := ParseRequest(line)
		if err != nil {
			if r.OK {
				t.Fatalf("ParseRequest refused %q (%v) but the server answered %s", line, err, ans)
			}
			return
		}
		if req.Cmd != CmdAdd && req.Cmd != CmdUpdate {
			return
		}
		s, err := StreamFromRequest(req, config.Options{})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "ctl: ") {
				t.Fatalf("error %q", err)
			}
			return
		}
		checkStream(t, s)
		back, err := StreamFromRequest(Request{Cmd: CmdUpdate, StreamJSON: StreamToJSON(s)}, config.Options{})
		if err != nil || !back.Equal(s) {
			t.Fatalf("round trip of %+v: %+v, %v", s, back, err)
		}
	})
}

func checkStream(t *testing.T, s config.Stream) {
	t.Helper()
	if CheckName(s.Name) != nil || len(s.Name) == 0 || len(s.Name) > config.MaxNameLen ||
		strings.Trim(s.Name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_/") != "" {
		t.Fatalf("invalid stream name %q", s.Name)
	}
	if len(s.Inputs) == 0 {
		t.Fatalf("stream %q has no input", s.Name)
	}
	if s.SegmentDuration < config.MinSegmentDuration || s.SegmentDuration > config.MaxSegmentDuration ||
		s.SegmentCount < config.MinSegmentCount || s.SegmentCount > config.MaxSegmentCount ||
		s.SourceTimeout != config.Never && (s.SourceTimeout < config.MinSourceTimeout || s.SourceTimeout > config.MaxSourceTimeout) ||
		s.ClientsTimeout != config.Never && (s.ClientsTimeout < 0 || s.ClientsTimeout > config.MaxClientsTimeout) {
		t.Fatalf("stream %+v out of range", s)
	}
	seen := map[string]bool{}
	for _, in := range s.Inputs {
		if seen[in.URL] || in.SourceTimeout != config.Never && (in.SourceTimeout < config.MinSourceTimeout || in.SourceTimeout > config.MaxSourceTimeout) ||
			in.Priority < 0 || in.Priority > config.MaxPriority || in.Program < 0 || in.Program > 65535 ||
			in.RecvBuffer != 0 && (in.RecvBuffer < 4096 || in.RecvBuffer > 1<<30) ||
			!validURL(in.URL) || checkURLText(in.URL) != nil {
			t.Fatalf("stream %q input %+v invalid", s.Name, in)
		}
		seen[in.URL] = true
	}
}

// validURL reports whether the config parser's default check takes u.
func validURL(u string) bool {
	_, err := config.Parse("u.conf", []byte("stream x "+configQuote(u)+";"), config.Options{})
	return err == nil
}
