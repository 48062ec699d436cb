package pipeline

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/slabcast/slabcast/config"
	"github.com/slabcast/slabcast/nic"
	"github.com/slabcast/slabcast/ts"
)

// The read loop against real sockets on 127.0.0.1 (unicast: no namespace
// needed), the worker on CPU 1 and the senders on CPU 0.

// loopPipeline starts a pipeline whose one worker runs on CPU 1, with a
// unicast stream for each rcvbuf given, and returns it with the streams'
// ports.
func loopPipeline(t *testing.T, rcvbufs ...int) (*Pipeline, []int) {
	t.Helper()
	if os.Getenv("SLABCAST_IDLE_CORES") == "" {
		// With every package's tests running at once, the worker's core is
		// not free; these measure what the read loop does when it is.
		t.Skip("needs the machine to itself: make test runs it alone after the suite, with SLABCAST_IDLE_CORES=1")
	}
	if runtime.NumCPU() < 2 {
		t.Skip("needs two cores: the worker on one, the senders on the other")
	}
	p, err := New(Options{CPUs: []int{1}, Memory: 64 << 20, Logf: func(string, ...any) {}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	var ports []int
	for i, rb := range rcvbufs {
		uc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := uc.LocalAddr().(*net.UDPAddr).Port
		uc.Close()
		cfg := config.Stream{Name: fmt.Sprintf("s%d", i), SegmentDuration: 2 * time.Second, SegmentCount: 6,
			SourceTimeout: 10 * time.Second, ClientsTimeout: 20 * time.Second,
			Inputs: []config.Input{{URL: fmt.Sprintf("udp://127.0.0.1:%d", port), SourceTimeout: 10 * time.Second, RecvBuffer: rb}}}
		if err := p.Start(cfg); err != nil {
			t.Fatal(err)
		}
		ports = append(ports, port)
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, port := range ports {
		for time.Now().Before(deadline) && !listening(port) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	return p, ports
}

func listening(port int) bool {
	c, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return true // taken: the pipeline has it
	}
	c.Close()
	return false
}

// gsoSocket connects a UDP socket to port that sends one datagram of seg
// bytes per seg bytes written (UDP GSO), so one write is up to 64 datagrams.
func gsoSocket(t *testing.T, port, seg int) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.SetsockoptInt(fd, unix.SOL_UDP, unix.UDP_SEGMENT, seg); err != nil {
		t.Skipf("no UDP GSO: %v", err)
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
	if err := unix.Connect(fd, &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	return fd
}

// packets is the demo clip cut into single-packet datagrams (the cheapest
// for the worker to handle, so its read loop is what limits it), 64 to a
// GSO write.
func packets(t *testing.T) []byte { return readClip(t, "h264_aac.ts") }

// send writes rate datagrams of one TS packet a second to fd for dur, 64 a
// write, from a thread pinned to CPU 0, and returns how many it sent.
func send(t *testing.T, fd int, clip []byte, rate float64, dur time.Duration) int {
	t.Helper()
	const per = 64
	done := make(chan int)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		nic.PinThread(0)
		sent, off := 0, 0
		start := time.Now()
		for elapsed := time.Duration(0); elapsed < dur; elapsed = time.Since(start) {
			if rate > 0 && float64(sent) >= rate*elapsed.Seconds() {
				continue // spin: paced to the microsecond
			}
			if off+per*ts.PacketSize > len(clip) {
				off = 0
			}
			if _, err := unix.Write(fd, clip[off:off+per*ts.PacketSize]); err == nil {
				sent += per
			}
			off += per * ts.PacketSize
		}
		done <- sent
	}()
	return <-done
}

// A sustained rate above what one wake-up's quota (readsPerWake batches)
// a millisecond allows, on a receive buffer that holds some 15 ms of it
// (the 250 ms burst is twenty times that), is received while the worker's
// core is free: the worker keeps reading while its socket returns full
// batches. The loop that gathered a millisecond after each quota lost a
// third of it. A stall of the worker's thread longer than the buffer holds
// (the VM's or the Go runtime's, some 10 ms) loses a few percent here now
// and then, so the bar is a tenth; what is lost is counted exactly.
func TestReadLoopKeepsUp(t *testing.T) {
	p, ports := loopPipeline(t, 8<<20)
	fd := gsoSocket(t, ports[0], ts.PacketSize)
	clip := packets(t)
	s := p.Lookup("s0")
	warm := send(t, fd, clip, 20_000, 300*time.Millisecond) // the worker is busy: it gathers
	time.Sleep(200 * time.Millisecond)
	quota := float64(readsPerWake*batchCount) / DefaultCoalesce.Seconds()
	burst := send(t, fd, clip, 1.6*quota, 250*time.Millisecond)
	time.Sleep(300 * time.Millisecond)
	st := s.Stats()
	t.Logf("sent %d at %.0f datagrams/s (one wake-up's quota a millisecond: %.0f/s); received %d, kernel drops %d",
		burst, 1.6*quota, quota, st.Count[Datagrams]-uint64(warm), st.Count[KernelDrops])
	if st.Count[Datagrams]+st.Count[KernelDrops] != uint64(warm+burst) {
		t.Errorf("received %d and the kernel dropped %d of %d datagrams sent: some went uncounted", st.Count[Datagrams], st.Count[KernelDrops], warm+burst)
	}
	if st.Count[KernelDrops] > uint64(burst)/10 {
		t.Fatalf("received %d of %d datagrams, %d kernel drops: the worker did not keep reading", st.Count[Datagrams], warm+burst, st.Count[KernelDrops])
	}
}

// One input flooded past what the worker can take and others at a low
// rate: the flood loses datagrams, the others none.
func TestFloodedInputStarvesNone(t *testing.T) {
	const quiet = 10
	bufs := make([]int, 1+quiet)
	bufs[0] = 256 << 10
	for i := 1; i <= quiet; i++ {
		bufs[i] = 256 << 10
	}
	p, ports := loopPipeline(t, bufs...)
	clip := packets(t)
	flood := gsoSocket(t, ports[0], ts.PacketSize)
	var conns []net.Conn
	for _, port := range ports[1:] {
		c, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	sentQuiet := make(chan int)
	go func() { // 2000 datagrams a second to each quiet input, for the flood's 500 ms
		n := 0
		for k := 0; k < 1000; k++ {
			for _, c := range conns {
				if _, err := c.Write(clip[(k%100)*7*ts.PacketSize : (k%100+1)*7*ts.PacketSize]); err == nil {
					n++
				}
			}
			time.Sleep(500 * time.Microsecond)
		}
		sentQuiet <- n
	}()
	flooded := send(t, flood, clip, 0, 500*time.Millisecond)
	nq := <-sentQuiet
	time.Sleep(300 * time.Millisecond)
	var got uint64
	for i := 1; i <= quiet; i++ {
		st := p.Lookup(fmt.Sprintf("s%d", i)).Stats()
		got += st.Count[Datagrams]
		if st.Count[KernelDrops] != 0 {
			t.Errorf("quiet input %d: %d kernel drops", i, st.Count[KernelDrops])
		}
	}
	fs := p.Lookup("s0").Stats()
	t.Logf("flood: sent %d, received %d, kernel drops %d; quiet inputs: sent %d, received %d",
		flooded, fs.Count[Datagrams], fs.Count[KernelDrops], nq, got)
	if got != uint64(nq) {
		t.Fatalf("quiet inputs received %d of %d datagrams beside the flood", got, nq)
	}
}
