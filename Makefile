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

PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
LIBDIR  ?= $(PREFIX)/lib
INCDIR  ?= $(PREFIX)/include/kvitt
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
BASE_CFLAGS = -std=gnu11 -g $(OPT) $(WARN) -I. -D_GNU_SOURCE -fstack-protector-strong
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null) -ldl -lpthread -lm
TEST_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(TEST_PKGS) 2>/dev/null)
TEST_LIBS   := $(shell $(PKG_CONFIG) --libs $(TEST_PKGS) 2>/dev/null)

SAN ?= 0
ifeq ($(SAN),1)
BUILD   := build/san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
# same -O2 as the plain build, so both flavours see the same warnings
else
BUILD   := build
SANFLAGS :=
endif

ALL_CFLAGS = $(BASE_CFLAGS) $(SANFLAGS) $(PKG_CFLAGS) $(CFLAGS)
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

.PHONY: all test check test-plain test-san bench install uninstall clean \
        golden-update demo deps fuzz install-udev install-udev-unbind check-headers tests-build
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
$(LIB_CORE):    $(call obj,$(CORE_SRC)) | $(BUILD)/empty.o ; $(archive)
$(LIB_SIM):     $(call obj,$(SIM_SRC)) | $(BUILD)/empty.o ; $(archive)
$(LIB_TEST):    $(call obj,$(TESTLIB_SRC)) | $(BUILD)/empty.o ; $(archive)

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
deps:
	@sh .ci/install-deps

# ---- tests ---------------------------------------------------------------
test check: deps
	@$(MAKE) --no-print-directory test-plain
	@$(MAKE) --no-print-directory test-san

test-plain: tests-build
	@sh tests/run.sh $(BUILD) plain

test-san:
	@$(MAKE) --no-print-directory SAN=1 tests-build
	@sh tests/run.sh build/san sanitizers

# ---- benchmarks (figures, never pass/fail on time) -----------------------
bench: deps $(KVITT) $(BENCHES) $(SYNCCOUNT)
	@sh tests/bench.sh $(BUILD)

# ---- golden files: the only way to change fixtures/ ----------------------
golden-update: $(KVITT)
	@sh tests/golden-update.sh $(BUILD)

# ---- fuzzing (clang + libFuzzer) -----------------------------------------
FUZZ_SECONDS ?= 60
fuzz:
	@sh tests/fuzz/run.sh $(FUZZ_SECONDS)

# ---- demo: a whole payment on the built-in simulator + virtual printer ----
demo: deps $(KVITT)
	@sh tests/demo.sh $(BUILD)

# ---- headers compile on their own ---------------------------------------
check-headers:
	@for h in escpos/*.h drivers/*.h src/*/*.h sim/*.h; do \
	  [ -f "$$h" ] || continue; \
	  echo "#include \"$$h\"" | $(CC) $(ALL_CFLAGS) -x c -fsyntax-only - || exit 1; \
	done; echo "headers ok"

# ---- install -------------------------------------------------------------
install: $(KVITT)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCDIR)/escpos $(DESTDIR)$(INCDIR)/drivers
	install -m 0755 $(KVITT) $(DESTDIR)$(BINDIR)/kvitt
	install -m 0644 $(LIB_ESCPOS) $(LIB_DRIVERS) $(LIB_CORE) $(DESTDIR)$(LIBDIR)/
	install -m 0644 escpos/*.h $(DESTDIR)$(INCDIR)/escpos/
	install -m 0644 drivers/*.h $(DESTDIR)$(INCDIR)/drivers/
	for d in vipps config journal doc flow serve printer vprinter; do \
	  install -d $(DESTDIR)$(INCDIR)/src/$$d && install -m 0644 src/$$d/*.h $(DESTDIR)$(INCDIR)/src/$$d/ || exit 1; \
	done
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig
	printf 'prefix=%s\nincludedir=%s\nlibdir=%s\n\nName: kvitt\nDescription: Vipps MobilePay at the till: ESC/POS encoder, printer drivers, payment client and till flow\nVersion: 0.1.0\nRequires.private: $(PKGS)\nCflags: -I$${includedir}\nLibs: -L$${libdir} -lkvitt -lkvdrivers -lkvescpos\n' \
	  '$(PREFIX)' '$(INCDIR)' '$(LIBDIR)' > $(DESTDIR)$(LIBDIR)/pkgconfig/kvitt.pc
	install -d $(DESTDIR)$(UNITDIR)
	sed 's#/usr/local/bin/kvitt#$(BINDIR)/kvitt#g' src/serve/kvitt.service > $(DESTDIR)$(UNITDIR)/kvitt.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/kvitt.service

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/kvitt
	rm -f $(DESTDIR)$(LIBDIR)/libkvescpos.a $(DESTDIR)$(LIBDIR)/libkvdrivers.a $(DESTDIR)$(LIBDIR)/libkvitt.a
	rm -rf $(DESTDIR)$(INCDIR)
	rm -f $(DESTDIR)$(UNITDIR)/kvitt.service $(DESTDIR)$(LIBDIR)/pkgconfig/kvitt.pc

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
