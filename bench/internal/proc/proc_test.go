package proc

import (
	"os"
	"testing"
	"time"
)

func TestStatTimes(t *testing.T) {
	u, s, err := StatTimes([]byte("42 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 123 45 0 0 20 0 1 0"))
	if err != nil || u != 123 || s != 45 {
		t.Errorf("StatTimes = %d, %d, %v; want 123, 45", u, s, err)
	}
	if _, _, err := StatTimes([]byte("42 (x) S 1")); err == nil {
		t.Error("StatTimes accepted a short line")
	}
	if d, err := ProcessCPU(os.Getpid()); err != nil || d < 0 || d > time.Hour {
		t.Errorf("ProcessCPU(self) = %v, %v", d, err)
	}
}

func TestParseCoreBusy(t *testing.T) {
	stat := "cpu  1 2 3 4 5 6 7 8 0 0\ncpu0 10 0 10 500 0 0 0 0 0 0\ncpu1 100 1 50 900 7 2 3 4 0 0\n"
	if d, err := ParseCoreBusy([]byte(stat), 1); err != nil || d != Ticks(100+1+50+2+3+4) {
		t.Errorf("ParseCoreBusy = %v, %v", d, err)
	}
	if _, err := ParseCoreBusy([]byte(stat), 2); err == nil {
		t.Error("ParseCoreBusy found cpu2")
	}
}

func TestProcParsers(t *testing.T) {
	if got := allowedList([]byte("Name:\tx\nCpus_allowed_list:\t1\n")); got != "1" {
		t.Errorf("allowedList = %q", got)
	}
	if n, err := parseBacklogDrops([]byte("0000ffff 00000002 0\n00000001 0000000a 0\n")); err != nil || n != 12 {
		t.Errorf("parseBacklogDrops = %d, %v; want 12", n, err)
	}
	status := "Name:\tslabcast\nVmHWM:\t  300000 kB\nVmRSS:\t  290000 kB\nRssAnon:\t  280000 kB\nRssFile:\t    9000 kB\nRssShmem:\t    1000 kB\n"
	m, err := parseMemStatus([]byte(status))
	if err != nil || m.VmRSS != 290000<<10 || m.RssAnon != 280000<<10 || m.RssFile != 9000<<10 || m.RssShmem != 1000<<10 || m.VmHWM != 300000<<10 {
		t.Errorf("parseMemStatus = %+v, %v", m, err)
	}
	if _, err := parseMemStatus([]byte("VmRSS:\t1 kB\n")); err == nil {
		t.Error("parseMemStatus accepted a status without RssAnon")
	}
	udp := "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n" +
		" 1: 010A0AEF:4E20 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2 0000000000000000 5\n" +
		" 2: 020A0AEF:4E21 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2 0000000000000000 0\n" +
		" 3: 00000000:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2 0000000000000000 9\n" +
		" 4: 010A0AEF:4E20 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2 0000000000000000 2\n"
	d, err := parseUDPDrops([]byte(udp), map[uint16]bool{20000: true, 20001: true})
	if err != nil || len(d) != 2 || d[20000] != 7 || d[20001] != 0 {
		t.Errorf("parseUDPDrops = %v, %v; want 20000:7 20001:0", d, err)
	}
}

func TestShare(t *testing.T) {
	for _, c := range []struct {
		busy, wall time.Duration
		n          int
		want       float64
	}{
		{2 * time.Second, 4 * time.Second, 1, 0.5},
		{6 * time.Second, 4 * time.Second, 2, 0.75},
		{time.Second, 0, 1, 0},
		{time.Second, time.Second, 0, 0},
	} {
		if got := Share(c.busy, c.wall, c.n); got != c.want {
			t.Errorf("Share(%v, %v, %d) = %v, want %v", c.busy, c.wall, c.n, got, c.want)
		}
	}
}
