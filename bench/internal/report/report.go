// Package report writes what the benchmarks' results files share: the
// machine and run they describe, the headings of their markdown tables and
// the words of their goal lines; and reads tables back for the tests.
package report

import (
	"fmt"
	"runtime"
	"strings"
	"time"
)

// Machine describes where a benchmark ran.
type Machine struct {
	CPUModel string
	CPUs     int    // cores this process may use
	Kernel   string // uname: system, release, machine
	Load     string // /proc/loadavg's 1, 5 and 15 minute averages
}

// Run is what every results file says about its run. Reports embed it.
type Run struct {
	Machine   Machine
	LoadAfter string
	Go        string
	Start     time.Time
	Took      time.Duration
	Build     string // what the measured binary was built from, "" unsaid
	Command   string // how to reproduce the run
}

// Begin describes a run starting now.
func Begin() Run { return Run{Machine: ReadMachine(), Go: runtime.Version(), Start: time.Now()} }

// End records the run's length and the load after it.
func (r *Run) End() {
	r.Took = time.Since(r.Start)
	r.LoadAfter = ReadMachine().Load
}

// Info returns r, for code that holds a report embedding it.
func (r *Run) Info() *Run { return r }

// Header writes the title, the introduction and the run's description;
// tools are the versions of the other programs measured.
func (r *Run) Header(b *strings.Builder, title, intro string, tools ...string) {
	m := r.Machine
	fmt.Fprintf(b, "# %s\n\n%s\n\n", title, intro)
	fmt.Fprintf(b, "- Machine: %s, %d cores, %s\n", OrUnknown(m.CPUModel), m.CPUs, OrUnknown(m.Kernel))
	fmt.Fprintf(b, "- Load average (1/5/15 min): %s before, %s after; other work may share the machine\n",
		OrUnknown(m.Load), OrUnknown(r.LoadAfter))
	fmt.Fprintf(b, "- Run: %s, %s", r.Start.UTC().Format("2006-01-02 15:04 MST"), r.Go)
	for _, t := range tools {
		fmt.Fprintf(b, ", %s", OrUnknown(t))
	}
	fmt.Fprintf(b, ", took %s\n", r.Took.Round(100*time.Millisecond))
	if r.Build != "" {
		fmt.Fprintf(b, "- slabcast built from %s\n", r.Build)
	}
	if r.Command != "" {
		fmt.Fprintf(b, "- Reproduce (as root, from the repository root): `%s`\n", r.Command)
	}
}

// TableHead writes a markdown table's heading row and rule. align has a
// letter per column: l for text, r for figures.
func TableHead(b *strings.Builder, align string, cols ...string) {
	if len(align) != len(cols) {
		panic(fmt.Sprintf("report: %d alignments for %d columns", len(align), len(cols)))
	}
	b.WriteString("| " + strings.Join(cols, " | ") + " |\n|")
	for _, a := range align {
		if a == 'r' {
			b.WriteString("--:|")
		} else {
			b.WriteString("---|")
		}
	}
	b.WriteString("\n")
}

// Met is the verdict word of a goal line.
func Met(ok bool) string {
	if ok {
		return "met"
	}
	return "not met"
}

// OnOff says a setting.
func OnOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// OrUnknown is s, or "unknown" when empty.
func OrUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// cells splits one markdown table row into its trimmed cells.
func cells(line string) []string {
	parts := strings.Split(strings.Trim(line, "|"), "|")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

// Table returns the markdown table of md whose heading row starts with
// head, as cells per line (the rule included).
func Table(md, head string) [][]string {
	var rows [][]string
	for line := range strings.Lines(md) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, head) || len(rows) > 0 && strings.HasPrefix(line, "|") {
			rows = append(rows, cells(line))
			continue
		}
		if len(rows) > 0 {
			break
		}
	}
	return rows
}
