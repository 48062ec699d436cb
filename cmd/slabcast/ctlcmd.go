package main

// slabcast ctl: the control socket client for people (tables) and scripts
// (--json). Each subcommand sends one request (update sends two: show, then
// the merged stream) and prints the answer.

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/slabcast/slabcast/config"
	"github.com/slabcast/slabcast/ctl"
	"github.com/slabcast/slabcast/pipeline"
)

const ctlUsage = `Usage: slabcast ctl [--socket PATH | -c FILE] [--json] [--timeout D] COMMAND [ARGS]

Talks to a running daemon over its control socket. Changes are applied at
once and written to the daemon's config file.

Commands:
  list                         every stream: type, status, active input
  show NAME                    one stream's settings and status
  add NAME URL... [OPTION...]  add a stream
  update NAME [OPTION...]      change a stream; inputs given replace its inputs
  remove NAME                  stop a stream and remove it from the config
  stats [NAME]                 counters of every stream, or all of one stream's
  reload                       re-read the config file and apply the difference

The socket is PATH, else the ctl directive of FILE, else ` + config.DefaultCtl + `.
--json prints the daemon's JSON answer as it is. "slabcast ctl COMMAND -h"
explains a command. Exit status 1 on any error.

Options:
`

const ctlStreamUsage = `Usage: slabcast ctl %[1]s NAME %[2]s [OPTION...]

%[3]s

Inputs: a URL (udp://GROUP:PORT, rtp://…), input=URL or --input URL; each may
be followed by its options, as on a config input line:
%[4]sStream options, as KEY=VALUE or --key-with-dashes VALUE:
  type=static|ondemand
%[5]s
Example:
  slabcast ctl %[1]s news udp://239.0.0.1:1234 priority=1 udp://239.0.0.2:1234 clients_timeout=30

Options:
`

// ctlOptionHelp lists the settings of scope for the usage text, one line
// each: "  key=METAVAR  help". A stream setting that is also an input
// option, given as KEY=VALUE right after an input, is that input's.
func ctlOptionHelp(scope config.Scope) string {
	var b strings.Builder
	for _, set := range config.Settings {
		if set.Scope != scope {
			continue
		}
		help := set.Help
		if set.Types == config.OnDemand {
			help += " (ondemand streams)"
		}
		fmt.Fprintf(&b, "  %-26s %s\n", set.Name+"="+set.Kind.Metavar(), help)
	}
	return b.String()
}

// ctlGlobal are the options every subcommand takes, before or after it.
type ctlGlobal struct {
	socket, config string
	json           bool
	timeout        time.Duration
}

// register adds the options to fs, keeping values already parsed.
func (g *ctlGlobal) register(fs *flag.FlagSet) {
	if g.timeout == 0 {
		g.timeout = 30 * time.Second
	}
	fs.StringVar(&g.socket, "socket", g.socket, "control socket `PATH`")
	fs.StringVar(&g.config, "c", g.config, "take the socket path from the ctl directive of config `FILE`")
	fs.BoolVar(&g.json, "json", g.json, "print the daemon's JSON answer")
	fs.DurationVar(&g.timeout, "timeout", g.timeout, "give up on the daemon after `D`")
}

// ctlFlags makes a flag set that reports -h as flag.ErrHelp and other
// mistakes as errors, printing nothing itself.
func ctlFlags(name string, g *ctlGlobal) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	g.register(fs)
	return fs
}

// ctlPrintUsage writes a usage text and the flags of fs to w.
func ctlPrintUsage(w io.Writer, fs *flag.FlagSet, text string) {
	fmt.Fprint(w, text)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// ctlParseInterleaved parses fs's flags anywhere among the words of args,
// calling word for each word in order.
func ctlParseInterleaved(fs *flag.FlagSet, args []string, word func(string) error) error {
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		args = fs.Args()
		if len(args) == 0 {
			return nil
		}
		if err := word(args[0]); err != nil {
			return err
		}
		args = args[1:]
	}
}

