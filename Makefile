# Convenience targets. `make demo` and `make test` are the two commands in README.

CARGO ?= cargo
# Debian packages the build and the tests need (see README).
DEB_BUILD_DEPS := build-essential pkg-config libssl-dev libpam0g-dev
DEB_TEST_DEPS := python3 curl openssl systemd systemd-container debootstrap procps pamtester passwd mandoc
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: deps demo test build release lint

# Install whatever Debian packages are missing (nothing when all are there).
deps:
	@missing=$$(for p in $(DEB_BUILD_DEPS) $(DEB_TEST_DEPS); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

build: deps
	$(CARGO) build --release

demo: build
	./target/release/postern demo

test: deps
	$(CARGO) test

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings
