# Tributary: the two commands a newcomer needs are `make run` and `make test`.
GO ?= go
BIN := bin/tributary

.PHONY: build run test bench lint clean

build:
	$(GO) build -o $(BIN) ./cmd/tributary

# The main job on embedded defaults: the demo pipeline loads examples/data
# (CSV, with three broken rows) into an SQLite file, examples/out.db.
run: build
	cd examples && ../$(BIN) run people-to-sqlite.yaml

# Every test, against the real services listed in README.md.
test:
	$(GO) vet ./...
	$(GO) test -race -timeout 40m ./...

bench: build
	bash bench/run.sh

lint:
	gofmt -l . | (! grep .)
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@latest ./...

clean:
	rm -rf bin examples/out.db examples/out examples/*.state.json
