package main

// Issue 3's promise: every datagram accounted for. These tests inject known
// faults into live multicast and check that each counter equals what was
// injected, with the eBPF filter and with the classic fallback.

import (
	"bufio"
	"context"
	be "encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/slabcast/slabcast/feed"
	"github.com/slabcast/slabcast/internal/hlstest"
	"github.com/slabcast/slabcast/internal/testnet"
	"github.com/slabcast/slabcast/ts"
)

// faults describes what a faultWriter does to a paced stream, by datagram
// index.
type faults struct {
	notTS     map[int]bool // send a text datagram before this one
	badSync   map[int]bool // send a copy with a broken sync byte before this one
	dropVideo map[int]bool // leave out this datagram's first video packet
	badPATCRC map[int]bool // corrupt the CRC of the PAT in this datagram
	pause     map[int]bool // hold this datagram back 150 ms (a PCR gap)
	rtp       bool         // wrap datagrams in RTP
	rtpDrop   map[int]bool // never send this RTP packet
	rtpSwap   map[int]bool // send this one after the next
}

// faultWriter sits between the PCR-paced feeder and the socket.
type faultWriter struct {
	conn    net.Conn
	f       faults
	i       int
	seq     uint16
	held    []byte // an RTP packet waiting for its successor (rtpSwap)
	injects struct{ notTS, badSync, drops, badPAT, pauses, rtpDrops, rtpSwaps int }
}

func (w *faultWriter) Write(d []byte) (int, error) {
	i := w.i
	w.i++
	d = append([]byte(nil), d...)
	if w.f.pause[i] {
		time.Sleep(150 * time.Millisecond)
		w.injects.pauses++
	}
	if w.f.notTS[i] {
		w.conn.Write([]byte("this is not a transport stream"))
		w.injects.notTS++
	}
	if w.f.badSync[i] && len(d) >= 3*ts.PacketSize {
		bad := append([]byte(nil), d...)
		bad[2*ts.PacketSize] = 0x00
		w.conn.Write(bad)
		w.injects.badSync++
	}
	if w.f.badPATCRC[i] {
		for off := 0; off+ts.PacketSize <= len(d); off += ts.PacketSize {
			p := d[off : off+ts.PacketSize]
			if ts.PID(p) == ts.PATPID && ts.PUSI(p) {
				pl := ts.Payload(p)
				sec := pl[1+int(pl[0]):]
				n := 3 + int(sec[1]&0x0F)<<8 | int(sec[2])
				sec[n-1] ^= 0xFF // the CRC's last byte
				w.injects.badPAT++
				break
			}
		}
	}
	if w.f.dropVideo[i] {
		for off := 0; off+ts.PacketSize <= len(d); off += ts.PacketSize {
			if ts.PID(d[off:]) == 0x100 {
				d = append(d[:off], d[off+ts.PacketSize:]...)
				w.injects.drops++
				break
			}
		}
	}
	if !w.f.rtp {
		_, err := w.conn.Write(d)
		return len(d), err
	}
	pkt := make([]byte, 12, 12+len(d))
	pkt[0], pkt[1] = 0x80, 33
	be.BigEndian.PutUint16(pkt[2:], w.seq)
	be.BigEndian.PutUint32(pkt[4:], uint32(i)*3600)
	be.BigEndian.PutUint32(pkt[8:], 0x51ab)
	pkt = append(pkt, d...)
	w.seq++
	switch {
	case w.f.rtpDrop[i]:
		w.injects.rtpDrops++
	case w.f.rtpSwap[i]:
		w.held = pkt
		w.injects.rtpSwaps++
	default:
		w.conn.Write(pkt)
		if w.held != nil {
			w.conn.Write(w.held)
			w.held = nil
		}
	}
	return len(d), nil
}

// sendClip paces the demo clip once through fw.
func sendClip(t *testing.T, fw *faultWriter) {
	t.Helper()
	data, err := os.ReadFile("../../testdata/h264_aac.ts")
	if err != nil {
		t.Fatal(err)
	}
	clip, err := feed.NewClip(data)
	if err != nil {
		t.Fatal(err)
	}
	if err := feed.Send(context.Background(), fw, feed.NewLooper(clip, false)); err != nil {
		t.Fatal(err)
	}
}

// minClipSegments is the fewest finished 1 s segments the 10 s clip makes
// when nothing stalls: a multicast input measures the media clock for its
// first second (pipeline/mediaclock.go, anchorSpan), the first segment
// starts at the next keyframe (1 s apart) and the last stays open, so 7 or
// 8 depending on where the first keyframe falls against that second. A
// stall at the first fault (datagram 100 of 750 in TestWireFaults, the
// first loss at 400 in TestRTPInput: 1.3 and 5.3 s in) would leave 4 or
// fewer.
const minClipSegments = 7

