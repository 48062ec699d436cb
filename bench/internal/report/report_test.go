package report

import (
	"strings"
	"testing"
	"time"
)

func TestHeaderAndTable(t *testing.T) {
	r := Run{Machine: Machine{CPUs: 2}, Go: "go1", Start: time.Unix(0, 0), Took: 1234 * time.Millisecond, Command: "slabbench x"}
	var b strings.Builder
	r.Header(&b, "Title", "Intro.", "nginx/1", "")
	TableHead(&b, "lr", "name", "figure")
	b.WriteString("| a | 1 |\n\nafter\n")
	out := b.String()
	for _, want := range []string{"# Title\n\nIntro.\n\n", "- Machine: unknown, 2 cores, unknown\n",
		"- Run: 1970-01-01 00:00 UTC, go1, nginx/1, unknown, took 1.2s\n", "`slabbench x`", "| name | figure |\n|---|--:|\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if rows := Table(out, "| name |"); len(rows) != 3 || rows[2][1] != "1" {
		t.Errorf("Table = %q", rows)
	}
}
