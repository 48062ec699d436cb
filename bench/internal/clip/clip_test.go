package clip

import (
	"strings"
	"testing"
)

// TestArgs checks the command lines against those the benchmarks ran
// before they shared this package, so that the clips stay the same.
func TestArgs(t *testing.T) {
	f := func(r Recipe, want string) {
		t.Helper()
		if got := strings.Join(r.args("out.ts"), " "); got != want {
			t.Errorf("ffmpeg\n%s\nwant\n%s", got, want)
		}
	}
	f(Recipe{Size: "1280x720", FPS: 25, Seconds: 4, GOP: 25, Preset: "veryfast", Video: 3872000, Bufsize: 1936000, X264: "nal-hrd=cbr"},
		"-hide_banner -loglevel error -y -nostdin -f lavfi -i testsrc2=size=1280x720:rate=25 -f lavfi -i sine=frequency=440:sample_rate=48000 -t 4 "+
			"-map 0:v -map 1:a -c:v libx264 -preset veryfast -pix_fmt yuv420p -g 25 -keyint_min 25 -sc_threshold 0 "+
			"-b:v 3872000 -minrate 3872000 -maxrate 3872000 -bufsize 1936000 -x264-params nal-hrd=cbr -c:a aac -b:a 128k -f mpegts out.ts")
	f(Recipe{Size: "1280x720", FPS: 24, Seconds: 10, AudioSeconds: 9.96, GOP: 12, Preset: "ultrafast", Video: 4000000, Bufsize: 2000000,
		X264: "nal-hrd=cbr", Channels: 2, PCRPeriod: 20},
		"-hide_banner -loglevel error -y -nostdin -t 10 -f lavfi -i testsrc2=size=1280x720:rate=24 -f lavfi -i sine=frequency=440:sample_rate=48000:duration=9.96 "+
			"-map 0:v -map 1:a -c:v libx264 -preset ultrafast -pix_fmt yuv420p -g 12 -keyint_min 12 -sc_threshold 0 "+
			"-b:v 4000000 -minrate 4000000 -maxrate 4000000 -bufsize 2000000 -x264-params nal-hrd=cbr -c:a aac -b:a 128k -ac 2 -pcr_period 20 -f mpegts out.ts")
}
