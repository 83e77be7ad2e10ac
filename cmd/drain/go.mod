module github.com/drainhttp/drain/cmd/drain

go 1.26.8

require github.com/drainhttp/drain v0.0.0-00010101000000-000000000000

require (
	github.com/HdrHistogram/hdrhistogram-go v1.4.0
	github.com/go-analyze/charts v0.6.4
	github.com/google/go-cmp v0.7.0
	go.uber.org/goleak v1.3.0
	golang.org/x/net v0.60.0
	golang.org/x/sys v0.50.0
	golang.org/x/text v0.42.0 // indirect
)
