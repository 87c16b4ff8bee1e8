# Convenience targets. `make demo` and `make test` are the two commands in README.

CARGO ?= cargo
# Debian packages the build and the tests need (see README).
DEB_BUILD_DEPS := build-essential pkg-config libssl-dev libpam0g-dev
DEB_TEST_DEPS := python3 curl openssl systemd systemd-container debootstrap procps pamtester passwd mandoc fail2ban
# ... and what "make deb" and "make rpm" need (.ci/packages runs both).
DEB_PKG_DEPS := debhelper dpkg-dev lintian rpm
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: deps build-deps pkg-deps demo test build release lint deb rpm

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
deps:
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
test: deps
	$(CARGO) test --lib --bins --tests

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

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
