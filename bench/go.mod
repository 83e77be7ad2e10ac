module github.com/drainhttp/drain/bench

go 1.26.0

require (
	golang.org/x/net v0.60.0
	golang.org/x/sys v0.48.0 // indirect
	golang.org/x/text v0.42.0 // indirect
)

require github.com/drainhttp/drain v0.0.0-00010101000000-000000000000

replace github.com/drainhttp/drain => ../
