# dystress build. Targets: all (library + CLI), build (all, after installing missing packages), test, sanitize,
# valgrind, bench, fuzz, install (with the manual page), demo, clean. Every source under src/ (but src/cli) goes into
# the library; src/engine/dnnl unless DNNL=0; MPI unless MPI=0.
#
# PORTABLE=1 builds binaries that travel to other machines of the same architecture: -march=native (this CPU's
# instruction set, which an older CPU may stop at with "illegal instruction") is replaced by a baseline, x86-64-v2
# (SSE4.2, POPCNT: x86-64 CPUs since 2009) or armv8-a, with generic tuning; into build-portable/ (the command is
# build-portable/dystress), so that build/ and ./dystress stay as they are. The fast paths are unchanged: oneDNN
# chooses its kernels (AVX2, AVX-512, AMX, bf16) when the program runs, from the CPU it finds; only the library's
# own loops (the reference ops, the data pipeline, the loss's row kernels) are compiled for the baseline, and nothing
# in them depends on compile-time instruction-set macros. `make PORTABLE=1 install` installs those binaries.

VERSION   := 0.1.0
PREFIX    ?= /usr/local
MANDIR    ?= $(PREFIX)/share/man
CC        ?= cc
PORTABLE  ?= 0
ifeq ($(PORTABLE),1)
  MACHINE := $(shell uname -m)
  PORTABLE_ARCH := $(if $(filter x86_64 amd64,$(MACHINE)),-march=x86-64-v2 -mtune=generic,$(if $(filter \
                     aarch64 arm64,$(MACHINE)),-march=armv8-a -mtune=generic))
  ARCH    ?= $(PORTABLE_ARCH)
  BUILD   ?= build-portable
endif
ARCH      ?= -march=native
OPT       ?= -O3
BUILD     ?= build
CFLAGS    ?= $(OPT) $(ARCH) -g
override CFLAGS += -std=c11 -D_GNU_SOURCE -fPIC -fvisibility=hidden -fopenmp -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Iinclude -Isrc
LDLIBS    += -lz -lpng -ljpeg -lsndfile -lm -lpthread
LDFLAGS   += -fopenmp

# oneDNN is part of the build unless DNNL=0 is asked for: the reference ops alone train about 50x slower, so a build
# without oneDNN is a choice, never an accident of a missing package. DNNL_HEADER is where the check looks (a test
# points it elsewhere to play a fresh machine); DEPS is the script that installs the packages.
DNNL        ?= 1
DNNL_HEADER ?= /usr/include/dnnl.h
DEPS        ?= scripts/deps.sh
ifeq ($(DNNL),1)
  override CFLAGS += -DDY_HAVE_DNNL=1
  LDLIBS  += -ldnnl
  PC_LIBS := -ldnnl
  DNNL_MISSING := $(if $(wildcard $(DNNL_HEADER)),,1)
endif

# MPI (data-parallel pretraining over processes, src/train/comm_mpi.c) is part of the build unless MPI=0, found like
# oneDNN: through pkg-config's ompi-c, else the compiler wrapper's `mpicc --showme`. A build without it trains in one
# process. MPI_CFLAGS / MPI_LIBS may be given to point at another MPI.
MPI         ?= 1
ifeq ($(MPI),1)
  ifeq ($(origin MPI_LIBS),undefined)
    MPI_CFLAGS := $(shell pkg-config --cflags ompi-c 2>/dev/null || mpicc --showme:compile 2>/dev/null)
    MPI_LIBS   := $(shell pkg-config --libs ompi-c 2>/dev/null || mpicc --showme:link 2>/dev/null)
  endif
  MPI_MISSING := $(if $(strip $(MPI_LIBS)),,1)
  override CFLAGS += -DDY_HAVE_MPI=1 $(MPI_CFLAGS)
  LDLIBS  += $(MPI_LIBS)
  PC_LIBS += $(MPI_LIBS)
endif

LIB_SRC   := $(shell find src -name '*.c' ! -path 'src/cli/*' | sort)
ifneq ($(DNNL),1)
  LIB_SRC := $(filter-out src/engine/dnnl/%,$(LIB_SRC))
