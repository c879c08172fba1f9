# corio - build, test, bench, install.
#
#   make                      library (static + shared), tools, tests
#   make test                 run the cmocka suite (each program under a timeout)
#   make test SANITIZE=address,undefined
#                             the same, built with those sanitizers (in build/san-*)
#   make bench [BENCH=family] [BENCH_SECONDS=n]
#                             the benchmark suite: table + build/bench/results.json
#   make examples             build and run docs/examples
#   make fuzz [FUZZ_SECONDS=n] [FUZZ_TARGETS="http procpool api"]
#                             libFuzzer targets (clang), n s each (docs/fuzzing.md)
#   make test FAULTS=1        the suite with fault injection built in; test_faults
#                             makes every seam fail in turn (docs/faults.md)
#   make perf-check [UPDATE=1]  instructions per operation (callgrind) against
#                             bench/budgets; fails on a regression > 5% (CI)
#   make perf [PERF_BENCH="switch spawn echo"] [PERF_SECONDS=n]
#                             perf stat + perf record: build/perf/report.txt, flame graphs
#   make soak [SOAK_SECONDS=n] [SOAK_CONNS=c] / make soak-quick
#                             the servers under chaos and load; RSS and fds flat
#   make man                  the man pages, from include/corio.h (build/man)
#   make install PREFIX=/usr/local [DESTDIR=...]   / make uninstall
#
# Missing Debian packages are installed first when run as root; otherwise
# the exact apt-get line is printed and the build stops.

VERSION    := 0.1.0
SOVERSION  := 0
PREFIX     ?= /usr/local
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PCDIR      ?= $(LIBDIR)/pkgconfig
MANDIR     ?= $(PREFIX)/share/man

comma := ,
SANITIZE ?=
# FAULTS=1: the library's seams can be made to fail (lib/fault.c), in a
# build directory of its own; tests/test_faults.c walks them.
FAULTS ?=
BUILD_SUFFIX := $(if $(filter 1 yes true,$(FAULTS)),-faults)
ifeq ($(strip $(SANITIZE)),)
BUILD    ?= build$(if $(BUILD_SUFFIX),/faults)
SANFLAGS :=
else
BUILD    ?= build/san-$(subst $(comma),-,$(SANITIZE))$(BUILD_SUFFIX)
SANFLAGS := -fsanitize=$(SANITIZE) -fno-sanitize-recover=all
endif
SANFLAGS += $(if $(BUILD_SUFFIX),-DCORIO_FAULTS)

CC      ?= cc
CFLAGS  ?= -O2 -g
WARN    := -Wall -Wextra -Werror
COMMON  := -std=gnu11 -fno-omit-frame-pointer -D_GNU_SOURCE -Iinclude $(SANFLAGS)
LIBFLAGS = $(CFLAGS) $(WARN) $(COMMON) -Ilib -fvisibility=hidden
APPFLAGS = $(CFLAGS) $(WARN) $(COMMON)
LDLIBS_CORE := -luring -lpthread
# Programs export their symbols so that task dumps (dladdr) can name them.
LDAPP    := -rdynamic

# Debian packages: what `make` needs, and what only `make bench` wants.
DEPS_CORE  := gcc make pkg-config liburing-dev libjemalloc-dev libcmocka-dev \
              systemtap-sdt-dev libboost-context-dev libuv1-dev gdb valgrind \
              man-db
DEPS_BENCH := python3 fio nginx-light wrk gnuplot-nox

# The context switch of the machine $(CC) builds for: lib/arch/switch_$(CORIO_ARCH).S
# with its frame layout in lib/arch/frame_$(CORIO_ARCH).h (x86_64, aarch64).
CORIO_ARCH ?= $(shell $(CC) -dumpmachine 2>/dev/null | sed 's/-.*//')
ifeq ($(strip $(CORIO_ARCH)),)
CORIO_ARCH := $(shell uname -m)
endif
CORIO_ARCH := $(CORIO_ARCH)
ifeq ($(wildcard lib/arch/switch_$(CORIO_ARCH).S),)
$(error corio: no context switch for '$(CORIO_ARCH)' in lib/arch/ (x86_64 and aarch64 only))
endif

