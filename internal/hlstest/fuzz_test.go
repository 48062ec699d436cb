package hlstest

import (
	"errors"
	"testing"
)

// FuzzParsePlaylist checks that ParsePlaylist never panics, that its errors
// wrap ErrSyntax, that Check and CheckProgression accept whatever it
// returns without panicking, and that a parsed playlist survives an
// Encode/ParsePlaylist round trip unchanged.
func FuzzParsePlaylist(f *testing.F) {
	f.Add([]byte("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:7\n" +
		"#EXT-X-PROGRAM-DATE-TIME:2026-11-26T08:06:37.000Z\n#EXTINF:2.000,\na.ts\n" +
		"#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:2026-11-26T08:06:39.000+0000\n#EXTINF:1.96,\nb.ts\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePlaylist(b)
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("error does not wrap ErrSyntax: %v", err)
			}
			return
		}
		_ = Check(p)
		_ = CheckProgression(p, p)
		enc := p.Encode(nil)
		q, err := ParsePlaylist(enc)
		if err != nil {
			t.Fatalf("re-parse: %v\n%s", err, enc)
		}
		if d := diffPlaylists(p, q); d != "" {
			t.Fatalf("round trip: %s\n%s", d, enc)
		}
	})
}
