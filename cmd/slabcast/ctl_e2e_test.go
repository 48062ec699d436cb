package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slabcast/slabcast/ctl"
	"github.com/slabcast/slabcast/internal/hlstest"
	"github.com/slabcast/slabcast/internal/testnet"
)

func sockDo(t *testing.T, d *testDaemon, req string) ctl.Response {
	t.Helper()
	c, err := net.Dial("unix", d.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintln(c, req)
	line, err := sockLine(c)
	if err != nil {
		t.Fatalf("%s: %v", req, err)
	}
	var r ctl.Response
	if err := json.Unmarshal(line, &r); err != nil {
		t.Fatalf("%s: answer %q: %v", req, line, err)
	}
	return r
}

func sockLine(c net.Conn) ([]byte, error) {
	var b []byte
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		b = append(b, buf[:n]...)
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			return b[:i], nil
		}
		if err != nil {
			return b, err
		}
	}
}

// Streams added, updated and removed through the control socket while
// another plays and is fetched; the file keeps its comments; a restart runs
// exactly what the socket left.
func TestControlSocketChangesPersist(t *testing.T) {
	testnet.Require(t)
	hlstest.RequireFFmpeg(t)
	d := startDaemon(t, `
# The lineup, kept by hand. slabcast must keep these comments.
stream keep { # the channel everyone watches
  input udp://239.2.1.1:5000;
  segment_duration 1;
}
# end of lineup
`)
	hlstest.StartSender(t, hlstest.SenderOptions{URL: "udp://239.2.1.1:5000"})
	hlstest.StartSender(t, hlstest.SenderOptions{URL: "udp://239.2.1.2:5000", Size: "320x180"})
	hlstest.StartSender(t, hlstest.SenderOptions{URL: "udp://239.2.1.3:5000", Size: "320x180"})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	keepURL := d.base + "/keep/index.m3u8"
	before, err := hlstest.Watch(ctx, keepURL, 500*time.Millisecond, 2)
	if err != nil {
		t.Fatal(err)
	}

	// While keep is fetched without pause, the lineup changes.
	stopFetch := make(chan struct{})
	fetchErr := make(chan error, 1)
	go func() {
		prev := before[len(before)-1]
		for {
			select {
			case <-stopFetch:
				fetchErr <- nil
				return
			case <-time.After(300 * time.Millisecond):
			}
			p, err := hlstest.FetchPlaylist(ctx, keepURL)
			if err == nil {
				err = hlstest.CheckProgression(prev, p)
			}
			if err == nil && hasDiscontinuity(p) {
				err = fmt.Errorf("keep was disturbed:\n%s", p.Raw)
			}
			if err != nil {
				fetchErr <- err
				return
			}
			prev = p
		}
	}()

	for _, req := range []string{
		`{"cmd":"add","name":"news","input":"udp://239.2.1.2:5000","segment_duration":1}`,
		`{"cmd":"add","name":"sport","type":"ondemand","input":"udp://239.2.1.3:5000","clients_timeout":30,"segment_duration":1}`,
		`{"cmd":"update","name":"news","input":"udp://239.2.1.2:5000","segment_duration":1,"segment_count":8}`,
	} {
		if r := sockDo(t, d, req); !r.OK {
			t.Fatalf("%s: %s", req, r.Error)
		}
	}
	if r := sockDo(t, d, `{"cmd":"add","name":"news","input":"udp://239.2.1.9:5000"}`); r.OK || !strings.Contains(r.Error, "exists") {
		t.Fatalf("adding an existing name: %+v", r)
	}
	if _, err := hlstest.Watch(ctx, d.base+"/news/index.m3u8", 500*time.Millisecond, 2); err != nil {
		t.Fatalf("added stream: %v", err)
	}
	if _, err := hlstest.FetchPlaylist(ctx, d.base+"/sport/index.m3u8"); err != nil {
		t.Fatalf("added ondemand stream: %v", err)
	}
	// The human client works too.
	var out bytes.Buffer
	if err := runCtlTo([]string{"--socket", d.sock, "remove", "sport"}, &out); err != nil {
		t.Fatalf("slabcast ctl remove: %v\n%s", err, out.String())
	}
	if resp, _, err := hlstest.Fetch(ctx, d.base+"/sport/index.m3u8"); err == nil {
		t.Fatalf("removed stream still served: %s", resp)
	}
	close(stopFetch)
	if err := <-fetchErr; err != nil {
		t.Fatal(err)
	}

	conf, err := os.ReadFile(d.conf)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# The lineup, kept by hand. slabcast must keep these comments.", "# the channel everyone watches", "# end of lineup", "stream news", "segment_count 8"} {
		if !bytes.Contains(conf, []byte(want)) {
			t.Errorf("config file lacks %q:\n%s", want, conf)
		}
	}
	if bytes.Contains(conf, []byte("sport")) {
		t.Errorf("removed stream still in the config file:\n%s", conf)
	}

	// A restart runs exactly what the socket left.
	d.restart()
	r := sockDo(t, d, `{"cmd":"list"}`)
	var names []string
	for _, s := range r.Streams {
		names = append(names, s.Name)
	}
	if strings.Join(names, ",") != "keep,news" {
		t.Fatalf("after a restart: %v", names)
	}
	if r := sockDo(t, d, `{"cmd":"show","name":"news"}`); !r.OK || r.Stream == nil || r.Stream.Settings["segment_count"] != "8" {
		t.Fatalf("news after a restart: %+v %s", r.Stream, r.Raw)
	}
	if _, err := hlstest.Watch(ctx, d.base+"/news/index.m3u8", 500*time.Millisecond, 2); err != nil {
		t.Fatalf("news after a restart: %v", err)
	}
}