endif
CLI_SRC   := $(sort $(wildcard src/cli/*.c))
TEST_SUP  := tests/testlib.c tests/fixture.c tests/cli_support.c tests/graph_params.c
TEST_SRC  := $(sort $(wildcard tests/test_*.c))
# Tests written as shell scripts (tests/test_*.sh) are copied beside the binaries, so that tests/run.sh runs them
# alike; each ends with the same "N passed, N failed" line.
TEST_SH   := $(sort $(wildcard tests/test_*.sh))
BENCH_SRC := $(sort $(wildcard bench/bench_*.c))
FUZZ_SRC  := $(sort $(wildcard fuzz/fuzz_*.c))

LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ   := $(CLI_SRC:%.c=$(BUILD)/%.o)
SUP_OBJ   := $(TEST_SUP:%.c=$(BUILD)/%.o) $(filter-out $(BUILD)/src/cli/main.o,$(CLI_OBJ))
SH_TESTS  := $(TEST_SH:tests/%.sh=$(BUILD)/tests/%)
TESTS     := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%) $(SH_TESTS)
# the command: ./dystress, or build-portable/dystress for a portable build (the tests run it through DY_CLI)
CLI_BIN   := $(if $(filter 1,$(PORTABLE)),$(BUILD)/dystress,dystress)
CLI_ENV   := $(if $(filter 1,$(PORTABLE)),DY_CLI=$(CLI_BIN))
BENCHES   := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

# Goals that install packages first run the build in a second make, which reads the configuration (is oneDNN's header
# there?) only after the packages are in: on a fresh machine the first `make test` or `make demo` builds the fast path.
DEPS_GOALS := build test check demo reproduce sanitize valgrind fuzz
ifneq ($(filter $(DEPS_GOALS),$(MAKECMDGOALS)),)
  ifeq ($(DY_DEPS_DONE),)
    DY_REENTER := 1
  endif
endif

ifeq ($(DY_REENTER),1)
# Stage one: install what is missing, then hand every goal to a fresh make that sees the installed packages.
.PHONY: $(MAKECMDGOALS)
$(firstword $(MAKECMDGOALS)):
	@$(DEPS) $(if $(filter test check sanitize valgrind fuzz,$(MAKECMDGOALS)),--test)
	@$(MAKE) --no-print-directory DY_DEPS_DONE=1 $(MAKECMDGOALS)
$(filter-out $(firstword $(MAKECMDGOALS)),$(MAKECMDGOALS)):
	@:
else

ifeq ($(DNNL_MISSING),1)
  ifeq ($(filter clean deps deps-test uninstall install-man uninstall-man,$(MAKECMDGOALS)),)
    $(error oneDNN's header $(DNNL_HEADER) is missing. Install it with `scripts/deps.sh` (Debian package \
      libdnnl-dev; `make test` and `make demo` do this for you), or choose the slow reference build with `make DNNL=0`)
  endif
endif

ifeq ($(MPI_MISSING),1)
  ifeq ($(filter clean deps deps-test uninstall install-man uninstall-man,$(MAKECMDGOALS)),)
    $(error MPI was not found (neither `pkg-config ompi-c` nor `mpicc --showme` answers). Install it with \
      `scripts/deps.sh` (Debian packages libopenmpi-dev and openmpi-bin), or build for one process with `make MPI=0`)
  endif
endif

# The configuration every object is built with. Written when it changes, so that changing CC, CFLAGS, DNNL or the
# libraries rebuilds everything that depends on them instead of keeping objects built for another configuration.
BUILD_CONFIG := CC=$(CC) CFLAGS=$(CFLAGS) LDFLAGS=$(LDFLAGS) LDLIBS=$(LDLIBS) DNNL=$(DNNL) MPI=$(MPI)
STAMP        := $(BUILD)/config.stamp
ifeq ($(filter clean deps deps-test uninstall install-man uninstall-man,$(MAKECMDGOALS)),)
  $(shell mkdir -p $(BUILD) && printf '%s\n' '$(subst ','\'',$(BUILD_CONFIG))' | cmp -s - $(STAMP) || \
    printf '%s\n' '$(subst ','\'',$(BUILD_CONFIG))' > $(STAMP))
endif

# Test and bench objects come from a chain of pattern rules; keep them (they are not throw-away intermediates).
.SECONDARY: $(TESTS:%=%.o) $(BENCHES:%=%.o) $(SUP_OBJ)
.PHONY: all build test check sanitize valgrind bench fuzz install uninstall demo reproduce deps deps-test clean \
	test-widths install-man uninstall-man
all: $(BUILD)/libdystress.a $(BUILD)/libdystress.so $(CLI_BIN)

# `all` after installing what is missing (what a fresh machine runs first).
build: all

$(BUILD)/%.o: %.c $(STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libdystress.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libdystress.so: $(LIB_OBJ) $(STAMP)
	$(CC) -shared -Wl,-soname,libdystress.so.0 $(LDFLAGS) -o $@ $(LIB_OBJ) $(LDLIBS)

dystress: $(CLI_OBJ) $(BUILD)/libdystress.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# the command built in another build folder (the sanitizer build tests its own)
$(BUILD)/dystress: $(CLI_OBJ) $(BUILD)/libdystress.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(SUP_OBJ) $(BUILD)/libdystress.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(SH_TESTS): $(BUILD)/tests/%: tests/%.sh
	@mkdir -p $(dir $@)
	cp $< $@ && chmod +x $@

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(BUILD)/libdystress.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# bench_json also times jansson's reader when libjansson-dev is installed (the comparison of docs/ARCHITECTURE.md)
$(BUILD)/bench/bench_json: LDLIBS += $(if $(wildcard /usr/include/jansson.h),-ljansson)

# The README's test command. Installs missing packages first (stage one above; a no-op when present). The shared
# library must export the public API only (-fvisibility=hidden, DY_API on what include/ declares).
test: all $(TESTS)
	tests/check_exports.sh $(BUILD)/libdystress.so
	$(CLI_ENV) tests/run.sh $(BUILD)/tests

check: test

# Narrow networks on both executors, exhaustively: every width 1..64 x image sizes 16, 28, 32, 33, 48, 64 and the whole
# ResNet-18 at ten widths (about 20 minutes on 2 cores); the tables it ends with are in docs/SMALL_WIDTHS.md.
test-widths: all $(BUILD)/tests/test_small_widths
	OMP_WAIT_POLICY=passive DY_TEST_WIDTHS=1 $(BUILD)/tests/test_small_widths | tee $(BUILD)/test-widths.txt

# The same suite built with AddressSanitizer + UndefinedBehaviorSanitizer (clang), in its own build folder.
sanitize:
	$(MAKE) BUILD=build-san CC=clang OPT=-O1 \
	  CFLAGS='-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer' \
	  LDFLAGS='-fopenmp -fsanitize=address,undefined' build-san/libdystress.a build-san/dystress \
	  $(TESTS:$(BUILD)/%=build-san/%)
	ASAN_OPTIONS=detect_leaks=1 DY_TEST_QUICK=1 DY_CLI=build-san/dystress tests/run.sh build-san/tests

# Small tests under valgrind's leak checker (the slow numeric suites are skipped with DY_TEST_QUICK). valgrind 3.19
# stops at AVX-512 and AMX instructions ("illegal opcode", SIGILL), so neither may run under it:
# - what we compile: built in its own folder for AVX2, CFLAGS given whole (an ARCH or CFLAGS from the environment,
#   such as -march=native, cannot reach it);
# - what oneDNN generates at run time: its JIT picks the widest ISA it finds (AVX-512, AVX512-FP16 and AMX on recent
#   Intel CPUs); ONEDNN_MAX_CPU_ISA=AVX2 caps it (DNNL_MAX_CPU_ISA is the older name; both read by oneDNN 2.x).
#   JSIMD_FORCENONE=1 turns off libjpeg-turbo's SIMD decoders, whose AVX2 upsampling computes from row padding
#   that valgrind tracks as undefined (a false "depends on uninitialised value" in our resize of a valid JPEG).
# - --vex-guest-max-insns=25: oneDNN's unrolled AVX2 kernels in one block of 50 instructions (valgrind's default)
#   exhausted VEX's translation storage ("the 'impossible' happened", test_small_widths); half that translates.
VG_CFLAGS := -O3 -mavx2 -g
VG_WRAP   := valgrind -q --vex-guest-max-insns=25 --leak-check=full --errors-for-leak-kinds=definite,indirect \
             --error-exitcode=99
valgrind:
	$(MAKE) BUILD=build-vg ARCH=-mavx2 CFLAGS='$(VG_CFLAGS)' build-vg/libdystress.a build-vg/dystress \
	  $(TESTS:$(BUILD)/%=build-vg/%)
	ONEDNN_MAX_CPU_ISA=AVX2 DNNL_MAX_CPU_ISA=AVX2 JSIMD_FORCENONE=1 DY_TEST_QUICK=1 DY_CLI=build-vg/dystress \
	  DY_TEST_WRAP='$(VG_WRAP)' \
	  tests/run.sh build-vg/tests

# Each bench once; the training step also at the main job's width 16. Run nothing else meanwhile (2 cores).
bench: all $(BENCHES)
	@for b in $(BENCHES); do echo "== $$b"; $$b || exit 1; done
	@echo "== $(BUILD)/bench/bench_step 16"; $(BUILD)/bench/bench_step 16

# libFuzzer targets, each run for FUZZ_SECONDS (clang, Debian's libclang-rt-14-dev; ASan and UBSan, undefined behaviour a
# finding, not a warning). FUZZ_ONLY=name runs one. The
# CLI's objects (all but main) are linked in, for the targets of the option parser and config.json.
FUZZ_SECONDS ?= 30
FUZZ_CLI_OBJ := $(filter-out build-fuzz/src/cli/main.o,$(CLI_SRC:%.c=build-fuzz/%.o))
fuzz:
	$(MAKE) BUILD=build-fuzz CC=clang OPT=-O1 \
	  CFLAGS='-O1 -g -fsanitize=address,undefined,fuzzer-no-link -fno-sanitize-recover=undefined -fno-omit-frame-pointer' \
	  LDFLAGS='-fopenmp -fsanitize=address,undefined' build-fuzz/libdystress.a $(FUZZ_CLI_OBJ)
	@mkdir -p build-fuzz/fuzz
	@for f in $(if $(FUZZ_ONLY),fuzz/$(FUZZ_ONLY).c,$(FUZZ_SRC)); do n=$$(basename $$f .c); \
	  clang -O1 -g -fsanitize=address,undefined,fuzzer -fno-sanitize-recover=undefined -fopenmp -Iinclude -Isrc $$f $(FUZZ_CLI_OBJ) \
	    build-fuzz/libdystress.a -o build-fuzz/fuzz/$$n $(LDLIBS) || exit 1; \
	  mkdir -p build-fuzz/corpus/$$n; \
	  echo "== fuzzing $$n for $(FUZZ_SECONDS)s"; \
	  build-fuzz/fuzz/$$n -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 -artifact_prefix=build-fuzz/$$n- \
	    build-fuzz/corpus/$$n fuzz/seeds/$$n > build-fuzz/$$n.log 2>&1; rc=$$?; \
	  grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::new_units_added|stat::peak_rss_mb)' \
	    build-fuzz/$$n.log; \
	  if [ $$rc -ne 0 ]; then tail -n 60 build-fuzz/$$n.log; echo "FUZZ FAIL $$n (exit $$rc), see build-fuzz/$$n.log"; exit 1; fi; \
	done

# The main job: a short pretrain on Fashion-MNIST, then kNN and linear evaluation.
demo: all
	./dystress demo

# The paper's comparison on Fashion-MNIST at a small budget (EPOCHS, WIDTH, SEEDS); writes docs/RESULTS.md.
reproduce: all
	scripts/reproduce.sh

deps:
	$(DEPS)
deps-test:
	$(DEPS) --test

install: all install-man
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/dystress $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 $(BUILD)/libdystress.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/libdystress.so $(DESTDIR)$(PREFIX)/lib/libdystress.so.0
	ln -sf libdystress.so.0 $(DESTDIR)$(PREFIX)/lib/libdystress.so
	install -m 644 include/dystress.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 include/dystress/*.h $(DESTDIR)$(PREFIX)/include/dystress/
	install -m 755 $(CLI_BIN) $(DESTDIR)$(PREFIX)/bin/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' -e 's|@LIBS@|$(PC_LIBS)|' dystress.pc.in \
	  > $(DESTDIR)$(PREFIX)/lib/pkgconfig/dystress.pc

# The manual page alone (no build needed): `man dystress` after `make install`, `man -l man/dystress.1` before.
install-man:
	install -d $(DESTDIR)$(MANDIR)/man1
	install -m 644 man/dystress.1 $(DESTDIR)$(MANDIR)/man1/dystress.1

uninstall-man:
	rm -f $(DESTDIR)$(MANDIR)/man1/dystress.1

uninstall: uninstall-man
	rm -rf $(DESTDIR)$(PREFIX)/include/dystress $(DESTDIR)$(PREFIX)/include/dystress.h \
	  $(DESTDIR)$(PREFIX)/lib/libdystress.* $(DESTDIR)$(PREFIX)/bin/dystress $(DESTDIR)$(PREFIX)/lib/pkgconfig/dystress.pc

clean:
	rm -rf build build-san build-fuzz build-vg build-portable dystress

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

endif # stage two
