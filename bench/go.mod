module github.com/drainhttp/drain/bench

go 1.25.0
