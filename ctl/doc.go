// Package ctl is slabcast's control plane: the control socket's protocol
// (newline-delimited JSON, see proto.go), its server, which hands each
// request to the daemon's Backend, and its client.
//
// Requests are validated by package config's own parser, so the socket
// accepts exactly what the config file accepts, and stream settings travel
// under their config names as package config's table (config.Settings)
// lists them. The Server is safe for concurrent use and bounds what any one
// client may cost (connections, line length, time).
package ctl