// runCtl is `slabcast ctl`; main prints the error it returns.
func runCtl(args []string) error { return runCtlTo(args, os.Stdout) }

// runCtlTo is `slabcast ctl` writing its output (and -h help) to stdout.
func runCtlTo(args []string, stdout io.Writer) error {
	var g ctlGlobal
	fs := ctlFlags("ctl", &g)
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		ctlPrintUsage(stdout, fs, ctlUsage)
		return err
	}
	if err != nil {
		return fmt.Errorf("ctl: %w (see slabcast ctl -h)", err)
	}
	if fs.NArg() == 0 {
		return errors.New("ctl: missing COMMAND (see slabcast ctl -h)")
	}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	switch cmd {
	case "list", "reload":
		return ctlSimple(&g, cmd, rest, stdout)
	case "show", "remove":
		return ctlNamed(&g, cmd, rest, stdout)
	case "stats":
		return ctlStats(&g, rest, stdout)
	case "add", "update":
		return ctlStream(&g, cmd, rest, stdout)
	case "help":
		ctlPrintUsage(stdout, fs, ctlUsage)
		return nil
	}
	return fmt.Errorf("ctl: unknown command %q (see slabcast ctl -h)", cmd)
}

// ctlWords parses a subcommand that takes only global flags and words.
func ctlWords(g *ctlGlobal, cmd, usage string, args []string, stdout io.Writer) ([]string, error) {
	fs := ctlFlags(cmd, g)
	var words []string
	err := ctlParseInterleaved(fs, args, func(w string) error { words = append(words, w); return nil })
	if errors.Is(err, flag.ErrHelp) {
		ctlPrintUsage(stdout, fs, usage)
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("ctl %s: %w (see slabcast ctl %s -h)", cmd, err, cmd)
	}
	return words, nil
}

func ctlSimple(g *ctlGlobal, cmd string, args []string, stdout io.Writer) error {
	usage := "Usage: slabcast ctl list\n\nLists every stream: its type, status (running, waiting, down) and active input.\n\nOptions:\n"
	if cmd == "reload" {
		usage = "Usage: slabcast ctl reload\n\nMakes the daemon re-read its config file and apply the difference, as on\nSIGHUP: streams not changed keep running untouched.\n\nOptions:\n"
	}
	words, err := ctlWords(g, cmd, usage, args, stdout)
	if err != nil {
		return err
	}
	if len(words) > 0 {
		return fmt.Errorf("ctl %s: unexpected argument %q", cmd, words[0])
	}
	resp, err := ctlDo(g, ctl.Request{Cmd: cmd}, stdout)
	if err != nil || g.json {
		return err
	}
	if cmd == "list" {
		ctlPrintList(stdout, resp.Streams)
	} else {
		ctlPrintChange(stdout, resp.Change)
	}
	return nil
}

func ctlNamed(g *ctlGlobal, cmd string, args []string, stdout io.Writer) error {
	usage := "Usage: slabcast ctl show NAME\n\nPrints a stream's settings (every one, defaults included) and status.\n\nOptions:\n"
	if cmd == "remove" {
		usage = "Usage: slabcast ctl remove NAME\n\nStops a stream and removes it from the config file.\n\nOptions:\n"
	}
	words, err := ctlWords(g, cmd, usage, args, stdout)
	if err != nil {
		return err
	}
	if len(words) != 1 {
		return fmt.Errorf("ctl %s: want one stream NAME, got %d arguments", cmd, len(words))
	}
	req := ctl.Request{Cmd: cmd}
	req.Name = words[0]
	resp, err := ctlDo(g, req, stdout)
	if err != nil || g.json {
		return err
	}
	if cmd == "remove" {
		fmt.Fprintf(stdout, "removed %s\n", words[0])
		return nil
	}
	ctlPrintShow(stdout, resp.Stream, resp.Status)
	return nil
}

func ctlStats(g *ctlGlobal, args []string, stdout io.Writer) error {
	usage := "Usage: slabcast ctl stats [NAME]\n\nWithout NAME, a table of every stream's main counters; with NAME, all of\nthat stream's counters: TS errors by TR 101 290 indicator, and per PID.\n\nOptions:\n"
	words, err := ctlWords(g, "stats", usage, args, stdout)
	if err != nil {
		return err
	}
	if len(words) > 1 {
		return fmt.Errorf("ctl stats: want at most one stream NAME, got %d arguments", len(words))
	}
	req := ctl.Request{Cmd: ctl.CmdStats}
	if len(words) == 1 {
		req.Name = words[0]
	}
	resp, err := ctlDo(g, req, stdout)
	if err != nil || g.json {
		return err
	}
	if req.Name != "" && len(resp.Stats) == 1 {
		ctlPrintStatsDetail(stdout, resp.Stats[0])
	} else {
		ctlPrintStatsTable(stdout, resp.Stats)
	}
	return nil
}

// ctlStreamArgs collects the stream of an add or update command line.
type ctlStreamArgs struct {
	s       ctl.StreamJSON
	inputs  []ctl.InputJSON
	set     map[string]bool // stream options given ("type" and the settings)
	inInput bool            // the last thing given was an input or one of its options
}

func (a *ctlStreamArgs) addInput(u string) error {
	if u == "" {
		return errors.New("empty input URL")
	}
	a.inputs = append(a.inputs, ctl.InputJSON{URL: u})
	a.inInput = true
	return nil
}

// option applies KEY=VALUE (or a --key flag, asStream set) to the stream or,
// for input options, to the last input. A key that is both (source_timeout)
// is the input's right after an input, else the stream's.
func (a *ctlStreamArgs) option(key, value string, asStream bool) error {
	key = strings.ReplaceAll(key, "-", "_")
	if key == "input" || key == "url" {
		return a.addInput(value)
	}
	if key == "type" {
		if value != ctl.TypeStatic && value != ctl.TypeOnDemand && value != ctl.TypeLive {
			return fmt.Errorf("type %q: want static, ondemand or live", value)
		}
		a.s.Type = value
		a.inInput = false
		a.set[key] = true
		return nil
	}
	inSet, streamSet := config.Lookup(config.PerInput, key), config.Lookup(config.PerStream, key)
	set := streamSet
	if inSet != nil && (streamSet == nil || a.inInput && !asStream) {
		set = inSet
	}
	if set == nil {
		return fmt.Errorf("unknown option %q (see -h)", key)
	}
	v, err := ctlValue(set, value)
	if err != nil {
		return err
	}
	if set == inSet {
		if !a.inInput || asStream {
			return fmt.Errorf("%s=%s: an input option must follow its input URL", key, value)
		}
		in := &a.inputs[len(a.inputs)-1]
		if in.Settings == nil {
			in.Settings = map[string]string{}
		}
		in.Settings[key] = v
		return nil
	}
	if a.s.Settings == nil {
		a.s.Settings = map[string]string{}
	}
	a.s.Settings[key] = v
	a.set[key] = true
	a.inInput = false
	return nil
}

// ctlValue turns a command-line value of set into the protocol's: numbers
// as they are, sizes with K, M or G into bytes by the config's own rule.
func ctlValue(set *config.Setting, s string) (string, error) {
	switch {
	case set.Kind == config.Flag:
		if s != "true" && s != "false" {
			return "", fmt.Errorf("%s=%s: want true or false", set.Name, s)
		}
		return s, nil
	case set.Never && s == "false":
		return s, nil
	case set.Kind == config.Bytes:
		n, ok := config.ParseSize(s)
		if !ok || n > config.MaxMemory {
			return "", fmt.Errorf("%s=%s: not a size in bytes (like 4194304 or 4M)", set.Name, s)
		}
		return strconv.FormatInt(n, 10), nil
	case set.Kind.Numeric() && !ctlIsNumber(s):
		return "", fmt.Errorf("%s=%s: not a number", set.Name, s)
	}
	return s, nil
}

