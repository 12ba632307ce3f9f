module github.com/engine-slots/engine-slots/bindings/go

go 1.21
