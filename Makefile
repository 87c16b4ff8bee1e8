# Convenience targets. `make demo` and `make test` are the two commands in README.

CARGO ?= cargo
# Debian packages the build and the tests need (see README).
DEB_BUILD_DEPS := build-essential pkg-config libssl-dev libpam0g-dev
# The libraries of the unpacked Exim (tests/mta/fetch-exim.sh), installed: Exim is setuid
# root and re-executes itself to deliver, and a setuid program's loader ignores
# LD_LIBRARY_PATH, so the copies unpacked beside it serve only its first run.
EXIM_LIBS := libgnutls-dane0 libidn12 libnsl2 libdb5.3 libunbound8 libevent-2.1-7
DEB_TEST_DEPS := python3 python3-venv curl openssl systemd systemd-container debootstrap procps pamtester passwd libpam-cap mandoc fail2ban postfix $(EXIM_LIBS)
# ... and what "make deb" and "make rpm" need (.ci/packages runs both).
DEB_PKG_DEPS := debhelper dpkg-dev lintian rpm
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: deps build-deps pkg-deps demo test oracles pyclients build release lint deb rpm fuzz-smoke fuzz-build

# Install whatever of the named Debian packages is missing (nothing when all are there).
define install_missing
	@missing=$$(for p in $(1); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
endef

# Everything the tests need (the build dependencies included).
# Debian's postfix (tests/mta) is preseeded "No configuration": it then has no main.cf, so
# installing it starts no daemon (postfix.service needs that file) and nothing listens on
# port 25; the tests run an instance of their own.
deps:
	@dpkg-query -W -f='$${Status}\n' postfix 2>/dev/null | grep -q '^install ok installed' || \
		echo 'postfix postfix/main_mailer_type select No configuration' | $(SUDO) debconf-set-selections
	$(call install_missing,$(DEB_BUILD_DEPS) $(DEB_TEST_DEPS))

# Only what building needs: "make demo" installs no test tools.
build-deps:
	$(call install_missing,$(DEB_BUILD_DEPS))

pkg-deps:
	$(call install_missing,$(DEB_BUILD_DEPS) $(DEB_PKG_DEPS))

build: build-deps
	$(CARGO) build --release

demo: build
	./target/release/postern demo

# Unit and integration tests (doc tests: none; benches run with cargo bench).
# The oracles are fetched first (a no-op once there), so the interop tests run on a fresh
# machine instead of skipping.
test: deps oracles pyclients
	$(CARGO) test --lib --bins --tests

# Python client libraries from PyPI, pinned, in a venv under target/ (nothing installed
# system-wide): imapclient for tests/imap_resync_client.rs. Never fails: without them
# that test says SKIP.
IMAPCLIENT_VERSION := 3.0.1
pyclients:
	@target/pyenv/bin/python -c 'import imapclient, sys; sys.exit(imapclient.__version__ != "$(IMAPCLIENT_VERSION)")' 2>/dev/null || \
		{ python3 -m venv target/pyenv && target/pyenv/bin/pip install -q imapclient==$(IMAPCLIENT_VERSION); } || \
		echo "imapclient not installed: tests/imap_resync_client.rs will SKIP" 

# Courier-IMAP 5, Dovecot 2.3 and Exim 4 (for tests/mta_deliver.rs) from Debian, unpacked (never installed, nothing started)
# into /var/cache; the scripts never fail, and without them the oracle tests say SKIP.
oracles:
	@bash tests/courier/fetch-courier.sh
	@bash tests/dovecot/fetch-dovecot.sh
	@bash tests/mta/fetch-exim.sh

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

# Fuzz smoke run (CI calls it): every cargo-fuzz target in fuzz/ for FUZZ_SECONDS,
# FUZZ_JOBS at a time. A panic, a crash or one input taking over 10 s fails it; the input
# lands in fuzz/artifacts/TARGET/ and the log in fuzz/target/smoke/TARGET.log.
# cargo-fuzz needs nightly features: RUSTC_BOOTSTRAP=1 lets this stable toolchain take
# them (DESIGN.md §10). No sanitizer: the code fuzzed has no `unsafe` (nor has
# mail-parser: forbid(unsafe_code)), so AddressSanitizer would only slow the build and
# the runs; panics are what this looks for. 16 codegen units: a faster build.
FUZZ_TARGETS := imap_command pop3_command smap_command message userfile mutf7
FUZZ_SECONDS ?= 20
FUZZ_JOBS ?= 2
FUZZ := RUSTC_BOOTSTRAP=1 $(CARGO) fuzz
FUZZ_FLAGS := --sanitizer none --codegen-units 16

fuzz-smoke: fuzz-build
	@$(MAKE) --no-print-directory -j$(FUZZ_JOBS) $(addprefix fuzz-run-,$(FUZZ_TARGETS))
	@echo "fuzz-smoke: $(FUZZ_TARGETS): $(FUZZ_SECONDS) s each, no crash"

fuzz-build:
	@$(CARGO) fuzz --version >/dev/null 2>&1 || $(CARGO) install cargo-fuzz --locked
	cd fuzz && $(FUZZ) build $(FUZZ_FLAGS)

fuzz-run-%:
	@mkdir -p fuzz/target/smoke
	@if (cd fuzz && $(FUZZ) run $(FUZZ_FLAGS) $* -- -max_total_time=$(FUZZ_SECONDS) -timeout=10) \
		>fuzz/target/smoke/$*.log 2>&1; then \
		echo "fuzz $*: $$(grep -o 'Done [0-9]* runs in [0-9]* second(s)' fuzz/target/smoke/$*.log)"; \
	else \
		grep -m1 -A3 -E 'panicked at|ERROR: libFuzzer|ALARM' fuzz/target/smoke/$*.log; \
		tail -n 30 fuzz/target/smoke/$*.log; \
		echo "fuzz $*: FAILED (log: fuzz/target/smoke/$*.log)"; \
		exit 1; \
	fi

# Packages in target/packages. dpkg-buildpackage wants debian/ at the top of the tree;
# packaging/build-deb copies the tracked files to a temporary directory, puts
# packaging/debian there as debian/ and runs "dpkg-buildpackage -us -uc -b".
# POSTERN_PREBUILT=target/release/postern packages an existing binary instead of
# building one (cargo build --release --locked).
deb: pkg-deps
	packaging/build-deb target/packages

# rpmbuild -bb --nodeps on packaging/rpm/postern.spec, with a tarball of the work tree.
rpm: pkg-deps
	packaging/build-rpm target/packages
