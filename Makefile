# dptrain: one strict Makefile. `make test` and `make demo` install what is
# missing first (scripts/install-deps.sh does nothing when all is present).

# MPI: openmpi (the default) or mpich (Debian's MPICH beside Open MPI), each in a build folder of
# its own; the program itself uses only the MPI standard.
MPI     ?= openmpi
MPI_PKG := $(if $(filter mpich,$(MPI)),mpich,$(if $(filter openmpi,$(MPI)),ompi-c,$(error MPI must be openmpi or mpich, not '$(MPI)')))
BUILD   ?= $(if $(filter mpich,$(MPI)),build/mpich,build)
CC      ?= gcc
PKGS    := $(MPI_PKG) openblas libcjson zlib
SAN     ?=
OPT     ?= -O3
# -fno-math-errno and -fno-trapping-math let loops with math calls and compare-selects vectorize;
# dptrain reads neither errno after math calls nor the floating-point exception flags.
# MARCH: the CPU the loops are compiled for; on x86-64 `native` (this machine's vector units:
# AVX-512 Adam is about 20% faster than SSE2) unless the nodes that run dptrain differ from the one
# that builds it: then e.g. `make MARCH=x86-64-v3`, or `make MARCH=` for the distribution's
# baseline. Elsewhere the baseline (GCC spells "native" differently there).
MARCH   ?= $(if $(filter x86_64,$(shell uname -m)),native)
CFLAGS  := -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -g $(OPT) $(if $(MARCH),-march=$(MARCH)) -fno-math-errno -fno-trapping-math $(SAN) -MMD -MP -Iinclude -I$(BUILD)/gen
LDFLAGS := $(SAN)

# Resolve flags only when a target needs them, so `make deps` works on a bare machine.
pc = $(shell pkg-config $(1) $(2) 2>/dev/null)
DEP_CFLAGS = $(call pc,--cflags,$(PKGS))
DEP_LIBS   = $(call pc,--libs,$(PKGS)) -lm -pthread
CHECK_CFLAGS = $(call pc,--cflags,check)
CHECK_LIBS   = $(call pc,--libs,check)

LIB_SRC  := $(filter-out src/main.c,$(wildcard src/*.c src/data/*.c src/layers/*.c src/reduce/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
MPI_SRC  := $(wildcard tests/mpi/*.c)
MPI_BIN  := $(MPI_SRC:tests/mpi/%.c=$(BUILD)/tests/mpi_%)
BENCH_SRC := $(wildcard tests/bench/*.c)
BENCH_BIN := $(BENCH_SRC:tests/bench/%.c=$(BUILD)/bench/%)

.PHONY: all deps check-deps test test-mpich unit asan demo bench bench-compare bench-cluster clean fuzz fuzz-run fuzz-replay path-identity
all: check-deps $(BUILD)/libdptrain.a $(BUILD)/dptrain $(UNIT_BIN) $(MPI_BIN) $(BENCH_BIN) $(BUILD)/tests/failalloc.so

deps:
	@scripts/install-deps.sh

check-deps:
	@for p in $(PKGS) check; do pkg-config --exists $$p || { \
	  echo "Makefile: pkg-config cannot find '$$p'; run scripts/install-deps.sh (or make deps)"; exit 1; }; done

# The commit a binary was built from, rewritten only when it changes.
COMMIT := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$(shell git diff --quiet HEAD 2>/dev/null || echo -dirty)
$(shell mkdir -p $(BUILD)/gen; echo '#define DPT_COMMIT "$(COMMIT)"' > $(BUILD)/gen/.commit; \
  cmp -s $(BUILD)/gen/.commit $(BUILD)/gen/dpt_commit.h || cp $(BUILD)/gen/.commit $(BUILD)/gen/dpt_commit.h)

# The flags the objects were compiled with, likewise: changing MARCH or OPT rebuilds them.
$(shell echo '$(CFLAGS)' > $(BUILD)/gen/.cflags; \
  cmp -s $(BUILD)/gen/.cflags $(BUILD)/gen/cflags && [ -e $(BUILD)/gen/dpt_cflags.h ] || { \
  cp $(BUILD)/gen/.cflags $(BUILD)/gen/cflags; \
  echo '#define DPT_CFLAGS "$(CFLAGS)"' > $(BUILD)/gen/dpt_cflags.h; })

$(BUILD)/obj/%.o: %.c $(BUILD)/gen/cflags
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(DEP_CFLAGS) -c $< -o $@

$(BUILD)/libdptrain.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/dptrain: $(BUILD)/obj/src/main.o $(BUILD)/libdptrain.a
	$(CC) $(LDFLAGS) $^ -o $@ $(DEP_LIBS)

$(BUILD)/tests/%: tests/unit/%.c tests/unit/support.c $(BUILD)/libdptrain.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(DEP_CFLAGS) $(CHECK_CFLAGS) $< tests/unit/support.c $(BUILD)/libdptrain.a -o $@ $(LDFLAGS) $(CHECK_LIBS) $(DEP_LIBS)

$(BUILD)/tests/mpi_%: tests/mpi/%.c $(BUILD)/libdptrain.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(DEP_CFLAGS) $< $(BUILD)/libdptrain.a -o $@ $(LDFLAGS) $(DEP_LIBS)

# LD_PRELOAD shim that fails chosen allocations (tests/cli/t_out_of_memory.sh); never sanitized:
# the sanitizers' own allocator must come first.
$(BUILD)/tests/failalloc.so: tests/shim/failalloc.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -Wall -Wextra -Werror -O2 -shared -fPIC $< -o $@ -ldl

$(BUILD)/bench/%: tests/bench/%.c $(BUILD)/libdptrain.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(DEP_CFLAGS) $< $(BUILD)/libdptrain.a -o $@ $(LDFLAGS) $(DEP_LIBS)

# Every unit suite runs even when one fails; Check prints each suite's summary line.
unit: all
	@fail=0; for t in $(UNIT_BIN); do CK_DEFAULT_TIMEOUT=60 $$t || fail=1; done; exit $$fail

test: deps
	@$(MAKE) --no-print-directory all
	@fail=0; \
	$(MAKE) --no-print-directory unit || fail=1; \
	tests/run.sh mpi BUILD=$(BUILD) || fail=1; \
	tests/run.sh cli BUILD=$(BUILD) || fail=1; \
	$(MAKE) --no-print-directory asan || fail=1; \
	if pkg-config --exists mpich; then $(MAKE) --no-print-directory test-mpich || fail=1; \
	else echo "make test: MPICH is not installed: the MPICH build is NOT tested"; fi; \
	exit $$fail

# The MPI and command-line suites again, built against MPICH and launched with mpiexec.mpich.
# Under MPICH the suites that launch ranks; those whose subject is not MPI (config and data
# errors, allocation failures, install, README, plots, PyTorch, bf16 accuracy, deterministic
# mode's sums, which are dptrain's own tree, not MPI's) ran under Open MPI.
MPICH_SKIP := t_config_errors t_bad_data t_bad_checkpoints t_out_of_memory t_install t_readme \
	t_plot_metrics t_small_files t_study_errors t_study_seeds t_cnn_torch t_compare_optimizers t_comm_dtype \
	t_deterministic t_train_loss_stop t_reproduce
test-mpich: check-deps
	@$(MAKE) --no-print-directory MPI=mpich all
	@fail=0; \
	tests/run.sh mpi BUILD=build/mpich MPI_IMPL=mpich SKIP="$(MPICH_SKIP)" || fail=1; \
	tests/run.sh cli BUILD=build/mpich MPI_IMPL=mpich SKIP="$(MPICH_SKIP)" || fail=1; \
	exit $$fail

# AddressSanitizer + UBSan build in its own folder: every suite must pass under it
# (leak reports off for the MPI runs: Open MPI keeps its own allocations to exit).
ASAN_BUILD := build/asan
asan: check-deps
	@$(MAKE) --no-print-directory BUILD=$(ASAN_BUILD) OPT=-O1 \
	  SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" unit
	@fail=0; \
	ASAN_OPTIONS=detect_leaks=0 tests/run.sh mpi BUILD=$(ASAN_BUILD) || fail=1; \
	ASAN_OPTIONS=detect_leaks=0 tests/run.sh cli BUILD=$(ASAN_BUILD) || fail=1; \
	$(MAKE) --no-print-directory BUILD=$(ASAN_BUILD) OPT=-O1 \
	  SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" fuzz-replay || fail=1; \
	exit $$fail

# Fuzzing: one harness per parser of untrusted input (tests/fuzz/fuzz_NAME.c), seeds and every
# input that ever found a defect in tests/fuzz/NAME/. `make fuzz` builds them with clang and
# libFuzzer (installing clang first) and runs each for FUZZ_SECONDS; `make asan` (so `make test`)
# replays the committed inputs through the same harnesses built with gcc and tests/fuzz/replay.c.
FUZZ_NAMES   := config idx npy csv libsvm checkpoint
FUZZ_SECONDS ?= 60
FUZZ_BUILD   := build/fuzz
FUZZ_DEPS    := tests/fuzz/fuzz_file.c $(wildcard tests/fuzz/*.h)

fuzz:
	@scripts/install-deps.sh --fuzz
	@$(MAKE) --no-print-directory check-deps
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=clang OPT=-O1 FUZZ_LINK=-fsanitize=fuzzer \
	  SAN="-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" fuzz-run

fuzz-run: $(FUZZ_NAMES:%=$(BUILD)/fuzz/fuzz_%)
	@tests/fuzz/run.sh fuzz $(BUILD) $(FUZZ_SECONDS)

fuzz-replay: $(FUZZ_NAMES:%=$(BUILD)/fuzz/replay_%)
	@tests/fuzz/run.sh replay $(BUILD)

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_DEPS) $(BUILD)/libdptrain.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(DEP_CFLAGS) $(FUZZ_LINK) $< tests/fuzz/fuzz_file.c $(BUILD)/libdptrain.a -o $@ $(LDFLAGS) $(DEP_LIBS)

$(BUILD)/fuzz/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c $(FUZZ_DEPS) $(BUILD)/libdptrain.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(DEP_CFLAGS) $< tests/fuzz/replay.c tests/fuzz/fuzz_file.c $(BUILD)/libdptrain.a -o $@ $(LDFLAGS) $(DEP_LIBS)

demo: deps
	@$(MAKE) --no-print-directory all
	launch/local.sh 2 launch/configs/default.ini
	scripts/plot-metrics -o runs/fashion-mlp/metrics.png runs/fashion-mlp/metrics.jsonl

bench: deps
	@$(MAKE) --no-print-directory all
	scripts/bench.sh

# The commit both targets below compare with (a refactor must not change a bit nor slow a path).
BASE ?= 65f24c3

# The step benchmark of commit BASE and of this build side by side, path by path.
bench-compare: deps
	@$(MAKE) --no-print-directory all
	scripts/bench-compare.sh $(BASE)

# Issue #16: the final checkpoints and metrics of every reduction path, bitwise, against commit BASE
# (scripts/path-identity.sh). Not part of `make test`.
path-identity: all
	scripts/path-identity.sh $(BASE) $(BUILD)/dptrain

# dptrain against PyTorch DDP on two emulated nodes, unshaped and at 2 Gbit/s (root only).
bench-cluster: deps
	@$(MAKE) --no-print-directory all
	scripts/bench-cluster.sh

# Installing like a library: the binary, the static library, the headers, a pkg-config file, the
# launchers and scripts, built in a folder of their own for a CPU the cluster's nodes share
# (INSTALL_MARCH, x86-64-v3 by default: see README; `make MARCH=native` stays the local default).
PREFIX  ?= /usr/local
DESTDIR ?=
INSTALL_MARCH ?= $(if $(filter x86_64,$(shell uname -m)),x86-64-v3)
INSTALL_BUILD := build/install$(if $(INSTALL_MARCH),-$(INSTALL_MARCH))
DEST    := $(DESTDIR)$(PREFIX)
HEADERS := $(wildcard include/dptrain/*.h)
SHARED  := $(wildcard launch/*.sh launch/*.sbatch launch/configs/*.ini) scripts/plot-metrics \
           scripts/safetensors_predict.py
INSTALLED := bin/dptrain lib/libdptrain.a lib/pkgconfig/dptrain.pc $(HEADERS:include/%=include/%) \
             $(SHARED:%=share/dptrain/%)

.PHONY: install uninstall
install: check-deps
	@$(MAKE) --no-print-directory BUILD=$(INSTALL_BUILD) MARCH=$(INSTALL_MARCH) \
	  $(INSTALL_BUILD)/dptrain $(INSTALL_BUILD)/libdptrain.a
	install -d $(DEST)/bin $(DEST)/lib/pkgconfig $(DEST)/include/dptrain
	install -m 755 $(INSTALL_BUILD)/dptrain $(DEST)/bin/dptrain
	install -m 644 $(INSTALL_BUILD)/libdptrain.a $(DEST)/lib/libdptrain.a
	install -m 644 $(HEADERS) $(DEST)/include/dptrain/
	@for f in $(SHARED); do install -D -m $$(test -x $$f && echo 755 || echo 644) $$f $(DEST)/share/dptrain/$$f; done
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(shell sed -n 's/.*DPT_VERSION "\(.*\)"/\1/p' include/dptrain/version.h)|' \
	  -e 's|@REQUIRES@|$(PKGS)|' scripts/dptrain.pc.in > $(DEST)/lib/pkgconfig/dptrain.pc
	@echo "installed dptrain into $(DEST) (built with -march=$(or $(INSTALL_MARCH),baseline))"

uninstall:
	rm -f $(addprefix $(DEST)/,$(INSTALLED))
	@# Only the folders that are dptrain's own: bin, lib and the like may be shared, even empty.
	@for d in share/dptrain/launch/configs share/dptrain/launch share/dptrain/scripts share/dptrain \
	  include/dptrain; do rmdir $(DEST)/$$d 2>/dev/null || true; done

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD)/obj $(BUILD)/tests -name '*.d' 2>/dev/null)
