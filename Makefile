# hop — the two commands a fresh Debian 12 machine (as root) needs:
#   make demo   set up, build the sample Flask app (store path, closure, record), then deploy it
#               behind nginx in a private systemd host and fetch it (DEMO_PORT, default 8080)
#   make test   set up, then build and pass the whole test suite
SHELL := /bin/bash
export PATH := /opt/swift/usr/bin:$(PATH)
SWIFT_FLAGS ?=
HOP := .build/debug/hop
DEMO_HOME ?= /var/lib/hop
DEMO_PORT ?= 8080

.PHONY: setup build demo test bench clean

setup:
	@bash scripts/setup.sh

build: setup
	swift build $(SWIFT_FLAGS)

demo: build
	@HOP_HOME=$(DEMO_HOME) $(HOP) seed import busybox patchelf python
	@HOP_HOME=$(DEMO_HOME) $(HOP) build fixtures/apps/flask-app --find-links fixtures/wheelhouse
	@HOP_HOME=$(DEMO_HOME) $(HOP) closure flask-app
	@HOP_HOME=$(DEMO_HOME) $(HOP) show flask-app
	@HOP_HOME=$(DEMO_HOME) $(HOP) host up --http-port $(DEMO_PORT)
	@HOP_HOME=$(DEMO_HOME) HOP_FIND_LINKS=$(CURDIR)/fixtures/wheelhouse $(HOP) deploy fixtures/apps/flask-app --watch 2
	@HOP_HOME=$(DEMO_HOME) $(HOP) ps flask-app
	@echo "GET http://flask-app.localhost:$(DEMO_PORT)/ ->"; curl -sS --max-time 5 -H 'Host: flask-app.localhost' http://127.0.0.1:$(DEMO_PORT)/
	@echo "(stop everything with: HOP_HOME=$(DEMO_HOME) $(HOP) host down)"

# Integration tests share one HOP_HOME (seeds imported once), removed afterwards.
test: build
	@home=$$(mktemp -d /tmp/hop-test-home.XXXXXX); \
	trap 'HOP_HOME="$$home" $(HOP) host down >/dev/null 2>&1; rm -rf --one-file-system "$$home"' EXIT; \
	swift build --build-tests $(SWIFT_FLAGS) && \
	HOP_TEST_HOME=$$home swift test --skip-build --no-parallel $(SWIFT_FLAGS)

bench: setup
	swift build -c release
	bash bench/build-bench.sh
	bash bench/sbom-bench.sh
	bash bench/nar-bench.sh
	bash bench/deploy-bench.sh
	bash bench/server-bench.sh
	bash bench/data-bench.sh
	bash bench/backup-bench.sh
	bash bench/push-bench.sh
	bash bench/tenant-bench.sh

clean:
	rm -rf .build
