# Tributary: the two commands a newcomer needs are `make run` and `make test`.
GO ?= go
BIN := bin/tributary

.PHONY: build run pipeline test bench lint clean ui ui-client ui-client-check ui-test ui-e2e

build:
	$(GO) build -o $(BIN) ./cmd/tributary

# The main job on embedded defaults: the server on the embedded SQLite store
# (./tributary-data), with the demo pipeline created and run on first start:
# the example CSV (three broken rows among 1,000) into an SQLite file.
run: ui
	$(MAKE) build
	$(BIN) serve --demo

# The same demo pipeline headless, without a server: examples/out.db.
pipeline: build
	cd examples && ../$(BIN) run people-to-sqlite.yaml

# Every test, against the real services listed in README.md; the web UI's
# (typed client up to date, Vitest, then Chromium against a real server)
# first, as they take about a minute.
test: ui-test ui-e2e
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

# The web UI (ui/): built into ui/dist, which the binary embeds. Rebuilt only
# when its sources or dependencies changed.
NPM ?= npm
UI_SOURCES := $(shell find ui/src ui/public -type f 2>/dev/null) ui/index.html ui/package.json ui/tsconfig.json ui/vite.config.ts

ui/node_modules/.package-lock.json: ui/package-lock.json
	cd ui && $(NPM) ci --no-audit --no-fund

ui/dist/index.html: ui/node_modules/.package-lock.json $(UI_SOURCES)
	cd ui && $(NPM) run build

ui: ui/dist/index.html

# The typed API client, generated from the server's OpenAPI document.
ui-client: ui/node_modules/.package-lock.json
	@mkdir -p out
	$(GO) run ./ui/tools/openapi > out/openapi.json
	cd ui && npx openapi-typescript ../out/openapi.json -o src/api/schema.d.ts

# Fails when an API change was not followed by `make ui-client`.
ui-client-check: ui/node_modules/.package-lock.json
	@mkdir -p out
	$(GO) run ./ui/tools/openapi > out/openapi.json
	cd ui && npx openapi-typescript ../out/openapi.json -o ../out/schema.d.ts >/dev/null
	@diff -u ui/src/api/schema.d.ts out/schema.d.ts >/dev/null || \
		{ echo "ui/src/api/schema.d.ts is stale: run make ui-client and commit it"; diff -u ui/src/api/schema.d.ts out/schema.d.ts | head -40; exit 1; }

ui-test: ui-client-check
	cd ui && npx tsc -b && $(NPM) test

# Chromium (Debian's package) drives the built UI served by a fresh
# `tributary serve --demo`; screenshots land in screenshots/.
ui-e2e: ui
	$(MAKE) build
	cd ui && TRIBUTARY_BIN=../$(BIN) SCREENSHOTS=../screenshots $(NPM) run e2e
