module github.com/slabcast/slabcast

go 1.26.0

require (
	github.com/VictoriaMetrics/metrics v1.45.0
	github.com/asticode/go-astits v1.13.0
	github.com/cilium/ebpf v0.22.0
	github.com/valyala/fasthttp v1.78.0
	golang.org/x/sys v0.50.0
)

require (
	github.com/asticode/go-astikit v0.30.0 // indirect
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/molecule-man/go-brrr v1.3.1 // indirect
	github.com/valyala/bytebufferpool v1.0.0 // indirect
	github.com/valyala/fastrand v1.1.0 // indirect
	github.com/valyala/histogram v1.2.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
