package hlstest

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// scripted serves the given playlists in turn, repeating the last.
func scripted(t *testing.T, lists ...*Playlist) string {
	var mu sync.Mutex
	i := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		p := lists[min(i, len(lists)-1)]
		i++
		mu.Unlock()
		if p == nil {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
		w.Write(p.Encode(nil))
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/ch/index.m3u8"
}

func TestWatchScripted(t *testing.T) {
	ctx := testContext(t, 10*time.Second)
	const iv = 10 * time.Millisecond

	got, err := Watch(ctx, scripted(t, live(100, 3, 2), live(100, 4, 2), live(101, 5, 2), live(103, 6, 2)), iv, 9)
	if err != nil || len(got) != 4 {
		t.Fatalf("good progression: %d fetches, %v", len(got), err)
	}
	if got[3].MediaSequence != 103 || len(got[3].Segments) != 6 {
		t.Errorf("last fetch: %+v", got[3])
	}

	got, err = Watch(ctx, scripted(t, live(100, 6, 2), live(101, 6, 2), live(99, 6, 2), live(110, 6, 2)), iv, 100)
	if !errors.Is(err, ErrMediaSequence) || len(got) != 3 {
		t.Errorf("MSN back: %d fetches, %v", len(got), err)
	}

	noPDT := live(101, 6, 2)
	noPDT.Segments[5].ProgramDateTime = time.Time{}
	got, err = Watch(ctx, scripted(t, live(100, 6, 2), noPDT), iv, 100)
	if !errors.Is(err, ErrNoProgramDateTime) || len(got) != 2 {
		t.Errorf("missing PDT: %d fetches, %v", len(got), err)
	}

	got, err = Watch(ctx, scripted(t, nil), iv, 1)
	if err == nil || len(got) != 0 {
		t.Errorf("503: %d fetches, %v", len(got), err)
	}

	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	got, err = Watch(short, scripted(t, live(100, 6, 2)), 50*time.Millisecond, 7)
	if !errors.Is(err, context.DeadlineExceeded) || len(got) < 3 {
		t.Errorf("stuck playlist: %d fetches, %v", len(got), err)
	}
}

// TestWatchFFmpegLive watches ffmpeg's own live HLS output, served over
// loopback HTTP while ffmpeg writes it in real time, and decodes it.
func TestWatchFFmpegLive(t *testing.T) {
	RequireFFmpeg(t)
	t.Parallel()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	args := append([]string{"-hide_banner", "-nostdin", "-loglevel", "error", "-re"}, source...)
	args = append(args, "-t", "30", "-f", "hls", "-hls_time", "1", "-hls_list_size", "4", "-hls_delete_threshold", "8",
		"-hls_flags", "program_date_time+delete_segments+temp_file+omit_endlist",
		"-hls_segment_filename", filepath.Join(dir, "seg%03d.ts"), filepath.Join(dir, "index.m3u8"))
	cmd := exec.CommandContext(ctx, "ffmpeg", args...)
	var stderr tailBuffer
	stderr.max = 16 << 10
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel() // kills ffmpeg by its PID
		cmd.Wait()
		if t.Failed() {
			t.Logf("ffmpeg stderr:\n%s", stderr.String())
		}
	})
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	url := srv.URL + "/index.m3u8"

	wctx := testContext(t, 20*time.Second)
	// Wait for the first playlist.
	for {
		if _, err := FetchPlaylist(wctx, url); err == nil {
			break
		}
		select {
		case <-wctx.Done():
			t.Fatal("ffmpeg wrote no playlist")
		case <-time.After(100 * time.Millisecond):
		}
	}
	got, err := Watch(wctx, url, 200*time.Millisecond, 7)
	if err != nil {
		t.Fatal(err)
	}
	last := got[len(got)-1]
	if last.MediaSequence == 0 || len(last.Segments) != 4 {
		t.Errorf("window did not slide: MSN %d, %d segments", last.MediaSequence, len(last.Segments))
	}
	for _, s := range last.Segments[2:] { // the newest, long fetchable
		seg := ResolveURI(url, s.URI)
		key, pict, err := FirstVideoFrame(wctx, seg)
		if err != nil || !key {
			t.Errorf("%s: key=%v %q %v", seg, key, pict, err)
		}
		b, _, err := Fetch(wctx, seg)
		if err != nil {
			t.Fatal(err)
		}
		if n := ContinuityErrors(b); n != 0 {
			t.Errorf("%s: %d continuity errors", seg, n)
		}
	}
	if err := Decode(wctx, url, 2); err != nil {
		t.Errorf("Decode live: %v", err)
	}
}
