// Package feed sends an MPEG-TS clip the way a live encoder would: paced by
// its PCR and, looped, without a seam. `slabcast feed` and the benchmarks
// under bench/ send with it.
//
// NewClip validates a clip and computes, once, everything sending it needs:
// each packet's due time on the stream's 27 MHz clock (PCR packets of the
// PCR PID at their PCR, packets between two PCRs by linear interpolation),
// and for looping the pass length and what changes per pass. Pass k has
// k pass lengths added to every PCR, PTS and DTS and its continuity
// counters carried on per PID. The pass is long enough that no timestamp
// of any audio or video stream goes back and the data rate over the loop
// point stays within the clip's own; for a clip whose longest stream is its
// video (see testdata/make-clips.sh) the video continues frame by frame.
//
// A Clip is read two ways:
//
//   - a Looper yields it packet by packet with due times, and when looping
//     bridges the gap between the last PCR of a pass and the first of the
//     next with PCR-only packets at the clip's usual PCR interval; Send
//     writes a Looper's packets seven to a datagram, each datagram when its
//     first packet is due;
//   - a Buffer holds several passes back to back, a whole number of
//     datagrams, and Advance moves all of it forward in place by as many
//     passes, without allocating: a flood sender sends the same memory
//     forever and the receiver still sees one continuous stream. A Buffer
//     carries no PCR-only packets: its PCR gap at the loop point is as long
//     as the loop needs.
//
// Buffers: NewClip keeps the slice it is given (the caller must not change
// it afterwards) and LoadClip the file it reads; Looper.Next copies into
// the caller's packet; a Buffer owns its memory, and the datagrams it
// returns stay valid, their bytes unchanged, until its next Advance.
//
// Concurrency: a Clip does not change once made and may be shared by any
// number of goroutines, Loopers and Buffers. A Looper or a Buffer is used
// by one goroutine at a time.
package feed