func set(idx ...int) map[int]bool {
	m := map[int]bool{}
	for _, i := range idx {
		m[i] = true
	}
	return m
}

// withoutBPF runs the daemon with CAP_BPF (and the capabilities that imply
// it) dropped, so the classic filter takes over.
var withoutBPF = []string{"setpriv", "--inh-caps=-bpf,-sys_admin,-perfmon", "--bounding-set=-bpf,-sys_admin,-perfmon", "--"}

func requireSetpriv(t *testing.T) {
	if _, err := exec.LookPath("setpriv"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("setpriv (util-linux) is needed to test the classic filter")
		}
		t.Skip("setpriv not found: cannot drop CAP_BPF")
	}
}

func TestWireFaults(t *testing.T) {
	testnet.Require(t)
	hlstest.RequireFFmpeg(t)
	for _, mode := range []string{"ebpf", "classic"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			var wrapper []string
			group := "239.1.6.1:5000"
			if mode == "classic" {
				requireSetpriv(t)
				wrapper, group = withoutBPF, "239.1.6.2:5000"
			}
			d := startDaemonUnder(t, wrapper, fmt.Sprintf("stream ch { input udp://%s; segment_duration 1; }\n", group))
			waitLog(t, d, "input filter: "+mode)
			conn, err := net.Dial("udp", group)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			fw := &faultWriter{conn: conn, f: faults{
				notTS:     set(100, 110, 120, 130, 140, 150, 160, 170, 180, 190, 200, 210),
				badSync:   set(105, 205, 305, 405, 505),
				dropVideo: set(300, 320, 340, 360, 380, 400, 420),
				pause:     set(600, 650),
			}}
			// Make sure the PAT corruption lands on a datagram with a PAT.
			fw.f.badPATCRC = set(patDatagrams(t)[20])
			sendClip(t, fw)
			if fw.injects.badPAT != 1 {
				t.Fatalf("injected %d bad PAT CRCs", fw.injects.badPAT)
			}
			want := map[string]int{
				`slabcast_input_filtered_total{stream="ch",reason="bad_size"}`:                        fw.injects.notTS,
				`slabcast_input_filtered_total{stream="ch",reason="bad_sync"}`:                        fw.injects.badSync,
				`slabcast_input_filtered_total{stream="ch",reason="bad_rtp"}`:                         0,
				`slabcast_input_ts_lost_total{stream="ch"}`:                                           fw.injects.drops,
				`slabcast_ts_errors_total{stream="ch",indicator="Continuity_count_error"}`:            fw.injects.drops,
				`slabcast_ts_errors_total{stream="ch",indicator="CRC_error"}`:                         1,
				`slabcast_ts_errors_total{stream="ch",indicator="PCR_repetition_error"}`:              fw.injects.pauses,
				`slabcast_ts_errors_total{stream="ch",indicator="Sync_byte_error"}`:                   0,
				`slabcast_ts_errors_total{stream="ch",indicator="TS_sync_loss"}`:                      0,
				`slabcast_ts_errors_total{stream="ch",indicator="Transport_error"}`:                   0,
				`slabcast_ts_errors_total{stream="ch",indicator="PCR_discontinuity_indicator_error"}`: 0,
				`slabcast_ts_errors_total{stream="ch",indicator="PCR_accuracy_error"}`:                0,
				`slabcast_ts_errors_total{stream="ch",indicator="PID_error"}`:                         0,
				`slabcast_input_kernel_drops_total{stream="ch"}`:                                      0,
				`slabcast_input_bad_datagrams_total{stream="ch"}`:                                     0,
			}
			if fw.injects.notTS != 12 || fw.injects.badSync != 5 || fw.injects.drops != 7 || fw.injects.pauses != 2 {
				t.Fatalf("injection went wrong: %+v", fw.injects)
			}
			time.Sleep(300 * time.Millisecond) // counters are published ten times a second
			for series, n := range want {
				if v := d.metric(series); v != float64(n) {
					t.Errorf("%s = %v, injected %d", series, v, n)
				}
			}
			if v := d.metric(`slabcast_segments_total{stream="ch"}`); v < minClipSegments {
				t.Errorf("segments_total = %v: the faults stalled the stream", v)
			}
		})
	}
}

