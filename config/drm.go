package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DRM is a stream's `drm` directive, Flussonic's:
//
//	drm aes128 keyserver=URL [expires=MIN] [user_keyserver=URL] [hls_ext_x_key_iv=on|off];
//
// Segments are AES-128 encrypted with keys the operator's key server (the
// CAS) gives: GET Keyserver?file=STREAM&number=N answers key N's 16 bytes.
type DRM struct {
	Keyserver string
	// Expires is how long one key lasts: key N covers segments starting in
	// [N×Expires, (N+1)×Expires) of Unix time. 0: one key, N = 0.
	Expires time.Duration
	// UserKeyserver, when set, is the key URI players are given (the CAS
	// itself); else they fetch keys from slabcast (/NAME/key/N.key).
	UserKeyserver string
	// ExplicitIV writes each segment's IV (its media sequence number) into
	// the playlist (hls_ext_x_key_iv=on).
	ExplicitIV bool
}

// maxWords bounds the text of a Words setting.
const maxWords = 2048

// ParseDRM reads the value of a drm directive: the words after its name.
func ParseDRM(text string) (DRM, error) {
	words := strings.Fields(text)
	if len(words) == 0 || words[0] != "aes128" {
		return DRM{}, fmt.Errorf("drm: only aes128 is supported: drm aes128 keyserver=URL [expires=MINUTES] [user_keyserver=URL] [hls_ext_x_key_iv=on|off]")
	}
	var d DRM
	seen := map[string]bool{}
	for _, w := range words[1:] {
		k, v, ok := strings.Cut(w, "=")
		if !ok || v == "" {
			return DRM{}, fmt.Errorf("drm: %s is not KEY=VALUE", quote(w))
		}
		if seen[k] {
			return DRM{}, fmt.Errorf("drm: %s is given twice", k)
		}
		seen[k] = true
		switch k {
		case "keyserver", "user_keyserver":
			if msg := checkBackendURL(v); msg != "" {
				return DRM{}, fmt.Errorf("drm: %s %s %s", k, quote(v), msg)
			}
			if k == "keyserver" {
				d.Keyserver = v
			} else {
				d.UserKeyserver = v
			}
		case "expires":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 7*24*60 {
				return DRM{}, fmt.Errorf("drm: expires %s is not a whole number of minutes 1..10080", quote(v))
			}
			d.Expires = time.Duration(n) * time.Minute
		case "hls_ext_x_key_iv":
			switch v {
			case "on", "true":
				d.ExplicitIV = true
			case "off", "false":
			default:
				return DRM{}, fmt.Errorf("drm: hls_ext_x_key_iv %s is not on or off", quote(v))
			}
		default:
			return DRM{}, fmt.Errorf("drm: option %s is not supported by slabcast (it takes keyserver, expires, user_keyserver, hls_ext_x_key_iv)", quote(k))
		}
	}
	if d.Keyserver == "" {
		return DRM{}, fmt.Errorf("drm: keyserver=URL is missing")
	}
	return d, nil
}

// String is the directive's value in a canonical form, as the writer
// writes it.
func (d DRM) String() string {
	s := "aes128 keyserver=" + d.Keyserver
	if d.Expires > 0 {
		s += " expires=" + strconv.Itoa(int(d.Expires/time.Minute))
	}
	if d.UserKeyserver != "" {
		s += " user_keyserver=" + d.UserKeyserver
	}
	if d.ExplicitIV {
		s += " hls_ext_x_key_iv=on"
	}
	return s
}

// KeyNumber is the key period of a segment starting at t.
func (d DRM) KeyNumber(t time.Time) int64 {
	if d.Expires <= 0 {
		return 0
	}
	return t.UnixNano() / int64(d.Expires)
}

// checkDRM is the drm setting's Check; it also puts the value in its
// canonical form.
func checkDRM(v string) string {
	if _, err := ParseDRM(v); err != nil {
		return strings.TrimPrefix(err.Error(), "drm: ")
	}
	return ""
}

// canonDRM is the drm setting's Canon.
func canonDRM(v string) string {
	d, err := ParseDRM(v)
	if err != nil {
		return v
	}
	return d.String()
}

// DRMSpec is the stream's drm directive, ok false without one.
func (s *Stream) DRMSpec() (DRM, bool) {
	if s.DRM == "" {
		return DRM{}, false
	}
	d, err := ParseDRM(s.DRM)
	return d, err == nil
}
