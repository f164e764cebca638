# Tributary: the two commands a newcomer needs are `make run` and `make test`.
GO ?= go
BIN := bin/tributary

.PHONY: build run pipeline test bench lint clean

build:
	$(GO) build -o $(BIN) ./cmd/tributary

# The main job on embedded defaults: the server on the embedded SQLite store
# (./tributary-data), with the demo pipeline created and run on first start:
# the example CSV (three broken rows among 1,000) into an SQLite file.
run: build
	$(BIN) serve --demo

# The same demo pipeline headless, without a server: examples/out.db.
pipeline: build
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
	rm -rf bin tributary-data examples/out.db examples/out examples/*.state.json
