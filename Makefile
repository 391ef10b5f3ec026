# The two set-up commands of the README: `make demo` and `make test`. Both install what they need.
# Installing: `make install` (PREFIX, default /usr/local; DESTDIR for staging), `make uninstall`, `make deb`.
SWIFT ?= swift

# The version is written once, in Sources/Shared/ProgramSupport/ProductVersion.swift.
VERSION := $(shell sed -n 's/.*static let current = "\(.*\)"/\1/p' Sources/Shared/ProgramSupport/ProductVersion.swift)

PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
# /etc for PREFIX=/usr, else PREFIX/etc (where pasvd's units read their options).
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
BASH_COMPLETION_DIR ?= $(PREFIX)/share/bash-completion/completions
ZSH_COMPLETION_DIR ?= $(PREFIX)/share/zsh/site-functions
FISH_COMPLETION_DIR ?= $(PREFIX)/share/fish/vendor_completions.d
SYSTEMD_SYSTEM_UNIT_DIR ?= $(PREFIX)/lib/systemd/system
SYSTEMD_USER_UNIT_DIR ?= $(PREFIX)/lib/systemd/user

# Installed binaries: release-optimised, the Swift runtime linked in (they run without the toolchain). The
# distribution build has its own build path so it never fights the test build's -enable-testing flags;
# `make test` points both at .build-release to reuse its build.
DIST_BUILD_PATH ?= .build-dist
DIST_FLAGS ?= -c release --static-swift-stdlib
DIST_BUILD = $(SWIFT) build $(DIST_FLAGS) --build-path $(DIST_BUILD_PATH)
DIST_BIN = $(DIST_BUILD_PATH)/release
# Generated files (man pages, completions, units) before they are installed.
GEN = $(DIST_BUILD_PATH)/generated
# Man page date: the last commit's (reproducible), SOURCE_DATE_EPOCH when set.
MAN_DATE ?= $(shell if [ -n "$$SOURCE_DATE_EPOCH" ]; then date -u -d "@$$SOURCE_DATE_EPOCH" +%F; else git log -1 --format=%cs 2>/dev/null || date -u +%F; fi)

# Every file `make install` writes, relative to DESTDIR; `make uninstall` removes exactly these.
INSTALLED_FILES = \
	$(BINDIR)/ftptunnel \
	$(SBINDIR)/pasvd \
	$(MANDIR)/man1/ftptunnel.1 \
	$(MANDIR)/man5/ftptunnel.conf.5 \
	$(MANDIR)/man8/pasvd.8 \
	$(BASH_COMPLETION_DIR)/ftptunnel \
	$(BASH_COMPLETION_DIR)/pasvd \
	$(ZSH_COMPLETION_DIR)/_ftptunnel \
	$(ZSH_COMPLETION_DIR)/_pasvd \
	$(FISH_COMPLETION_DIR)/ftptunnel.fish \
	$(FISH_COMPLETION_DIR)/pasvd.fish \
	$(SYSTEMD_SYSTEM_UNIT_DIR)/pasvd.service \
	$(SYSTEMD_SYSTEM_UNIT_DIR)/pasvd.socket \
	$(SYSTEMD_SYSTEM_UNIT_DIR)/pasvd@.service \
	$(SYSTEMD_USER_UNIT_DIR)/ftptunnel@.service
# pasvd's default options and users file: installed only where none exist (an admin's are never overwritten),
# removed by uninstall only while they still equal the defaults.
CONFIG_FILES = pasvd.conf users

.PHONY: deps build release test fuzz demo bench clean dist install uninstall deb print-version print-installed-files

deps:
	@bash scripts/install-deps.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

# Debug and release-optimised test runs, the stress test, bounded fuzz runs, install and packages: scripts/test.sh.
test: deps
	@SWIFT=$(SWIFT) bash scripts/test.sh  # debug and release-optimised builds, fuzz, install, stress

# libFuzzer targets in .build-fuzz, FUZZ_SECONDS each (default 30): `FUZZ_SECONDS=600 make fuzz`.
fuzz: deps
	@SWIFT=$(SWIFT) bash scripts/fuzz.sh

demo: release
	@bash scripts/demo.sh

bench: release
	@bash Benchmarks/run.sh

print-version:
	@echo $(VERSION)

print-installed-files:
	@printf '%s\n' $(INSTALLED_FILES) $(addprefix $(SYSCONFDIR)/pasvd/,$(CONFIG_FILES))