// patDatagrams lists the indices of the clip's 7-packet datagrams that hold
// a PAT.
func patDatagrams(t *testing.T) []int {
	data, err := os.ReadFile("../../testdata/h264_aac.ts")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for i := 0; i*ts.PacketSize < len(data); i++ {
		if ts.PID(data[i*ts.PacketSize:]) == ts.PATPID {
			if d := i / 7; len(out) == 0 || out[len(out)-1] != d {
				out = append(out, d)
			}
		}
	}
	return out
}

// An RTP input with reordered and missing packets plays, with the gaps
// counted exactly.
func TestRTPInput(t *testing.T) {
	testnet.Require(t)
	hlstest.RequireFFmpeg(t)
	d := startDaemon(t, "stream r { input rtp://239.1.8.1:5000; segment_duration 1; }\n")
	conn, err := net.Dial("udp", "239.1.8.1:5000")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fw := &faultWriter{conn: conn, f: faults{
		rtp: true,
		// Swaps come first and are repaired, so the first seconds play
		// clean; then losses, which no receiver can repair.
		rtpSwap: set(50, 100, 150, 200, 202),
		notTS:   set(120, 250), // not RTP either
		rtpDrop: set(400, 500, 501, 600),
	}}
	done := make(chan struct{})
	go func() { defer close(done); sendClip(t, fw) }()
	pl := d.base + "/r/index.m3u8"
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	lists, err := hlstest.Watch(ctx, pl, 500*time.Millisecond, 3)
	if err != nil {
		t.Fatal(err)
	}
	// The reordered stretch (the first ~3 s) plays clean: decoded with
	// ffmpeg -xerror, no continuity errors, PAT and keyframe first.
	checkSegments(t, pl, lists[len(lists)-1])
	<-done
	time.Sleep(300 * time.Millisecond)
	if v := d.metric(`slabcast_segments_total{stream="r"}`); v < minClipSegments {
		t.Errorf("segments_total = %v: losses stalled the stream", v)
	}
	want := map[string]int{
		`slabcast_input_rtp_lost_total{stream="r"}`:                           4,
		`slabcast_input_rtp_reordered_total{stream="r"}`:                      5,
		`slabcast_input_rtp_duplicates_total{stream="r"}`:                     0,
		`slabcast_input_ts_lost_total{stream="r"}`:                            4 * 7,
		`slabcast_input_filtered_total{stream="r",reason="bad_rtp"}`:          2,
		`slabcast_ts_errors_total{stream="r",indicator="Sync_byte_error"}`:    0,
		`slabcast_ts_errors_total{stream="r",indicator="PCR_accuracy_error"}`: 0,
	}
	for series, n := range want {
		if v := d.metric(series); v != float64(n) {
			t.Errorf("%s = %v, injected %d", series, v, n)
		}
	}
}

// A burst that overflows a deliberately small receive buffer: what the
// kernel dropped is exactly what the socket itself says it dropped, and
// with what was received it adds up to what was sent.
func TestKernelDrops(t *testing.T) {
	testnet.Require(t)
	d := startDaemon(t, "stream ch { input udp://239.1.9.1:5000 rcvbuf=16K; }\n")
	waitLog(t, d, "listening on udp://239.1.9.1:5000")
	data, err := os.ReadFile("../../testdata/h264_aac.ts")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("udp", "239.1.9.1:5000")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const dg = 7 * ts.PacketSize
	sent := 0
	for round := 0; round < 5; round++ {
		// sendmmsg, 64 datagrams a call: far faster than one reader drains.
		sent += burst(t, conn, data, dg, 4096)
		time.Sleep(300 * time.Millisecond)
		if d.metric(`slabcast_input_kernel_drops_total{stream="ch"}`) > 0 {
			break
		}
	}
	time.Sleep(300 * time.Millisecond)
	drops := d.metric(`slabcast_input_kernel_drops_total{stream="ch"}`)
	got := d.metric(`slabcast_input_datagrams_total{stream="ch"}`)
	if drops <= 0 {
		t.Fatalf("no kernel drops after %d datagrams in bursts: the test proves nothing", sent)
	}
	if int(got+drops) != sent {
		t.Errorf("received %v + dropped %v != sent %d", got, drops, sent)
	}
	// The only input of its port has a socket of its own.
	if own := procUDPDrops(t, "239.1.9.1", 5000); own != uint64(drops) {
		t.Errorf("kernel_drops_total = %v, the socket's own count (/proc/net/udp) = %d", drops, own)
	}
	t.Logf("sent %d, received %v, dropped %v", sent, got, drops)
}