func ctlIsNumber(s string) bool {
	return s != "" && (s[0] == '-' || '0' <= s[0] && s[0] <= '9') && json.Valid([]byte(s))
}

func ctlStream(g *ctlGlobal, cmd string, args []string, stdout io.Writer) error {
	a := &ctlStreamArgs{set: map[string]bool{}}
	fs := ctlFlags(cmd, g)
	fs.Func("input", "add an input `URL` (repeatable)", a.addInput)
	fs.Func("type", "`static` or ondemand", func(v string) error { return a.option("type", v, true) })
	for _, set := range config.Settings {
		if set.Scope == config.PerStream {
			name := strings.ReplaceAll(set.Name, "_", "-")
			fs.Func(name, "`"+set.Kind.Metavar()+"`: "+set.Help, func(v string) error { return a.option(set.Name, v, true) })
		}
	}
	var name string
	err := ctlParseInterleaved(fs, args, func(w string) error {
		switch k, v, isKV := strings.Cut(w, "="); {
		case name == "" && !strings.Contains(w, "://") && !isKV:
			name = w
			return nil
		case name == "":
			return errors.New("the stream NAME comes first")
		case strings.Contains(w, "://") && (!isKV || strings.Contains(k, "://")):
			return a.addInput(w)
		case isKV:
			return a.option(k, v, false)
		}
		return fmt.Errorf("unexpected argument %q: want a URL or KEY=VALUE", w)
	})
	if errors.Is(err, flag.ErrHelp) {
		what := "Adds a stream: the daemon starts it at once (an ondemand one at the first\nclient) and writes it to its config file. Options left out get the config\nfile's defaults."
		form := "URL..."
		if cmd == "update" {
			what = "Changes a stream. Options left out keep their values; inputs, if any are\ngiven, replace all of the stream's inputs. The stream restarts with the\nnew settings and the config file is rewritten."
			form = "[URL...]"
		}
		ctlPrintUsage(stdout, fs, fmt.Sprintf(ctlStreamUsage, cmd, form, what,
			ctlOptionHelp(config.PerInput), ctlOptionHelp(config.PerStream)))
		return err
	}
	if err != nil {
		return fmt.Errorf("ctl %s: %w (see slabcast ctl %s -h)", cmd, err, cmd)
	}
	if name == "" {
		return fmt.Errorf("ctl %s: missing stream NAME (see slabcast ctl %s -h)", cmd, cmd)
	}
	req := ctl.Request{Cmd: cmd}
	if cmd == "add" {
		req.StreamJSON = a.s
		req.Inputs = a.inputs
		req.Name = name
	} else {
		if len(a.inputs) == 0 && len(a.set) == 0 {
			return fmt.Errorf("ctl update: nothing to change for %s (see slabcast ctl update -h)", name)
		}
		// Merge with what the stream has now.
		show := ctl.Request{Cmd: ctl.CmdShow}
		show.Name = name
		cur, err := ctlDo(&ctlGlobal{socket: g.socket, config: g.config, timeout: g.timeout}, show, io.Discard)
		if err != nil {
			return err
		}
		if cur.Stream == nil {
			return fmt.Errorf("ctl update: the daemon did not show %s", name)
		}
		req.StreamJSON = *cur.Stream
		if len(a.inputs) > 0 {
			req.Input, req.Inputs = "", a.inputs
		}
		if a.set["type"] {
			req.Type = a.s.Type
		}
		if req.Settings == nil {
			req.Settings = map[string]string{}
		}
		for k, v := range a.s.Settings {
			req.Settings[k] = v
		}
	}
	resp, err := ctlDo(g, req, stdout)
	if err != nil || g.json {
		return err
	}
	done := "added"
	if cmd == "update" {
		done = "updated"
	}
	fmt.Fprintf(stdout, "%s %s\n", done, name)
	ctlPrintShow(stdout, resp.Stream, nil)
	return nil
}

