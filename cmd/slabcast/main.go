// Command slabcast is the headend daemon and its tools: `slabcast run` joins
// the configured MPEG-TS inputs and serves them as HLS and HTTP MPEG-TS;
// `slabcast feed` sends a TS file as a paced UDP stream.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
)

const usage = `slabcast: a live-streaming headend: multicast MPEG-TS in, HLS and HTTP MPEG-TS out.

Usage:
  slabcast run [-c FILE]                       run the daemon (default config /etc/slabcast/slabcast.conf)
  slabcast feed FILE.ts udp://HOST:PORT [--loop] [--iface NAME] [--ttl N]
                                               send a TS file, paced by its PCR, as UDP
  slabcast ctl [--socket PATH] [--json] list|show|add|update|remove|stats|reload ...
                                               the control client
  slabcast check [-c FILE]                     check this host's prerequisites: OK, or FIX with the command
  slabcast COMMAND -h                          help for one command
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "run":
		err = runDaemon(args)
	case "feed":
		err = runFeed(args)
	case "check":
		err = runCheck(args)
	case "ctl":
		err = runCtl(args)
	case "-h", "-help", "--help", "help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "slabcast: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if errors.Is(err, errCheckFailed) {
		os.Exit(1) // the findings say what is wrong
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "slabcast: %v\n", err)
		os.Exit(1)
	}
}