// Fifty control clients at once, some misbehaving, while ingest runs: every
// well-behaved one is answered, and no datagram is lost.
func TestControlSocketUnderLoad(t *testing.T) {
	testnet.Require(t)
	hlstest.RequireFFmpeg(t)
	d := startDaemon(t, "stream ch { input udp://239.2.2.1:5000; segment_duration 1; }\n")
	hlstest.StartSender(t, hlstest.SenderOptions{URL: "udp://239.2.2.1:5000", Bitrate: "4M"})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := hlstest.Watch(ctx, d.base+"/ch/index.m3u8", 500*time.Millisecond, 2); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c, err := net.Dial("unix", d.sock)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(20 * time.Second))
			switch i % 5 {
			case 0: // connects and says nothing
				time.Sleep(2 * time.Second)
			case 1: // half a line, then stalls
				c.Write([]byte(`{"cmd":"li`))
				time.Sleep(2 * time.Second)
			case 2: // garbage
				fmt.Fprintln(c, "\x00\xff not json at all {{{")
				if line, err := sockLine(c); err != nil || !bytes.Contains(line, []byte(`"ok":false`)) {
					errs <- fmt.Errorf("garbage got %q, %v", line, err)
				}
			default: // well-behaved: several requests on one connection
				for _, req := range []string{`{"cmd":"list"}`, `{"cmd":"stats","name":"ch"}`, `{"cmd":"show","name":"ch"}`} {
					fmt.Fprintln(c, req)
					line, err := sockLine(c)
					if err != nil || !bytes.Contains(line, []byte(`"ok":true`)) {
						errs <- fmt.Errorf("%s got %q, %v", req, line, err)
						return
					}
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	time.Sleep(300 * time.Millisecond)
	r := sockDo(t, d, `{"cmd":"stats","name":"ch"}`)
	if !r.OK || len(r.Stats) != 1 {
		t.Fatalf("stats: %s", r.Raw)
	}
	st := r.Stats[0]
	if st.Counter("kernel_drops") != 0 || st.Counter("ts_lost") != 0 || st.Status != "running" || st.Counter("datagrams_in") == 0 || st.BitrateBps == 0 {
		t.Fatalf("ingest under control load: %s", r.Raw)
	}
}
