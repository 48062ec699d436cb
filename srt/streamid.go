// Package srt takes MPEG-TS over SRT: publishers on the `srt PORT;`
// listener (`streamid=publish:NAME`), and `srt://` inputs that call a
// sender (caller mode) or wait for one (`?mode=listener`). SRT carries TS
// as it is, so what arrives goes straight through a ts.Framer into the
// stream, without remuxing.
//
// The protocol is github.com/datarhei/gosrt, pinned at v0.9.0 as MediaMTX
// pins it: a pure Go SRT (no libsrt, no cgo) that ffmpeg's libsrt talks
// to, with AES passphrases. It has no read deadlines and drops what a slow
// reader does not take, so every session here runs a watchdog and hands
// its data on at once.
package srt

import (
	"net/url"
	"strings"
)

// StreamID is what a caller's SRT stream id asks for.
type StreamID struct {
	Mode     string // "publish" or "request" (play)
	Name     string // the stream
	Password string // password= or token= given in the id ("" if none)
}

// ParseStreamID reads the stream id forms publishers use:
//   - "publish:NAME" and "publish/NAME" (ffmpeg, Flussonic's examples),
//     "play:NAME", "read:NAME", "request:NAME";
//   - the SRT access control syntax "#!::r=NAME,m=publish" (keys in any
//     order; m defaults to request), with password= or token= among them;
//   - a bare "NAME", on a port that takes publishers, is a publish.
//
// A query after the name ("publish:NAME?password=x") carries the password
// too. It never fails: what it cannot read gives an empty Name.
func ParseStreamID(sid string) StreamID {
	var id StreamID
	if rest, ok := strings.CutPrefix(sid, "#!::"); ok {
		id.Mode = "request"
		for item := range strings.SplitSeq(rest, ",") {
			k, v, _ := strings.Cut(item, "=")
			switch k {
			case "r":
				id.Name = v
			case "m":
				id.Mode = v
			case "password":
				id.Password = v
			case "token":
				if id.Password == "" {
					id.Password = v
				}
			}
		}
		return id
	}
	id.Mode, id.Name = "publish", sid
	if m, rest, ok := strings.Cut(sid, ":"); ok {
		id.Mode, id.Name = m, rest
	} else if m, rest, ok := strings.Cut(sid, "/"); ok && (m == "publish" || m == "play") {
		id.Mode, id.Name = m, rest
	}
	switch id.Mode {
	case "play", "read":
		id.Mode = "request"
	}
	if name, query, ok := strings.Cut(id.Name, "?"); ok {
		id.Name = name
		if q, err := url.ParseQuery(query); err == nil {
			id.Password = q.Get("password")
			if id.Password == "" {
				id.Password = q.Get("token")
			}
		}
	}
	return id
}
