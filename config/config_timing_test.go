package config

import (
	"os"
	"testing"
)

func BenchmarkParse(b *testing.B) {
	src, err := os.ReadFile("testdata/flussonic.conf")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(src)))
	var sink *Config
	for b.Loop() {
		c, err := Parse("flussonic.conf", src, Options{})
		if err != nil {
			b.Fatal(err)
		}
		sink = c
	}
	if len(sink.Streams) == 0 {
		b.Fatal("no streams")
	}
}
