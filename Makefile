# hop — the two commands a fresh Debian 12 machine (as root) needs:
#   make demo   set up, build hop and install it as a Debian package (/usr/bin/hop), then with `hop`
#               from PATH build the sample Flask app (store path, closure, record) and deploy it
#               behind nginx in a private systemd host and fetch it (DEMO_PORT, default 8080)
#   make test   set up, then build and pass the whole test suite
# Installing hop otherwise: `make deb` (.build/hop_VERSION_amd64.deb), `make install PREFIX=/usr/local`.
SHELL := /bin/bash
export PATH := /opt/swift/usr/bin:$(PATH)
SWIFT_FLAGS ?=
HOP := .build/debug/hop
DEMO_HOME ?= /var/lib/hop
DEMO_PORT ?= 8080
CONFIG ?= release
# A release hop links the Swift runtime and Foundation statically: it starts in ~16 ms instead of
# ~28 (no 20 shared libraries to load and relocate), which every command and hop settle pays.
RELEASE_FLAGS := $(if $(filter release,$(CONFIG)),--static-swift-stdlib,)
PREFIX ?= /usr/local
DESTDIR ?=

.PHONY: setup build demo test bench clean install deb

setup:
	@bash scripts/setup.sh

build: setup
	swift build $(SWIFT_FLAGS)

# hop as a program: bin/hop, its Swift runtime, its Nix library, man pages, completions.
install: setup
	swift build -c $(CONFIG) --product hop $(RELEASE_FLAGS)
	@bash scripts/package.sh install --config $(CONFIG) --prefix $(PREFIX) $(if $(DESTDIR),--destdir $(DESTDIR))

deb: setup
	swift build -c $(CONFIG) --product hop $(RELEASE_FLAGS)
	@bash scripts/package.sh deb --config $(CONFIG)

demo: setup
	swift build -c $(CONFIG) --product hop $(RELEASE_FLAGS)
	@bash scripts/package.sh deb --config $(CONFIG) --out .build/hop-demo.deb
	@HOP_HOME=$(DEMO_HOME) dpkg -i .build/hop-demo.deb >/dev/null && echo "installed $$(command -v hop) $$(hop --version)"
	@cd / && HOP_HOME=$(DEMO_HOME) hop build $(CURDIR)/fixtures/apps/flask-app --find-links $(CURDIR)/fixtures/wheelhouse
	@cd / && HOP_HOME=$(DEMO_HOME) hop closure flask-app
	@cd / && HOP_HOME=$(DEMO_HOME) hop show flask-app
	@cd / && HOP_HOME=$(DEMO_HOME) hop host up --http-port $(DEMO_PORT)
	@cd / && HOP_HOME=$(DEMO_HOME) HOP_FIND_LINKS=$(CURDIR)/fixtures/wheelhouse hop deploy $(CURDIR)/fixtures/apps/flask-app --watch 2
	@cd / && HOP_HOME=$(DEMO_HOME) hop ps flask-app
	@echo "GET http://flask-app.localhost:$(DEMO_PORT)/ ->"; curl -sS --max-time 5 -H 'Host: flask-app.localhost' http://127.0.0.1:$(DEMO_PORT)/
	@echo "(stop everything with: hop host down; remove hop with: dpkg -r hop — apps' data stays in $(DEMO_HOME))"

# Unit tests run in parallel; the integration tests (their own target) run serially and share one
# HOP_HOME (seeds imported once), removed afterwards.
test: build
	@home=$$(mktemp -d /tmp/hop-test-home.XXXXXX); \
	trap 'HOP_HOME="$$home" $(HOP) host down >/dev/null 2>&1; rm -rf --one-file-system "$$home"' EXIT; \
	swift build --build-tests $(SWIFT_FLAGS) && swift build --product generate-manual $(SWIFT_FLAGS) && \
	HOP_TEST_HOME=$$home swift test --skip-build --parallel --skip '^IntegrationTests\.' $(SWIFT_FLAGS) && \
	HOP_TEST_HOME=$$home swift test --skip-build --no-parallel --filter '^IntegrationTests\.' $(SWIFT_FLAGS)

# The fast-path table first (it runs nar-, server-, deploy- and backup-bench and collects their rows);
# then the other benches. The release hop is linked last, statically, as the package ships it.
bench: setup
	swift build -c release
	swift build -c release --product hop --static-swift-stdlib
	bash bench/fast-path.sh
	bash bench/build-bench.sh
	bash bench/sbom-bench.sh
	bash bench/data-bench.sh
	bash bench/push-bench.sh
	bash bench/tenant-bench.sh
	bash bench/metrics-bench.sh

clean:
	rm -rf .build
