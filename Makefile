# kvitt: top-level Makefile.
#
# Every module is a folder whose .c files are picked up by wildcard, so adding
# a source file never needs a Makefile edit:
#   escpos/   -> libkvescpos.a   (pure ESC/POS encoder, decoder, renderer)
#   drivers/  -> libkvdrivers.a  (transports: usb, lp, tcp, serial, virtual)
#   src/**/   -> libkvitt.a      (payment core, journal, config, flow, daemon)
#   sim/      -> libkvsim.a      (the payment API simulator)
#   src/cli/  -> kvitt           (the program: one file per subcommand)
#   tests/test_*.c  -> one cmocka suite each, tests/lib/*.c shared helpers
#
# Two build flavours share the sources: build/ (plain, -O2) and build/san/
# (AddressSanitizer + UndefinedBehaviorSanitizer).  `make test` runs the
# suites in both.

VERSION := 0.1.0
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
LIBDIR  ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
INCDIR  ?= $(INCLUDEDIR)/kvitt
MANDIR  ?= $(PREFIX)/share/man
DOCDIR  ?= $(PREFIX)/share/doc/kvitt
UDEVDIR ?= /etc/udev/rules.d
UNITDIR ?= $(PREFIX)/lib/systemd/system
DESTDIR ?=

CC      ?= cc
PKG_CONFIG ?= pkg-config
PKGS      := libusb-1.0 libcurl libcjson libqrencode openssl libmicrohttpd sqlite3 libpng freetype2 libpq
# zbar is dlopen()ed by the renderer when a QR code is scanned (verify-qr);
# its headers come with libzbar-dev. Tests call it directly.
TEST_PKGS := cmocka umockdev-1.0 zbar

OPT     ?= -O2
WARN    := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wstrict-prototypes -Wformat=2
BASE_CFLAGS = -std=gnu11 -g $(OPT) $(WARN) -I. -D_GNU_SOURCE -fstack-protector-strong \
              -DKV_VERSION='"$(VERSION)"'
# These run pkg-config once, when make starts.  A target that first installs
# Debian packages (demo, test, bench, fuzz, deb) therefore builds in a second
# make, started after the install, which reads pkg-config afresh.
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null) -ldl -lpthread -lm
TEST_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(TEST_PKGS) 2>/dev/null)
TEST_LIBS   := $(shell $(PKG_CONFIG) --libs $(TEST_PKGS) 2>/dev/null)
ifeq ($(PKG_CFLAGS),)
ifeq ($(filter deps deps-% demo test check bench fuzz deb check-deb check-fresh clean,$(MAKECMDGOALS)),)
$(info kvitt: pkg-config does not find the build packages ($(PKGS)); 'make deps' installs them)
endif
endif

SAN ?= 0
ifeq ($(SAN),1)
BUILD   := build/san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
# same -O2 as the plain build, so both flavours see the same warnings
else
BUILD   := build
SANFLAGS :=
endif

