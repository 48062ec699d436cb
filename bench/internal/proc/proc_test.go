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
