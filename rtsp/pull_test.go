package rtsp

import (
	"bytes"
	"testing"
)

func TestCheck(t *testing.T) {
	for _, ok := range []string{"rtsp://127.0.0.1/x", "rtsp://u:p@cam.example:554/stream1", "rtsp://h:8554/a/b?x=y"} {
		if err := Check(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"rtsp:///x", "http://h/x", "rtsp://h:99999/x", "rtsp://%zz/x"} {
		if err := Check(bad); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

// Parameter sets go in front of a random access unit that lacks them, and
// only when all are known.
func TestWithParams(t *testing.T) {
	isSPS := func(n []byte) bool { return n[0]&0x1F == 7 }
	idr := [][]byte{{0x65, 1}}
	got := withParams(idr, isSPS, []byte{0x67, 2}, []byte{0x68, 3})
	if len(got) != 3 || !bytes.Equal(got[0], []byte{0x67, 2}) || !bytes.Equal(got[2], idr[0]) {
		t.Errorf("%x", got)
	}
	own := [][]byte{{0x67, 9}, {0x68, 9}, {0x65, 1}}
	if got := withParams(own, isSPS, []byte{0x67, 2}, []byte{0x68, 3}); len(got) != 3 || got[0][1] != 9 {
		t.Errorf("an IDR with its own SPS got %x", got)
	}
	if got := withParams(idr, isSPS, nil, []byte{0x68, 3}); len(got) != 1 {
		t.Errorf("with an unknown SPS: %x", got)
	}
}