# The binaries, then everything generated from them: man pages (swift-argument-parser's generate-manual, run on
# the built binaries; ftptunnel.conf.5 from the profile keyword table), completion scripts, units.
dist: deps
	@[ -n "$(VERSION)" ] || { echo "no version found in Sources/Shared/ProgramSupport/ProductVersion.swift" >&2; exit 1; }
	$(DIST_BUILD) --product ftptunnel
	$(DIST_BUILD) --product pasvd
	$(DIST_BUILD) --product profile-manual
	$(DIST_BUILD) --product generate-manual
	rm -rf $(GEN) && mkdir -p $(GEN)/man $(GEN)/units
	for tool in ftptunnel pasvd; do \
	  printf '#!/bin/sh\nexec $(CURDIR)/packaging/ascii-help.sh %s "$$@"\n' $(DIST_BIN)/$$tool >$(GEN)/$$tool-help && chmod +x $(GEN)/$$tool-help || exit 1; \
	done
	$(DIST_BIN)/generate-manual $(GEN)/ftptunnel-help --section 1 --date $(MAN_DATE) --output-directory $(GEN)/man
	$(DIST_BIN)/generate-manual $(GEN)/pasvd-help --section 8 --date $(MAN_DATE) --output-directory $(GEN)/man
	sed -i -e 's/^\.Os$$/.Os ftptunnel $(VERSION)/' -f packaging/tidy-mdoc.sed $(GEN)/man/ftptunnel.1 $(GEN)/man/pasvd.8
	sed -i -e '$$a\' $(GEN)/man/ftptunnel.1 $(GEN)/man/pasvd.8  # generate-manual ends without a newline
	cat packaging/ftptunnel.1.see-also >>$(GEN)/man/ftptunnel.1
	cat packaging/pasvd.8.see-also >>$(GEN)/man/pasvd.8
	$(DIST_BIN)/profile-manual --date $(MAN_DATE) > $(GEN)/man/ftptunnel.conf.5
	for shell in bash zsh fish; do \
	  for tool in ftptunnel pasvd; do \
	    $(DIST_BIN)/$$tool --generate-completion-script $$shell > $(GEN)/$$tool.$$shell || exit 1; \
	  done; \
	done
	for unit in pasvd.service pasvd.socket pasvd@.service ftptunnel@.service; do \
	  sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	    packaging/systemd/$$unit.in > $(GEN)/units/$$unit || exit 1; \
	done

install: dist
	install -D -m 0755 $(DIST_BIN)/ftptunnel $(DESTDIR)$(BINDIR)/ftptunnel
	install -D -m 0755 $(DIST_BIN)/pasvd $(DESTDIR)$(SBINDIR)/pasvd
	install -D -m 0644 $(GEN)/man/ftptunnel.1 $(DESTDIR)$(MANDIR)/man1/ftptunnel.1
	install -D -m 0644 $(GEN)/man/ftptunnel.conf.5 $(DESTDIR)$(MANDIR)/man5/ftptunnel.conf.5
	install -D -m 0644 $(GEN)/man/pasvd.8 $(DESTDIR)$(MANDIR)/man8/pasvd.8
	install -D -m 0644 $(GEN)/ftptunnel.bash $(DESTDIR)$(BASH_COMPLETION_DIR)/ftptunnel
	install -D -m 0644 $(GEN)/pasvd.bash $(DESTDIR)$(BASH_COMPLETION_DIR)/pasvd
	install -D -m 0644 $(GEN)/ftptunnel.zsh $(DESTDIR)$(ZSH_COMPLETION_DIR)/_ftptunnel
	install -D -m 0644 $(GEN)/pasvd.zsh $(DESTDIR)$(ZSH_COMPLETION_DIR)/_pasvd
	install -D -m 0644 $(GEN)/ftptunnel.fish $(DESTDIR)$(FISH_COMPLETION_DIR)/ftptunnel.fish
	install -D -m 0644 $(GEN)/pasvd.fish $(DESTDIR)$(FISH_COMPLETION_DIR)/pasvd.fish
	for unit in pasvd.service pasvd.socket pasvd@.service; do \
	  install -D -m 0644 $(GEN)/units/$$unit $(DESTDIR)$(SYSTEMD_SYSTEM_UNIT_DIR)/$$unit || exit 1; \
	done
	install -D -m 0644 $(GEN)/units/ftptunnel@.service $(DESTDIR)$(SYSTEMD_USER_UNIT_DIR)/ftptunnel@.service
	install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/pasvd
	for file in $(CONFIG_FILES); do \
	  mode=0644; [ $$file = users ] && mode=0600; \
	  [ -e $(DESTDIR)$(SYSCONFDIR)/pasvd/$$file ] || install -m $$mode packaging/etc/$$file $(DESTDIR)$(SYSCONFDIR)/pasvd/$$file || exit 1; \
	done

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED_FILES))
	for file in $(CONFIG_FILES); do \
	  target=$(DESTDIR)$(SYSCONFDIR)/pasvd/$$file; \
	  if [ -e $$target ]; then \
	    if cmp -s $$target packaging/etc/$$file; then rm -f $$target; else echo "kept $$target (changed since install)"; fi; \
	  fi; \
	done
	rmdir $(DESTDIR)$(SYSCONFDIR)/pasvd 2>/dev/null || true

# Two Debian packages in .build/deb/: ftptunnel_VERSION_ARCH.deb and pasvd_VERSION_ARCH.deb, from an install into a
# staging tree with Debian's paths (scripts/make-deb.sh).
DEB_DIR = .build/deb
deb:
	rm -rf $(DEB_DIR)/stage
	$(MAKE) install DESTDIR=$(CURDIR)/$(DEB_DIR)/stage PREFIX=/usr ZSH_COMPLETION_DIR=/usr/share/zsh/vendor-completions \
	  DIST_BUILD_PATH=$(DIST_BUILD_PATH) DIST_FLAGS="$(DIST_FLAGS)" MAN_DATE=$(MAN_DATE)
	VERSION=$(VERSION) bash scripts/make-deb.sh $(DEB_DIR)/stage $(DEB_DIR)

clean:
	rm -rf .build .build-release .build-fuzz .build-dist .build-systemd
