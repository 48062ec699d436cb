package config

import "strings"

// What slabcast knows of Flussonic's configuration beyond what it acts on:
// the names it skips with a warning rather than refuse, the directives it
// must not skip silently, and the input schemes it reads.

// knownName reports whether name is a directive or option of Flussonic's
// configuration: a property of its OpenAPI schema (flussonic_names.go,
// generated) or a name of its older config syntax (legacyNames).
func knownName(name string) bool { return flussonicNames[name] }

var flussonicNames = func() map[string]bool {
	m := map[string]bool{}
	for _, n := range strings.Fields(flussonicSchemaNames + legacyNames) {
		m[n] = true
	}
	return m
}()

// legacyNames are the directives of Flussonic's config file that its API
// schema does not name (the file's own spellings: listeners, _off switches,
// older names), seen in installer defaults, templates and documentation.
const legacyNames = `
	add_audio_only api_allowed_from auth auth_backend backup cache
	cluster_ingest cluster_key comment dash_off domains drm dvr dvr_offline
	dvr_replicate edit_auth event_sink file hls_off hls_scte35 http_allowed_from
	https iptv keep_sessions live logrequests logs loglevel max_bitrate
	max_retry_timeout max_sessions meta mpegts mpegts_ac3 mpegts_off mpegts_pids
	notify on_play on_publish output_audio peer plugin position prepush
	protocols provider pulsedb push pushes retry_limit rewrite rproto rtmp
	rtmp_off rtsp rtsp_off server_id server_names session_log source srt
	srt_play srt_publish static template thumbnails title total_bandwidth
	transcoder transponder url_prefix urls view_auth vod webrtc_abr webrtc_off
`

// narrowing are the directives that narrow who may watch or publish a
// stream. Until slabcast enforces one, a stream that has it is not started:
// skipping it would serve to anyone what the operator protected.
var narrowing = map[string]bool{
	"on_play": true, "auth": true, "auth_backend": true, "drm": true, "domains": true,
	"allowed_countries": true, "http_allowed_from": true, "password": true, "protocols": true,
}

// InputSchemes are the input URL schemes slabcast reads: udp:// and rtp://,
// Flussonic's other spellings of udp:// (udp2://, and mpts-udp:// for a
// multi-program input, with program=), MPEG-TS over HTTP (tshttp://, and
// http:// for the same), HLS pull (hls://), RTSP pull (rtsp://), SRT
// (srt://, caller or listener), RTMP pull (rtmp://) and publish:// (the stream accepts a
// publisher, as a live stream does). An input of any other scheme is skipped with
// a warning until slabcast reads it.
var InputSchemes = []string{"udp", "rtp", "udp2", "mpts-udp", "tshttp", "http", "hls", "publish", "rtsp", "srt", "rtmp"}

// ReadsScheme reports whether slabcast reads inputs of scheme (without
// "://"), as InputSchemes lists them, in any case.
func ReadsScheme(scheme string) bool {
	for _, s := range InputSchemes {
		if strings.EqualFold(s, scheme) {
			return true
		}
	}
	return false
}