// Streams whose groups share a port share one socket; its single drop
// counter is apportioned so that each stream's loss is still exact: for
// every stream, received + kernel drops = sent, the drops add up to the
// socket's own count less what its filter refused, and the refusals land on
// the stream whose group they were sent to.
func TestSharedSocketDrops(t *testing.T) {
	testnet.Require(t)
	// One receive worker: each worker has its own shared sockets.
	d := startDaemon(t, `cpus 0;
stream a { input udp://239.1.9.11:5001 rcvbuf=16K; }
stream b { input udp://239.1.9.12:5001 rcvbuf=16K; }
stream c { input udp://239.1.9.13:5001 rcvbuf=16K; }
`)
	for _, g := range []string{"11", "12", "13"} {
		waitLog(t, d, "listening on udp://239.1.9."+g+":5001")
	}
	// The first input of the port has a socket of its own, the other two
	// share one.
	if n := strings.Count(d.Log(), "(socket shared by port 5001)"); n != 2 {
		t.Fatalf("%d inputs on the shared socket, want 2:\n%s", n, d.Log())
	}
	if n := procUDPSockets(t, 5001); n != 2 {
		t.Fatalf("%d sockets on port 5001, want 2", n)
	}
	const notTS = 9
	drops := overflowABC(t, d, [3]string{"239.1.9.11:5001", "239.1.9.12:5001", "239.1.9.13:5001"}, notTS)
	if own := procUDPPortDrops(t, 5001); own != uint64(drops)+notTS {
		t.Errorf("kernel drops of the streams add up to %v, the sockets' own counts (/proc/net/udp) to %d, of which %d refusals",
			drops, own, notTS)
	}
}

// procUDPPortDrops sums the drop counts of the UDP sockets bound to port.
func procUDPPortDrops(t *testing.T, port int) uint64 {
	raw, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		t.Fatal(err)
	}
	var sum uint64
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) > 2 && strings.HasSuffix(f[1], fmt.Sprintf(":%04X", port)) {
			n, err := strconv.ParseUint(f[len(f)-1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			sum += n
		}
	}
	return sum
}

// procUDPSockets counts the UDP sockets bound to port.
func procUDPSockets(t *testing.T, port int) int {
	raw, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) > 2 && strings.HasSuffix(f[1], fmt.Sprintf(":%04X", port)) {
			n++
		}
	}
	return n
}

// burst sends n datagrams of the clip with sendmmsg and returns how many
// went out.
func burst(t *testing.T, conn net.Conn, data []byte, size, n int) int {
	type mmsghdr struct {
		hdr unix.Msghdr
		len uint32
		_   [4]byte
	}
	raw, err := conn.(*net.UDPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	const batch = 64
	iov := make([]unix.Iovec, batch)
	msgs := make([]mmsghdr, batch)
	sent := 0
	for sent < n {
		k := min(batch, n-sent)
		for j := 0; j < k; j++ {
			off := ((sent + j) * size) % (len(data) - size)
			off -= off % ts.PacketSize
			iov[j].Base = &data[off]
			iov[j].SetLen(size)
			msgs[j].hdr.Iov = &iov[j]
			msgs[j].hdr.SetIovlen(1)
		}
		var m uintptr
		var errno unix.Errno
		raw.Write(func(fd uintptr) bool {
			m, _, errno = unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&msgs[0])), uintptr(k), 0, 0, 0)
			return true
		})
		if errno != 0 {
			t.Fatalf("sendmmsg: %v", errno)
		}
		sent += int(m)
	}
	return sent
}