ALL_CFLAGS = $(BASE_CFLAGS) $(SANFLAGS) $(PKG_CFLAGS) $(CPPFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(SANFLAGS) $(LDFLAGS)

ESCPOS_SRC  := $(sort $(wildcard escpos/*.c))
DRIVERS_SRC := $(sort $(wildcard drivers/*.c))
CORE_SRC    := $(sort $(filter-out src/cli/%,$(wildcard src/*.c src/*/*.c)))
SIM_SRC     := $(sort $(wildcard sim/*.c))
CLI_SRC     := $(sort $(wildcard src/cli/*.c))
TESTLIB_SRC := $(sort $(wildcard tests/lib/*.c))
TEST_SRC    := $(sort $(wildcard tests/test_*.c))
BENCH_SRC   := $(sort $(wildcard tests/bench_*.c))
FUZZ_SRC    := $(sort $(wildcard tests/fuzz/fuzz_*.c))

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

# The cashier page's files, built into the program as byte arrays.
WEB_FILES := src/serve/web/index.html src/serve/web/app.css src/serve/web/app.js
WEB_GEN   := $(BUILD)/gen/web_assets.c
WEB_OBJ   := $(BUILD)/obj/gen/web_assets.o
LIB_ESCPOS  := $(BUILD)/libkvescpos.a
LIB_DRIVERS := $(BUILD)/libkvdrivers.a
LIB_CORE    := $(BUILD)/libkvitt.a
LIB_SIM     := $(BUILD)/libkvsim.a
LIB_TEST    := $(BUILD)/libkvtest.a
# Link order: dependants first.
LIBS_ALL    := $(LIB_CORE) $(LIB_SIM) $(LIB_DRIVERS) $(LIB_ESCPOS)
KVITT       := $(BUILD)/kvitt
TESTS       := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))
BENCHES     := $(patsubst tests/%.c,$(BUILD)/tests/%,$(BENCH_SRC))

.PHONY: all test check test-plain test-san bench bench-run install uninstall clean \
        golden-update demo demo-run deps deps-build deps-test deps-fuzz deps-pkg \
        fuzz install-udev install-udev-unbind check-headers tests-build man deb \
        check-fresh check-deb
.DEFAULT_GOAL := all
.SECONDARY:

all: $(KVITT)

# Archives: an empty module still yields a valid (empty) archive.
define archive
	@mkdir -p $(dir $@)
	@rm -f $@
	$(AR) rcs $@ $^ $(if $^,,$(BUILD)/empty.o)
endef

$(BUILD)/empty.o:
	@mkdir -p $(dir $@)
	echo 'typedef int kv_empty_unit;' | $(CC) $(ALL_CFLAGS) -x c -c -o $@ -

$(LIB_ESCPOS):  $(call obj,$(ESCPOS_SRC)) | $(BUILD)/empty.o ; $(archive)
$(LIB_DRIVERS): $(call obj,$(DRIVERS_SRC)) | $(BUILD)/empty.o ; $(archive)
$(LIB_CORE):    $(call obj,$(CORE_SRC)) $(WEB_OBJ) | $(BUILD)/empty.o ; $(archive)
$(LIB_SIM):     $(call obj,$(SIM_SRC)) | $(BUILD)/empty.o ; $(archive)
$(LIB_TEST):    $(call obj,$(TESTLIB_SRC)) | $(BUILD)/empty.o ; $(archive)

$(WEB_GEN): $(WEB_FILES) src/serve/web/gen-assets.sh
	@mkdir -p $(dir $@)
	sh src/serve/web/gen-assets.sh $@
$(WEB_OBJ): $(WEB_GEN)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/obj/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(TEST_CFLAGS) -MMD -MP -c -o $@ $<

$(KVITT): $(call obj,$(CLI_SRC)) $(LIBS_ALL)
	$(CC) $(ALL_LDFLAGS) -o $@ $(call obj,$(CLI_SRC)) $(LIBS_ALL) $(PKG_LIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(LIB_TEST) $(LIBS_ALL)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIB_TEST) $(LIBS_ALL) $(PKG_LIBS) $(TEST_LIBS)

tests-build: $(KVITT) $(TESTS)

# The benchmarks' sync counter (LD_PRELOAD shim; never part of kvitt).
SYNCCOUNT := $(BUILD)/tests/synccount.so
$(SYNCCOUNT): tests/preload/synccount.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -fPIC -shared -o $@ $< -ldl -lpthread

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# ---- dependencies --------------------------------------------------------
# Each task installs only its own set of Debian packages (.ci/install-deps;
# the reasons are in docs/development.md), then builds in a second make.
deps deps-build:
	@sh .ci/install-deps build
deps-test:
	@sh .ci/install-deps test
deps-fuzz:
	@sh .ci/install-deps fuzz
deps-pkg:
	@sh .ci/install-deps pkg

# The sub-makes that build (make test, make demo, make bench) use every
# CPU unless make was given -j itself.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
PAR   = $(if $(findstring -j,$(MAKEFLAGS))$(findstring jobserver,$(MAKEFLAGS)),,-j$(JOBS))

# ---- tests ---------------------------------------------------------------
# Both flavours are built first, then their suites share one pool of
# runners (tests/run.sh; KVITT_JOBS at a time).
test check: deps-test
	@$(MAKE) $(PAR) --no-print-directory tests-build
	@$(MAKE) $(PAR) --no-print-directory SAN=1 tests-build
	@bash tests/run.sh $(BUILD) plain build/san sanitizers

test-plain: tests-build
	@bash tests/run.sh $(BUILD) plain

test-san:
	@$(MAKE) $(PAR) --no-print-directory SAN=1 tests-build
	@bash tests/run.sh build/san sanitizers

# ---- benchmarks (figures, never pass/fail on time) -----------------------
bench: deps-test
	@$(MAKE) $(PAR) --no-print-directory bench-run
bench-run: $(KVITT) $(BENCHES) $(SYNCCOUNT)
	@sh tests/bench.sh $(BUILD)

# ---- golden files: the only way to change fixtures/ ----------------------
golden-update: $(KVITT)
	@sh tests/golden-update.sh $(BUILD)

# ---- fuzzing (clang + libFuzzer) -----------------------------------------
FUZZ_SECONDS ?= 60
fuzz: deps-fuzz
	@sh tests/fuzz/run.sh $(FUZZ_SECONDS)

# ---- demo: a whole payment on the built-in simulator + virtual printer ----
demo: deps-build
	@$(MAKE) $(PAR) --no-print-directory demo-run
demo-run: $(KVITT)
	@sh tests/demo.sh $(BUILD)

# ---- headers compile on their own ---------------------------------------
check-headers:
	@for h in escpos/*.h drivers/*.h src/*/*.h sim/*.h; do \
	  [ -f "$$h" ] || continue; \
	  echo "#include \"$$h\"" | $(CC) $(ALL_CFLAGS) -x c -fsyntax-only - || exit 1; \
	done; echo "headers ok"

# ---- man pages (scdoc) ---------------------------------------------------
# man/NAME.SECTION.scd -> build/man/NAME.SECTION; one kvitt-COMMAND.1 per line
# of src/cli/commands.def (tests/test_man.c checks that).
MAN_SRC   := $(sort $(wildcard man/*.scd))
MAN_PAGES := $(patsubst man/%.scd,build/man/%,$(MAN_SRC))
SCDOC     ?= scdoc

man: $(MAN_PAGES)

# kvitt(1)'s command list comes from commands.def (the @COMMANDS@ line).
build/man/%: man/%.scd src/cli/commands.def
	@mkdir -p $(dir $@)
	@command -v $(SCDOC) >/dev/null 2>&1 || { echo "kvitt: scdoc is missing (make deps-pkg)" >&2; exit 1; }
	sed -n 's/^KV_CMD([^,]*, *"\([^"]*\)", *"\(.*\)")$$/*\1*\n\t\2; see *kvitt-\1*(1).\n/p' src/cli/commands.def > $@.cmds
	sed -e '/^@COMMANDS@$$/{r $@.cmds' -e 'd}' $< | $(SCDOC) > $@.tmp && mv $@.tmp $@ && rm -f $@.cmds

# ---- install -------------------------------------------------------------
# Installed the way C libraries are: headers flat in $(INCDIR) (include them
# as <kvitt/encoder.h>; their own "escpos/x.h"-style includes are rewritten
# to "x.h", found beside them), static libraries and kvitt.pc in $(LIBDIR),
# man pages, the README and LICENSE in $(DOCDIR) with the topic files in
# $(DOCDIR)/docs (so the README's links work), the systemd unit.
HDR_DIRS    := escpos drivers src/vipps src/config src/journal src/doc src/flow src/util src/certify src/proxy src/report \
               src/serve src/printer src/vprinter
# Internal to their module (NAME_int.h, internal.h, fdio.h): not installed.
HDR_PRIVATE := %_int.h %/internal.h drivers/fdio.h
HDR_ALL     := $(sort $(foreach d,$(HDR_DIRS),$(wildcard $(d)/*.h)))
# A header that includes a module's internals is internal too.
HDR_USES_INT = $(shell grep -l '^[[:space:]]*\#[[:space:]]*include[[:space:]]*"[^"]*_int\.h"' $(HDR_ALL) /dev/null 2>/dev/null)
HDR_PUBLIC  = $(filter-out $(HDR_PRIVATE) $(HDR_USES_INT),$(HDR_ALL))
DOCS        := README.md LICENSE
DOCS_TOPICS := $(sort $(wildcard docs/*.md))
DOCS_IMAGES := $(sort $(wildcard docs/img/*.png))
# Every installed header starts with the licence's SPDX line.
SPDX        := /* SPDX-License-Identifier: MIT */

install: $(KVITT) $(LIB_ESCPOS) $(LIB_DRIVERS) $(LIB_CORE) $(MAN_PAGES)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCDIR) \
	  $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(DOCDIR)/docs $(DESTDIR)$(UNITDIR)
	install -m 0755 $(KVITT) $(DESTDIR)$(BINDIR)/kvitt
	install -m 0644 $(LIB_ESCPOS) $(LIB_DRIVERS) $(LIB_CORE) $(DESTDIR)$(LIBDIR)/
	@set -e; for h in $(HDR_PUBLIC); do \
	  out=$(DESTDIR)$(INCDIR)/$$(basename $$h); \
	  { head -n1 $$h | grep -q 'SPDX-License-Identifier' || echo '$(SPDX)'; \
	    sed -E 's@^([[:space:]]*#[[:space:]]*include[[:space:]]+)"(escpos|drivers|sim|src/[a-z_]+)/([A-Za-z0-9_]+\.h)"@\1"\3"@' $$h; \
	  } > "$$out.kvitt-new"; \
	  chmod 0644 "$$out.kvitt-new"; mv "$$out.kvitt-new" "$$out"; \
	done; echo "installed $(words $(HDR_PUBLIC)) headers in $(DESTDIR)$(INCDIR)"
	printf 'prefix=%s\nincludedir=%s\nlibdir=%s\n\nName: kvitt\nDescription: Vipps MobilePay at the till: ESC/POS encoder, printer drivers, payment client and till flow\nVersion: %s\nRequires: %s\nCflags: -I$${includedir}\nLibs: -L$${libdir} -lkvitt -lkvdrivers -lkvescpos -ldl -lpthread -lm\n' \
	  '$(PREFIX)' '$(INCLUDEDIR)' '$(LIBDIR)' '$(VERSION)' '$(PKGS)' > $(DESTDIR)$(LIBDIR)/pkgconfig/kvitt.pc
	install -m 0644 $(filter build/man/%.1,$(MAN_PAGES)) $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 $(filter build/man/%.5,$(MAN_PAGES)) $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 $(DOCS) $(DESTDIR)$(DOCDIR)/
	install -m 0644 $(DOCS_TOPICS) $(DESTDIR)$(DOCDIR)/docs/
	$(if $(DOCS_IMAGES),install -d $(DESTDIR)$(DOCDIR)/docs/img && install -m 0644 $(DOCS_IMAGES) $(DESTDIR)$(DOCDIR)/docs/img/)
	sed -e 's#/usr/local/bin/kvitt#$(BINDIR)/kvitt#g' \
	    -e 's#/usr/local/share/doc/kvitt#$(DOCDIR)#g' src/serve/kvitt.service > $(DESTDIR)$(UNITDIR)/kvitt.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/kvitt.service

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/kvitt
	rm -f $(DESTDIR)$(LIBDIR)/libkvescpos.a $(DESTDIR)$(LIBDIR)/libkvdrivers.a $(DESTDIR)$(LIBDIR)/libkvitt.a
	rm -rf $(DESTDIR)$(INCDIR) $(DESTDIR)$(DOCDIR)
	rm -f $(patsubst build/man/%.1,$(DESTDIR)$(MANDIR)/man1/%.1,$(filter build/man/%.1,$(MAN_PAGES)))
	rm -f $(patsubst build/man/%.5,$(DESTDIR)$(MANDIR)/man5/%.5,$(filter build/man/%.5,$(MAN_PAGES)))
	rm -f $(DESTDIR)$(UNITDIR)/kvitt.service $(DESTDIR)$(LIBDIR)/pkgconfig/kvitt.pc

# ---- packaging checks (slow; run by .ci/run, not by make test) ------------
# (`make install` itself is checked by tests/test_install.c in make test.)
# deb: dpkg-buildpackage and lintian.  check-deb: the packages unpacked and
# installed in a throwaway root.  check-fresh: `make demo` and `make test`
# from a fresh clone on a fresh machine.  docs/development.md has details.
deb: deps-pkg
	@sh tests/pkg/build-deb.sh
check-deb: deps-pkg
	@sh tests/pkg/check-deb.sh
check-fresh:
	@sh tests/pkg/check-fresh.sh

install-udev:
	install -d $(DESTDIR)$(UDEVDIR)
	install -m 0644 udev/60-kvitt-printers.rules $(DESTDIR)$(UDEVDIR)/
	@echo "installed $(DESTDIR)$(UDEVDIR)/60-kvitt-printers.rules; run: udevadm control --reload && udevadm trigger"

# Opt-in: keep usblp off printers driven through libusb (see the file's header).
install-udev-unbind:
	install -d $(DESTDIR)$(UDEVDIR)
	install -m 0644 udev/61-kvitt-usblp-unbind.rules $(DESTDIR)$(UDEVDIR)/
	@echo "installed $(DESTDIR)$(UDEVDIR)/61-kvitt-usblp-unbind.rules; run: udevadm control --reload, then replug the printer"

clean:
	rm -rf build