// ctlSocket is the socket path the options choose.
func ctlSocket(g *ctlGlobal) (string, error) {
	switch {
	case g.socket != "":
		return g.socket, nil
	case g.config != "":
		cfg, err := config.Load(g.config, parseOptions)
		if err != nil {
			return "", err
		}
		return cfg.Ctl, nil
	}
	return config.DefaultCtl, nil
}

// ctlDo sends one request; with --json it prints the answer as it came,
// refusals included.
func ctlDo(g *ctlGlobal, req ctl.Request, stdout io.Writer) (ctl.Response, error) {
	path, err := ctlSocket(g)
	if err != nil {
		return ctl.Response{}, err
	}
	c, err := ctl.Dial(path, g.timeout)
	if err != nil {
		return ctl.Response{}, fmt.Errorf("%w (is slabcast running? --socket PATH or -c FILE picks the socket)", err)
	}
	defer c.Close()
	resp, err := c.Do(req)
	if g.json && resp.Raw != nil {
		fmt.Fprintf(stdout, "%s\n", resp.Raw)
	}
	return resp, err
}

func ctlTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

func ctlPrintList(w io.Writer, streams []ctl.StreamStatus) {
	if len(streams) == 0 {
		fmt.Fprintln(w, "no streams")
		return
	}
	tw := ctlTable(w)
	fmt.Fprintln(tw, "NAME\tTYPE\tSTATUS\tINPUTS\tACTIVE INPUT")
	for _, s := range streams {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", s.Name, s.Type, s.Status, len(s.Inputs), ctlDash(s.ActiveInput))
	}
	tw.Flush()
}

func ctlDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func ctlPrintShow(w io.Writer, s *ctl.StreamJSON, st *ctl.StreamStatus) {
	if s == nil {
		return
	}
	tw := ctlTable(w)
	fmt.Fprintf(tw, "name\t%s\n", s.Name)
	fmt.Fprintf(tw, "type\t%s\n", s.Type)
	if st != nil {
		fmt.Fprintf(tw, "status\t%s\n", st.Status)
		if st.Error != "" {
			fmt.Fprintf(tw, "not started\t%s\n", st.Error)
		}
		fmt.Fprintf(tw, "active input\t%s\n", ctlDash(st.ActiveInput))
	}
	for _, in := range s.Inputs {
		line := in.URL
		for _, set := range config.Settings {
			if v, ok := in.Settings[set.Name]; ok && set.Scope == config.PerInput {
				line += " " + set.Name + "=" + v
			}
		}
		fmt.Fprintf(tw, "input\t%s\n", line)
	}
	if s.Input != "" {
		fmt.Fprintf(tw, "input\t%s\n", s.Input)
	}
	for _, set := range config.Settings {
		if v, ok := s.Settings[set.Name]; ok && set.Scope == config.PerStream {
			fmt.Fprintf(tw, "%s\t%s\n", set.Name, v)
		}
	}
	tw.Flush()
}

func ctlPrintChange(w io.Writer, ch *ctl.ChangeJSON) {
	if ch == nil || len(ch.Added)+len(ch.Removed)+len(ch.Changed)+len(ch.Globals) == 0 {
		fmt.Fprintln(w, "reloaded: nothing changed")
		return
	}
	var parts []string
	for _, p := range []struct {
		what  string
		names []string
	}{{"added", ch.Added}, {"removed", ch.Removed}, {"changed", ch.Changed}} {
		if len(p.names) > 0 {
			parts = append(parts, p.what+" "+strings.Join(p.names, ", "))
		}
	}
	if len(parts) == 0 {
		parts = append(parts, "no stream changed")
	}
	fmt.Fprintf(w, "reloaded: %s\n", strings.Join(parts, "; "))
	if len(ch.Globals) > 0 {
		fmt.Fprintf(w, "restart slabcast to apply: %s\n", strings.Join(ch.Globals, ", "))
	}
}

