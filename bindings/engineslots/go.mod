module github.com/engine-slots/engine-slots/bindings/engineslots

go 1.21
