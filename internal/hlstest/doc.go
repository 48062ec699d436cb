// Package hlstest is test support for slabcast's end-to-end tests: a strict
// RFC 8216 media playlist parser with the checks slabcast promises (docs/SPEC.md
// §4), a playlist watcher, wrappers around ffmpeg/ffprobe (decode, probe,
// first-frame keyframe test), MPEG-TS byte checks on fetched segments, and a
// live ffmpeg test-signal sender.
//
// Nothing here sends multicast on its own: StartSender sends wherever its URL
// points. A test that gives it a multicast URL must run in a private network
// namespace, that is its package's TestMain calls testnet.Main and the test
// calls testnet.Require(t) before StartSender. This package's own tests only
// send to 127.0.0.1.
//
// Parsed playlists own their memory (Raw is a copy of the input). Functions
// are safe for concurrent use; a Sender's methods are too.
package hlstest