LIB_SRC  := $(wildcard lib/*.c)
LIB_ASM  := lib/arch/switch_$(CORIO_ARCH).S
LIB_OBJ  := $(patsubst lib/%.c,$(BUILD)/obj/%.o,$(LIB_SRC)) $(BUILD)/obj/arch/switch_$(CORIO_ARCH).o
LIB_PIC  := $(patsubst lib/%.c,$(BUILD)/pic/%.o,$(LIB_SRC)) $(BUILD)/pic/arch/switch_$(CORIO_ARCH).o
LIB_HDR  := include/corio.h $(wildcard lib/*.h) $(wildcard lib/arch/*.h)

STATIC   := $(BUILD)/libcorio.a
SHARED   := $(BUILD)/libcorio.so.$(VERSION)
SONAME   := libcorio.so.$(SOVERSION)

TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))
TEST_HDR := $(wildcard tests/*.h)
TEST_HDR += $(wildcard tests/fuzz/*.h)

# tools/mkman.c is a build tool (the man pages), built for the host alone.
TOOL_SRC := $(filter-out tools/mkman.c,$(wildcard tools/*.c))
TOOL_BIN := $(patsubst tools/%.c,$(BUILD)/bin/%,$(TOOL_SRC))
BENCH_SRC := $(wildcard bench/*.c)
BENCH_HDR := $(wildcard bench/*.h)
# bench/perfcheck.c is a program of its own (make perf-check), not a family.
BENCH_SRC := $(filter-out bench/perfcheck.c,$(BENCH_SRC))

EX_SRC   := $(wildcard docs/examples/*.c)
EX_BIN   := $(patsubst docs/examples/%.c,$(BUILD)/examples/%,$(EX_SRC))

DEPS_STAMP := build/.deps-core

.PHONY: all lib man tools tests test bench examples install uninstall clean deps check-exports
.DEFAULT_GOAL := all

all: lib man tools tests

deps: $(DEPS_STAMP)
$(DEPS_STAMP): tools/deps.sh
	@mkdir -p $(dir $@)
	@sh tools/deps.sh $(DEPS_CORE)
	@touch $@

lib: $(STATIC) $(BUILD)/libcorio.so $(BUILD)/corio.pc

$(BUILD)/obj/%.o: lib/%.c $(LIB_HDR) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(LIBFLAGS) -c $< -o $@
$(BUILD)/obj/arch/%.o: lib/arch/%.S lib/arch/frame_$(CORIO_ARCH).h | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(LIBFLAGS) -c $< -o $@
$(BUILD)/pic/%.o: lib/%.c $(LIB_HDR) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(LIBFLAGS) -fPIC -c $< -o $@
$(BUILD)/pic/arch/%.o: lib/arch/%.S lib/arch/frame_$(CORIO_ARCH).h | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(LIBFLAGS) -fPIC -c $< -o $@

$(STATIC): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(SHARED): $(LIB_PIC) lib/corio.map
	$(CC) $(CFLAGS) $(SANFLAGS) -shared -Wl,-soname,$(SONAME) \
	    -Wl,--version-script=lib/corio.map -Wl,-z,noexecstack -o $@ $(LIB_PIC) $(LDLIBS_CORE)
$(BUILD)/libcorio.so: $(SHARED)
	ln -sf libcorio.so.$(VERSION) $(BUILD)/$(SONAME)
	ln -sf libcorio.so.$(VERSION) $@

$(BUILD)/corio.pc: corio.pc.in Makefile
	@mkdir -p $(dir $@)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' $< > $@

# Tools and benchmarks link the static library and jemalloc. corio-bench
# also carries the baselines (Boost.Context fcontext, ucontext, libuv, pthreads).
tools: $(TOOL_BIN)
$(BUILD)/bin/corio-bench: tools/corio-bench.c $(BENCH_SRC) $(BENCH_HDR) $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(APPFLAGS) $(LDAPP) -Ilib -Ibench -o $@ tools/corio-bench.c $(BENCH_SRC) $(STATIC) \
	    -lboost_context -luv -ljemalloc $(LDLIBS_CORE) -lm
$(BUILD)/bin/%: tools/%.c $(wildcard tools/*.h) $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(APPFLAGS) $(LDAPP) -o $@ $< $(STATIC) -ljemalloc $(LDLIBS_CORE) -lm

tests: $(TEST_BIN) $(BUILD)/tests/run.sh
$(BUILD)/tests/%: tests/%.c $(TEST_HDR) $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(APPFLAGS) $(LDAPP) -Ilib -Wno-unused-parameter -o $@ $< $(STATIC) -lcmocka $(LDLIBS_CORE)
$(BUILD)/tests/run.sh: tests/run.sh
	@mkdir -p $(dir $@)
	cp $< $@

# Each program runs under a timeout; the runner ends with one summary line.
TEST_TIMEOUT ?= 120
# The plain build also runs tests/docs.sh (man pages, the guide's programs,
# docs/examples built out of the tree against an installed copy).
test: all
	@CORIO_BUILD=$(BUILD) CORIO_SHARED=$(BUILD)/libcorio.so TEST_TIMEOUT=$(TEST_TIMEOUT) \
	    $(if $(SANFLAGS),,CORIO_DOCS=1) sh $(BUILD)/tests/run.sh $(TEST_BIN)

# The AArch64 context switch, cross-compiled (gcc-aarch64-linux-gnu) and run
# under qemu-user, which has no io_uring: tests/test_ctx_arch.c with ctx.c and
# the switch only, plain and with BTI+PAC, and a gdb backtrace through qemu.
# Skips (exit 0, saying why) where the packages cannot be installed.
.PHONY: test-aarch64
test-aarch64:
	@TEST_TIMEOUT=$(TEST_TIMEOUT) sh tests/aarch64.sh build/aarch64

check-exports: $(BUILD)/libcorio.so
	@sh tests/exports.sh $(BUILD)/libcorio.so

# The man pages: one per doc block of include/corio.h, a stub per other
# name, and corio(7). mkman refuses a header whose doc blocks break a rule
# of docs/man-format.md, so `make` stops on an undocumented function. The
# pages are the same for every build flavour: they live in build/man.
MKMAN    := build/host/mkman
MAN_OUT  := build/man
MAN_DATE := $(shell git log -1 --format=%cs -- include/corio.h 2>/dev/null || date -u -r include/corio.h +%F)
man: $(MAN_OUT)/.stamp
$(MKMAN): tools/mkman.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -g $(WARN) -o $@ $<
$(MAN_OUT)/.stamp: include/corio.h $(MKMAN)
	@rm -rf $(MAN_OUT)
	$(MKMAN) --out $(MAN_OUT) --examples $(MAN_OUT)/examples \
	    --version "corio $(VERSION)" --date "$(MAN_DATE)" include/corio.h
	@touch $@

# The tutorial's unit of time is 1 s; `make examples` runs them with a
# shorter one (CORIO_EXAMPLE_UNIT_MS=1000 for the real thing).
CORIO_EXAMPLE_UNIT_MS ?= 100
examples: $(EX_BIN)
	@for e in $(EX_BIN); do echo "== $$e"; \
	    CORIO_EXAMPLE_UNIT_MS=$(CORIO_EXAMPLE_UNIT_MS) $$e || exit 1; done
$(BUILD)/examples/%: docs/examples/%.c $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(APPFLAGS) $(LDAPP) -o $@ $< $(STATIC) $(LDLIBS_CORE)

BENCH ?= all
BENCH_SECONDS ?= 1
bench: all
	@sh tools/deps.sh --optional $(DEPS_BENCH)
	@mkdir -p $(BUILD)/bench
	$(BUILD)/bin/corio-bench $(BENCH) --seconds $(BENCH_SECONDS) \
	    --json $(BUILD)/bench/results.json --markdown docs/benchmarks.md --python-dir bench

# Instructions per operation, counted by callgrind (docs/perf.md): the CI
# gate. valgrind is in DEPS_CORE so that the library is built with its
# headers (client requests in io.c and stack.c) before it is measured;
# if this run has just installed it, the library is rebuilt first.
# UPDATE=1 rewrites bench/budgets from the measured values.
PERFCHECK      := $(BUILD)/perf-check/perfcheck
PERFCHECK_RUNS ?= 1
UPDATE         ?=
.PHONY: perf-check perf
perf-check:
	@if [ -n "$(SANITIZE)" ]; then \
	    echo "perf-check: the budgets are for the plain build: run it without SANITIZE" >&2; exit 1; fi
	@had=$$(dpkg-query -W -f='$${Status}' valgrind 2>/dev/null | grep -c 'install ok installed'); \
	    sh tools/deps.sh valgrind || exit 1; \
	    if [ "$$had" = 0 ] && command -v dpkg-query >/dev/null; then \
	        echo "perf-check: valgrind was just installed: rebuilding the library with its headers"; \
	        rm -f $(LIB_OBJ); fi
	@$(MAKE) --no-print-directory $(PERFCHECK)
	@sh bench/perfcheck.sh $(if $(filter 1 yes true,$(UPDATE)),--update) --runs $(PERFCHECK_RUNS) \
	    $(PERFCHECK) bench/budgets $(BUILD)/perf-check
# Plain glibc malloc (no jemalloc): nothing measured allocates, and
# jemalloc's time-based purging would make counts drift if something did.
$(PERFCHECK): bench/perfcheck.c include/corio.h $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(APPFLAGS) $(LDAPP) -o $@ $< $(STATIC) $(LDLIBS_CORE)

# Profiles with Linux perf (not a CI gate): perf stat and perf record
# --call-graph fp of chosen benchmarks, a text report, folded stacks and
# flame graphs in build/perf/. linux-perf is wanted by this target only.
DEPS_PERF    := linux-perf python3
PERF_BENCH   ?= switch spawn echo
PERF_SECONDS ?= 2
PERF_CALLGRAPH ?= fp
perf: tools
	@sh tools/deps.sh $(DEPS_PERF)
	@PERF_SECONDS=$(PERF_SECONDS) PERF_CALLGRAPH=$(PERF_CALLGRAPH) \
	    sh bench/perf.sh $(BUILD) $(BUILD)/perf $(PERF_BENCH)

# A million tasks alive with their guards intact, and an overflow caught by
# name at the end (tests/stack_scale.c; ~4.3 GB RSS, so not in make test).
SCALE_TASKS ?= 1000000
.PHONY: stack-scale
stack-scale: $(BUILD)/tests/stack_scale
	@$(BUILD)/tests/stack_scale $(SCALE_TASKS)
$(BUILD)/tests/stack_scale: tests/stack_scale.c tests/runaway.h $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(APPFLAGS) $(LDAPP) -Ilib -o $@ $< $(STATIC) $(LDLIBS_CORE)

# The suite under valgrind memcheck (docs/valgrind.md): every stack is
# registered, errors and definite leaks fail. VALGRIND_TESTS are the plain
# build's programs; VALGRIND_FAULTS_TESTS those of the FAULTS=1 build
# (build/faults), which `make valgrind` builds first.
VALGRIND_TESTS ?= test_cancel test_cancel_table test_ctx test_ctx_arch test_examples \
                  test_fuzz_regress test_gather test_group test_http_parse test_io_file \
                  test_io_fixed test_io_net test_loops test_pool test_run test_sleep test_stack \
                  test_sync test_task test_timeout test_tools_echo test_tools_http \
                  test_debug test_procpool
VALGRIND_FAULTS_TESTS ?= test_faults
VALGRIND_FLAGS := -q --error-exitcode=33 --leak-check=full \
                  --errors-for-leak-kinds=definite --show-leak-kinds=definite \
                  --suppressions=tests/valgrind.supp
.PHONY: valgrind
valgrind: tests
	@sh tools/deps.sh valgrind
	@$(if $(VALGRIND_FAULTS_TESTS),$(MAKE) --no-print-directory FAULTS=1 \
	    $(VALGRIND_FAULTS_TESTS:%=build/faults/tests/%))
	@fail=0; for t in $(VALGRIND_TESTS:%=$(BUILD)/tests/%) \
	    $(VALGRIND_FAULTS_TESTS:%=build/faults/tests/%); do echo "== valgrind $$t"; \
	    timeout -k 5 600 valgrind $(VALGRIND_FLAGS) $$t || { echo "FAIL $$t"; fail=1; }; \
	done; exit $$fail

# libFuzzer targets (docs/fuzzing.md): tests/fuzz/run.sh builds the library
# with clang and -fsanitize=fuzzer-no-link,address,undefined in build/fuzz/
# and runs each target FUZZ_SECONDS on its seed corpus. Without clang it
# says so and succeeds. Crashes kept in tests/fuzz/regress/ replay in
# `make test` (test_fuzz_regress).
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= http procpool api
.PHONY: fuzz
fuzz:
	@FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_BUILD=build/fuzz sh tests/fuzz/run.sh $(FUZZ_TARGETS)

# Soak runs (docs/soak.md): corio-echo and corio-http on 2 loops with --chaos
# under corio-load (resets, half-closes, stalls, every byte verified) for
# SOAK_SECONDS with SOAK_CONNS connections each; RSS and fds must stay flat.
# soak-quick is the short one for CI (10 s, 300 connections, ~15 s in all).
SOAK_SECONDS ?= 120
SOAK_CONNS   ?= 2000
SOAK_TOOLS   := $(BUILD)/bin/corio-echo $(BUILD)/bin/corio-http $(BUILD)/bin/corio-load
.PHONY: soak soak-quick
soak: $(SOAK_TOOLS)
	@sh tools/soak.sh --build $(BUILD) --seconds $(SOAK_SECONDS) --conns $(SOAK_CONNS)
soak-quick: $(SOAK_TOOLS)
	@sh tools/soak.sh --build $(BUILD) --seconds 10 --conns 300 --out $(BUILD)/soak-quick

install: lib man
	install -d $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PCDIR) \
	    $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man7
	install -m 644 $(MAN_OUT)/man3/*.3 $(DESTDIR)$(MANDIR)/man3/
	install -m 644 $(MAN_OUT)/man7/corio.7 $(DESTDIR)$(MANDIR)/man7/
	install -m 644 include/corio.h $(DESTDIR)$(INCLUDEDIR)/corio.h
	install -m 644 $(STATIC) $(DESTDIR)$(LIBDIR)/libcorio.a
	install -m 755 $(SHARED) $(DESTDIR)$(LIBDIR)/libcorio.so.$(VERSION)
	ln -sf libcorio.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf libcorio.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libcorio.so
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' corio.pc.in \
	    > $(DESTDIR)$(PCDIR)/corio.pc
	chmod 644 $(DESTDIR)$(PCDIR)/corio.pc

uninstall: man
	rm -f $(DESTDIR)$(INCLUDEDIR)/corio.h $(DESTDIR)$(LIBDIR)/libcorio.a \
	    $(DESTDIR)$(LIBDIR)/libcorio.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME) \
	    $(DESTDIR)$(LIBDIR)/libcorio.so $(DESTDIR)$(PCDIR)/corio.pc \
	    $(DESTDIR)$(MANDIR)/man7/corio.7
	for p in $(MAN_OUT)/man3/*.3; do rm -f "$(DESTDIR)$(MANDIR)/man3/$${p##*/}"; done

clean:
	rm -rf build
