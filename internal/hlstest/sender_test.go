package hlstest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

func TestSenderURL(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		got, err := senderURL(in)
		if want == "" {
			if err == nil {
				t.Errorf("%q: accepted as %q", in, got)
			}
			return
		}
		if err != nil || got != want {
			t.Errorf("%q: %q, %v; want %q", in, got, err, want)
		}
	}
	f("udp://127.0.0.1:1234", "udp://127.0.0.1:1234?pkt_size=1316")
	f("udp://239.0.0.1:1234", "udp://239.0.0.1:1234?pkt_size=1316&ttl=1")
	f("udp://239.0.0.1:1234?ttl=2&pkt_size=188", "udp://239.0.0.1:1234?pkt_size=188&ttl=2")
	f("udp://[::1]:1234", "udp://[::1]:1234?pkt_size=1316")
	f("udp://localhost:1234", "")
	f("udp://127.0.0.1", "")
	f("rtp://127.0.0.1:1234", "")
	f("", "")
}

func TestSenderArgs(t *testing.T) {
	f := func(o SenderOptions, want ...string) {
		t.Helper()
		args, err := senderArgs(o)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			if !slices.Contains(args, w) {
				t.Errorf("%+v: %q not in %q", o, w, args)
			}
		}
	}
	u := "udp://127.0.0.1:5000"
	f(SenderOptions{URL: u}, "libx264", "aac", "testsrc2=size=640x360:rate=25", "-re", "-sc_threshold", "udp://127.0.0.1:5000?pkt_size=1316")
	f(SenderOptions{URL: u, Video: "hevc", FPS: 50, GOP: 100}, "libx265", "mp2", "keyint=100:min-keyint=100:scenecut=0:bframes=0:log-level=error")
	f(SenderOptions{URL: u, Video: "mpeg2", GOP: 12, BFrames: 2, Size: "320x240", Bitrate: "1M", Duration: 1500 * time.Millisecond}, "mpeg2video", "12", "testsrc2=size=320x240:rate=25", "1M", "1.5")
	if _, err := senderArgs(SenderOptions{URL: u, Video: "vp9"}); err == nil {
		t.Error("vp9 accepted")
	}
}

// receive reads datagrams on conn until want bytes arrived or d passed and
// checks each is whole TS packets.
func receive(t *testing.T, conn *net.UDPConn, want int, d time.Duration) []byte {
	t.Helper()
	var all []byte
	buf := make([]byte, 65536)
	deadline := time.Now().Add(d)
	for len(all) < want {
		if err := conn.SetReadDeadline(deadline); err != nil {
			t.Fatal(err)
		}
		n, _, err := conn.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("after %d bytes: %v", len(all), err)
		}
		if n == 0 || n%PacketSize != 0 {
			t.Fatalf("datagram of %d bytes", n)
		}
		for off := 0; off < n; off += PacketSize {
			if buf[off] != syncByte {
				t.Fatalf("datagram of %d bytes: packet at %d starts with %#x", n, off, buf[off])
			}
		}
		all = append(all, buf[:n]...)
	}
	return all
}

func listenUDP(t *testing.T) *net.UDPConn {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadBuffer(4 << 20)
	t.Cleanup(func() { conn.Close() })
	return conn
}

func TestSender(t *testing.T) {
	RequireFFmpeg(t)
	t.Parallel()
	for _, c := range []struct{ video, vcodec, acodec string }{
		{"h264", "h264", "aac"},
		{"hevc", "hevc", "mp2"},
		{"mpeg2", "mpeg2video", "mp2"},
	} {
		t.Run(c.video, func(t *testing.T) {
			t.Parallel()
			conn := listenUDP(t)
			url := fmt.Sprintf("udp://127.0.0.1:%d", conn.LocalAddr().(*net.UDPAddr).Port)
			s := StartSender(t, SenderOptions{URL: url, Video: c.video, Size: "320x180", Bitrate: "300k"})
			start := time.Now()
			data := receive(t, conn, 200*PacketSize, 10*time.Second)
			t.Logf("%d bytes in %v", len(data), time.Since(start))
			if n := ContinuityErrors(data); n != 0 {
				t.Errorf("%d continuity errors in what arrived", n)
			}

			path := filepath.Join(t.TempDir(), "got.ts")
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			streams, err := Probe(testContext(t, 20*time.Second), path)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, st := range streams {
				got = append(got, st.CodecName)
			}
			if !slices.Equal(got, []string{c.vcodec, c.acodec}) {
				t.Errorf("streams %q, want %s and %s", got, c.vcodec, c.acodec)
			}

			pid := s.PID()
			stopped := time.Now()
			s.Stop()
			if d := time.Since(stopped); d > 3*time.Second {
				t.Errorf("Stop took %v", d)
			}
			select {
			case <-s.Done():
			default:
				t.Fatal("Done not closed after Stop")
			}
			if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
				t.Errorf("ffmpeg %d still exists after Stop: kill(0) = %v", pid, err)
			}
			s.Stop() // idempotent
		})
	}
}

func TestSenderDuration(t *testing.T) {
	t.Parallel()
	conn := listenUDP(t)
	url := fmt.Sprintf("udp://127.0.0.1:%d", conn.LocalAddr().(*net.UDPAddr).Port)
	s := StartSender(t, SenderOptions{URL: url, Size: "160x90", Duration: time.Second})
	select {
	case <-s.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("a 1 s sender still runs after 10 s")
	}
	if err := s.Err(); err != nil {
		t.Errorf("exit: %v\n%s", err, s.Stderr())
	}
	receive(t, conn, 10*PacketSize, time.Second) // what it sent is queued
}