func ctlSum(m map[string]uint64) (n uint64) {
	for _, v := range m {
		n += v
	}
	return n
}

func ctlPrintStatsTable(w io.Writer, stats []ctl.StreamStats) {
	if len(stats) == 0 {
		fmt.Fprintln(w, "no streams")
		return
	}
	tw := ctlTable(w)
	fmt.Fprintln(tw, "NAME\tSTATUS\tUPTIME\tBITRATE\tIN\tTS LOST\tTS ERRORS\tKERNEL DROPS\tCLIENTS\tSEGMENTS")
	for _, s := range stats {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\n", s.Name, s.Status, ctlUptime(s.UptimeSeconds),
			ctlBitrate(s.BitrateBps), ctlBytes(s.Counter("bytes_in")), s.Counter("ts_lost"), ctlSum(s.TSErrors),
			s.Counter("kernel_drops"), s.Clients, s.Counter("segments"))
	}
	tw.Flush()
}

func ctlPrintStatsDetail(w io.Writer, s ctl.StreamStats) {
	tw := ctlTable(w)
	row := func(k string, v any) { fmt.Fprintf(tw, "%s\t%v\n", k, v) }
	row("name", s.Name)
	row("type", s.Type)
	row("status", s.Status)
	row("active input", ctlDash(s.ActiveInput))
	if p := s.Publisher; p != nil {
		row("publisher", fmt.Sprintf("%s (%s) since %s", p.Addr, p.Protocol, p.Since.Format(time.RFC3339)))
	}
	row("uptime", ctlUptime(s.UptimeSeconds))
	row("bitrate", ctlBitrate(s.BitrateBps))
	for _, c := range s.Counters {
		switch label := ctlCounterLabel(c); c.Name {
		case "bytes_in":
			row(label, fmt.Sprintf("%d (%s)", c.N, ctlBytes(c.N)))
		default:
			row(label, c.N)
		}
	}
	for _, k := range ctlSortedKeys(s.TSErrors) {
		row("ts error "+k, s.TSErrors[k])
	}
	row("clients", s.Clients)
	tw.Flush()
	if len(s.PIDs) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw = ctlTable(w)
	fmt.Fprintln(tw, "PID\tCODEC\tPACKETS\tLOST")
	for _, p := range s.PIDs {
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\n", p.PID, ctlDash(p.Codec), p.Packets, p.Lost)
	}
	tw.Flush()
}

// ctlCounterLabel names a counter in the stats listing: its label in
// pipeline.Counters, else its key with spaces ("kernel drops", "filtered
// sync"), so a counter a newer daemon sends is listed too.
func ctlCounterLabel(c ctl.Count) string {
	for _, info := range pipeline.Counters {
		if info.Name == c.Name && info.Group == c.Group && info.Label != "" {
			return info.Label
		}
	}
	name := strings.ReplaceAll(c.Name, "_", " ")
	if c.Group != "" {
		return c.Group + " " + name
	}
	return name
}

func ctlSortedKeys(m map[string]uint64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func ctlUptime(sec float64) string {
	if sec <= 0 {
		return "-"
	}
	return (time.Duration(sec) * time.Second).String()
}

func ctlBitrate(bps uint64) string {
	switch {
	case bps >= 1e9:
		return fmt.Sprintf("%.2f Gbit/s", float64(bps)/1e9)
	case bps >= 1e6:
		return fmt.Sprintf("%.2f Mbit/s", float64(bps)/1e6)
	case bps >= 1e3:
		return fmt.Sprintf("%.1f kbit/s", float64(bps)/1e3)
	}
	return fmt.Sprintf("%d bit/s", bps)
}

func ctlBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
