package pipeline

import (
	"errors"
	"sync/atomic"
)

// Publishers refused, and publishing sessions ended, by protocol and
// reason, over the whole daemon: a publisher refused may name no stream at
// all (a wrong name, a handshake that never finished), so these are not
// per-stream counters. /metrics writes them as
// slabcast_publish_refused_total{proto,reason} and
// slabcast_publish_ended_total{proto,reason}.

// PublishProtocols are the protocols publishers use, as the counters name them.
var PublishProtocols = []string{"http", "rtmp", "srt"}

// RefusalReasons say why a publisher was refused: no stream of that name;
// a stream that takes no publisher; a wrong password; another publisher
// active; the on_publish backend said no; a client that wanted to play,
// not publish (slabcast plays over HTTP only); a protocol error before the
// media began (a handshake, a request or tracks that make no sense); too
// many connections at once.
var RefusalReasons = []string{"no_stream", "not_live", "password", "busy", "denied", "play", "protocol", "full"}

// EndReasons say how an accepted session ended: the publisher stopped; it
// sent nothing for source_timeout; what it sent could not be read; the
// stream was removed or the daemon stopped.
var EndReasons = []string{"eof", "stalled", "error", "stopped"}

var (
	refused [3][8]atomic.Uint64
	ended   [3][4]atomic.Uint64
)

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

// CountRefused counts a publisher of proto refused for reason (one of
// RefusalReasons).
func CountRefused(proto, reason string) {
	if p, r := indexOf(PublishProtocols, proto), indexOf(RefusalReasons, reason); p >= 0 && r >= 0 {
		refused[p][r].Add(1)
	}
}

// CountEnded counts a session of proto that ended for reason (one of
// EndReasons).
func CountEnded(proto, reason string) {
	if p, r := indexOf(PublishProtocols, proto), indexOf(EndReasons, reason); p >= 0 && r >= 0 {
		ended[p][r].Add(1)
	}
}

// Refused returns how many publishers of proto were refused for reason.
func Refused(proto, reason string) uint64 {
	if p, r := indexOf(PublishProtocols, proto), indexOf(RefusalReasons, reason); p >= 0 && r >= 0 {
		return refused[p][r].Load()
	}
	return 0
}

// Ended returns how many sessions of proto ended for reason.
func Ended(proto, reason string) uint64 {
	if p, r := indexOf(PublishProtocols, proto), indexOf(EndReasons, reason); p >= 0 && r >= 0 {
		return ended[p][r].Load()
	}
	return 0
}

// RefusalReason names the reason of an error of Stream.Publish.
func RefusalReason(err error) string {
	switch {
	case errors.Is(err, ErrNotLive):
		return "not_live"
	case errors.Is(err, ErrPassword):
		return "password"
	case errors.Is(err, ErrBusy):
		return "busy"
	case errors.Is(err, ErrDenied):
		return "denied"
	}
	return "protocol"
}
