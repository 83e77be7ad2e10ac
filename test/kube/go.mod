module github.com/drainhttp/drain/test/kube

go 1.25.0
