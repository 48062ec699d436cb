// Package sender is the benchmarks' multicast load: a looped clip
// (feed.Buffer) sent to one or many groups from one thread pinned to a
// core, with sendmmsg, up to Batch datagrams a call, paced by a token
// bucket or flat out. With one group the socket is connected; with many,
// datagram i of the clip goes to every group in turn before datagram i+1,
// so one buffer serves every channel and each sees the clip's stream,
// continuous and seamless, at the same rate.
//
// It sends multicast only inside a private network namespace
// (internal/testnet): Socket refuses anywhere else. A Sender is used by one
// goroutine at a time.
package sender
