package api

import (
	"testing"
	"time"
)

func TestParseCoreTimes(t *testing.T) {
	stat := []byte("cpu  10 0 10 100 0 0 0 0 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\ncpu1 100 5 20 900 1 2 3 7 0 0\n")
	tasks, steal, err := parseCoreTimes(stat, 1)
	if err != nil || tasks != 1250*time.Millisecond || steal != 70*time.Millisecond {
		t.Errorf("parseCoreTimes = %v, %v, %v; want 1.25s, 70ms", tasks, steal, err)
	}
	if _, _, err := parseCoreTimes(stat, 2); err == nil {
		t.Error("cpu2 found")
	}
}