// procUDPDrops reads the drops column of the UDP socket bound to addr:port
// from /proc/net/udp (this network namespace's).
func procUDPDrops(t *testing.T, addr string, port int) uint64 {
	f, err := os.Open("/proc/net/udp")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ip := net.ParseIP(addr).To4()
	local := fmt.Sprintf("%02X%02X%02X%02X:%04X", ip[3], ip[2], ip[1], ip[0], port)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 2 && fields[1] == local {
			n, err := strconv.ParseUint(fields[len(fields)-1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no socket on %s in /proc/net/udp", local)
	return 0
}

// The same on a ring (multicast_ring on): loss stays exact per stream
// (received + kernel drops = sent) though the ring has one drop counter,
// refusals are counted per stream, and no datagram reaches a UDP socket:
// the memberships are held by sockets on a port of their own.
func TestRingDrops(t *testing.T) {
	testnet.Require(t)
	d := startDaemon(t, `cpus 0;
multicast_ring on;
stream a { input udp://239.1.9.21:5002 rcvbuf=64K; }
stream b { input udp://239.1.9.22:5002 rcvbuf=64K; }
stream c { input udp://239.1.9.23:5002 rcvbuf=64K; }
`)
	for _, g := range []string{"21", "22", "23"} {
		waitLog(t, d, "listening on udp://239.1.9."+g+":5002 (the ring of port 5002)")
	}
	if n := procUDPSockets(t, 5002); n != 0 {
		t.Fatalf("%d sockets on port 5002, want none: the ring takes the data", n)
	}
	const notTS = 9
	overflowABC(t, d, [3]string{"239.1.9.21:5002", "239.1.9.22:5002", "239.1.9.23:5002"}, notTS)
}

// What comes in through a ring plays: segments that start clean and
// decode, /mpegts from a keyframe, the playlist a player accepts.
func TestRingPlays(t *testing.T) {
	testnet.Require(t)
	hlstest.RequireFFmpeg(t)
	d := startDaemon(t, `multicast_ring on;
stream r1 { input udp://239.1.9.31:5003; segment_duration 1; }
stream r2 { input udp://239.1.9.32:5003; segment_duration 1; }
`)
	hlstest.StartSender(t, hlstest.SenderOptions{URL: "udp://239.1.9.31:5003"})
	hlstest.StartSender(t, hlstest.SenderOptions{URL: "udp://239.1.9.32:5003", Video: "hevc"})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	d.plays(t, ctx, "r1", 3)
	d.plays(t, ctx, "r2", 2)
	checkLiveStart(t, d.base+"/r1/mpegts")
	if !strings.Contains(d.Log(), "(the ring of port 5003)") {
		t.Errorf("the inputs are not on the ring:\n%s", d.Log())
	}
	for _, s := range []string{"r1", "r2"} {
		if v := d.metric(`slabcast_input_kernel_drops_total{stream="` + s + `"}`); v != 0 {
			t.Errorf("%s: %v kernel drops at a player's rate", s, v)
		}
	}
}

// overflowABC sends notTS datagrams that are not TS to stream b's group,
// then bursts to the groups of streams a, b and c (a and b far past their
// buffers, c a datagram a millisecond) until a and b have lost some, and
// checks what a user of the counters would: for each stream, received +
// kernel drops = sent, and both a and b did lose (else the test proves
// nothing), and the refusals are b's alone. It returns the drops of the
// three together.
func overflowABC(t *testing.T, d *testDaemon, groups [3]string, notTS int) float64 {
	t.Helper()
	data, err := os.ReadFile("../../testdata/h264_aac.ts")
	if err != nil {
		t.Fatal(err)
	}
	dial := func(addr string) net.Conn {
		conn, err := net.Dial("udp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	a, b, c := dial(groups[0]), dial(groups[1]), dial(groups[2])
	const dg = 7 * ts.PacketSize
	sent := map[string]int{}
	for i := 0; i < notTS; i++ {
		if _, err := b.Write([]byte("not a transport stream")); err != nil {
			t.Fatal(err)
		}
	}
	for round := 0; round < 5; round++ {
		sent["a"] += burst(t, a, data, dg, 4096)
		sent["b"] += burst(t, b, data, dg, 2048)
		for i := 0; i < 20; i++ { // c: a datagram a millisecond
			sent["c"] += burst(t, c, data, dg, 1)
			time.Sleep(time.Millisecond)
		}
		time.Sleep(300 * time.Millisecond)
		if d.metric(`slabcast_input_kernel_drops_total{stream="a"}`) > 0 && d.metric(`slabcast_input_kernel_drops_total{stream="b"}`) > 0 {
			break
		}
	}
	time.Sleep(400 * time.Millisecond) // a few ticks: the counts catch up
	var drops float64
	for _, name := range []string{"a", "b", "c"} {
		got := d.metric(`slabcast_input_datagrams_total{stream="` + name + `"}`)
		lost := d.metric(`slabcast_input_kernel_drops_total{stream="` + name + `"}`)
		drops += lost
		if int(got+lost) != sent[name] {
			t.Errorf("stream %s: received %v + dropped %v != sent %d", name, got, lost, sent[name])
		}
		t.Logf("stream %s: sent %d, received %v, dropped %v", name, sent[name], got, lost)
	}
	if d.metric(`slabcast_input_kernel_drops_total{stream="a"}`) == 0 || d.metric(`slabcast_input_kernel_drops_total{stream="b"}`) == 0 {
		t.Fatal("the bursts did not overflow the buffer for both a and b: the test proves nothing")
	}
	// The refusals land on the stream whose group they were sent to.
	for name, want := range map[string]float64{"a": 0, "b": float64(notTS), "c": 0} {
		if v := d.metric(`slabcast_input_filtered_total{stream="` + name + `",reason="bad_size"}`); v != want {
			t.Errorf("stream %s: filtered bad_size = %v, sent %v", name, v, want)
		}
	}
	return drops
}
