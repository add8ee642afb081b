# cutout — build, test, run, bench, install.
# `make BUILD=dir` builds elsewhere (sanitizer builds, parallel work trees).

# CUTOUT_OPENCL=0: the CPU-only library and programs, built and tested without
# OpenCL headers, libraries or CLBlast (a machine with no GPU needs none of them),
# in build-cpu/ unless BUILD says otherwise.
CUTOUT_OPENCL ?= 1
BUILD   ?= $(if $(filter 0,$(CUTOUT_OPENCL)),build-cpu,build)
# The sanitizer build of the same configuration.
ASAN_BUILD ?= $(BUILD)-asan
PREFIX  ?= /usr/local
# The tests and `make run` keep the engine's caches (CPU weight layouts: up to
# 0.7 GB for isnet; OpenCL binaries) in the tree, not in the user's ~/.cache.
export CUTOUT_CACHE_DIR ?= $(CURDIR)/build/cache
CC      ?= cc
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
CSTD     = -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -fno-strict-aliasing
# -MMD -MP: every object depends on the headers it includes (build/**/*.d).
DEPFLAGS = -MMD -MP
CPPFLAGS += -DCUTOUT_DATADIR='"$(PREFIX)/share/cutout/models"' -DCUTOUT_OPENCL=$(CUTOUT_OPENCL)
LDLIBS_CL = $(if $(filter 1,$(CUTOUT_OPENCL)),-lclblast -lOpenCL)
LDLIBS  += $(LDLIBS_CL) -lpng16 -ldeflate -lz -ljpeg -lwebp -lwebpdemux -lwebpmux -lpthread -lm
# The SIMD files are compiled for their instruction set and chosen at run time.
AVX2FLAGS = -mavx2 -mfma -mf16c
AVX512FLAGS = $(AVX2FLAGS) -mavx512f -mavx512bw -mavx512vl -mavx512dq

# The engine's layers (engine/README.md). Each folder is compiled with the
# include paths of the layers it may use and no others, so a file in
# engine/image/ cannot include a CPU-backend header by accident.
LAYERS_base     := base
LAYERS_model    := base model
LAYERS_net      := base model net
LAYERS_cpu      := base model net cpu
LAYERS_opencl   := base model net opencl
LAYERS_image    := base image
LAYERS_pipeline := base image pipeline
LAYERS_api      := base model net cpu opencl image pipeline api
ENGINE_DIRS := base model net cpu image pipeline api $(if $(filter 1,$(CUTOUT_OPENCL)),opencl)
layer_of = $(word 2,$(subst /, ,$(1)))
engine_inc = -Iengine/include $(addprefix -Iengine/,$(LAYERS_$(call layer_of,$(1))))

ENGINE_SRC := $(foreach d,$(ENGINE_DIRS),$(wildcard engine/$(d)/*.c))
ENGINE_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(ENGINE_SRC)) \
              $(BUILD)/registry_table.o \
              $(if $(filter 1,$(CUTOUT_OPENCL)),$(BUILD)/kernels.o)
KERNEL_SRC := $(wildcard kernels/*.cl)
# Unit tests and test tools may include any engine header (they test internals).
ALL_ENGINE_INC := -Iengine/include $(addprefix -Iengine/,base model net cpu opencl image pipeline api)
CL_TESTS   := tests/unit/test_backend_cl.c
TEST_SRC   := $(filter-out $(if $(filter 1,$(CUTOUT_OPENCL)),,$(CL_TESTS)),$(wildcard tests/unit/test_*.c))
TEST_BIN   := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(TEST_SRC))
TESTTOOL_SRC := $(wildcard tests/tools/*.c)
TOOL_BIN   := $(BUILD)/cutout-bench $(BUILD)/photo-stages $(BUILD)/cutout $(BUILD)/tests/onnx_check \
              $(patsubst tests/tools/%.c,$(BUILD)/tests/%,$(TESTTOOL_SRC))

export OPENBLAS_CORETYPE ?= Haswell
# The test scripts ask it whether this build has an OpenCL backend.
export CUTOUT_OPENCL

.PHONY: all test asan-build symbols-test unit-test sanitize-test reference-test model-test integration-test browser-test fuzz fuzz-test soak run bench bench-report install clean deps

all: $(BUILD)/libcutout.a $(TOOL_BIN) $(TEST_BIN) $(BUILD)/cutout-fcgi

# Include paths by place: an engine layer sees its allowed layers; applications
# (tools/, fcgi/, bench/cutout_bench.c) see the public header and
# tools/app_util.h only.
APP_INC := -Iengine/include -Itools
inc_for = $(if $(filter engine/%,$(1)),$(call engine_inc,$(1)),$(if $(filter tools/% fcgi/% bench/cutout_bench.c bench/photo_stages.c,$(1)),$(APP_INC),$(ALL_ENGINE_INC) -Itools))

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(DEPFLAGS) $(call inc_for,$<) $(CPPFLAGS) $(CFLAGS) $(if $(findstring _avx2,$<),$(AVX2FLAGS))$(if $(findstring _avx512,$<),$(AVX512FLAGS)) -c $< -o $@

# The OpenCL kernels, embedded as string constants (engine/opencl/cl_kernels.h).
$(BUILD)/kernels.c: $(KERNEL_SRC) tools/embed-kernels
	@mkdir -p $(dir $@)
	tools/embed-kernels $@ $(KERNEL_SRC)

$(BUILD)/kernels.o: $(BUILD)/kernels.c
	$(CC) $(CSTD) $(DEPFLAGS) -Iengine/opencl $(CPPFLAGS) $(CFLAGS) -c $< -o $@

# The model registry's normalisation columns (engine/model/registry_table.h).
$(BUILD)/registry_table.c: models/registry.tsv tools/embed-registry
	@mkdir -p $(dir $@)
	tools/embed-registry $@ models/registry.tsv

$(BUILD)/registry_table.o: $(BUILD)/registry_table.c
	$(CC) $(CSTD) $(DEPFLAGS) -Iengine/model $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/libcutout.a: $(ENGINE_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# What the programs share (tools/app_util.h), linked into each of them.
APP_UTIL_OBJ := $(BUILD)/tools/app_util.o

$(BUILD)/cutout-bench: $(BUILD)/bench/cutout_bench.o $(APP_UTIL_OBJ) $(BUILD)/libcutout.a
	$(CC) $(CFLAGS) $^ -o $@ $(LDFLAGS) $(LDLIBS)

# Per-step timings of the CLI's pipeline on photos (bench/README.md).
$(BUILD)/photo-stages: $(BUILD)/bench/photo_stages.o $(APP_UTIL_OBJ) $(BUILD)/libcutout.a
	$(CC) $(CFLAGS) $^ -o $@ $(LDFLAGS) $(LDLIBS)

# cutout --server (tools/cutout_client.c) talks HTTP with libcurl.
$(BUILD)/cutout: $(BUILD)/tools/cutout.o $(BUILD)/tools/cutout_client.o $(APP_UTIL_OBJ) $(BUILD)/libcutout.a
	$(CC) $(CFLAGS) $^ -o $@ $(LDFLAGS) -lcurl $(LDLIBS)

# The FastCGI server (fcgi/, its own FastCGI record layer): libyaml on top of
# libcutout; jobs on SQLite or Redis (hiredis), libcurl for jobs.s3.
FCGI_SRC := $(wildcard fcgi/*.c)
FCGI_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(FCGI_SRC))

$(BUILD)/cutout-fcgi: $(FCGI_OBJ) $(APP_UTIL_OBJ) $(BUILD)/libcutout.a
	$(CC) $(CFLAGS) $^ -o $@ $(LDFLAGS) -lyaml -lsqlite3 -lhiredis -lcurl $(LDLIBS)

# Unit tests of the server's parsers compile the fcgi/ source they test.
$(BUILD)/tests/test_config: LDLIBS += -lyaml

# The GEMM benchmark compares with OpenBLAS; nothing else links it.
$(BUILD)/gemm-bench: $(BUILD)/bench/gemm_bench.o $(BUILD)/libcutout.a
	$(CC) $(CFLAGS) $^ -o $@ $(LDFLAGS) $(LDLIBS) -lopenblas

# Per-layer timing of the CPU backend (bench/README.md); not part of `all`.
$(BUILD)/cpu-conv-bench: $(BUILD)/bench/cpu_conv_bench.o $(BUILD)/libcutout.a
	$(CC) $(CFLAGS) $^ -o $@ $(LDFLAGS) $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(BUILD)/libcutout.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $^ -o $@ $(LDFLAGS) $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/tools/%.o $(BUILD)/libcutout.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $^ -o $@ $(LDFLAGS) $(LDLIBS)

$(BUILD)/tests/onnx_check: $(BUILD)/tests/fuzz/onnx_check.o $(BUILD)/libcutout.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $^ -o $@ $(LDFLAGS) $(LDLIBS)

# The whole suite: unit tests, the sanitizer build, the PyTorch references.
# Builds run in parallel (-j), the suites one after the other.
test: deps
	$(MAKE) all asan-build
	$(MAKE) -j1 symbols-test model-test unit-test sanitize-test fuzz-test reference-test integration-test browser-test
	@echo "make test: all suites passed"

# The shipped model's checksum; recognition of U²-Net variants and rejection of others.
model-test: all
	cd models && sha256sum -c SHA256SUMS
	/usr/bin/python3 tests/model/recognition.py $(BUILD)

# One namespace: the library exports cutout_ (public API) and cut_ (internal)
# symbols only, so it links next to anything (OpenCL's cl_, BLAS' gemm_ ...).
symbols-test: $(BUILD)/libcutout.a
	@bad=$$(nm -g --defined-only $< | awk '/:$$/ { obj = $$1; next } \
	    NF >= 3 && $$3 !~ /^(cutout|cut)_/ { print "  " obj " " $$3 }'); \
	if [ -n "$$bad" ]; then echo "symbols-test: exported without cutout_/cut_:"; \
	  echo "$$bad"; exit 1; fi; echo "symbols-test: passed"

unit-test: all
	tests/run-unit $(BUILD)

# AddressSanitizer + UBSan build of the library; unit tests and the malformed
# ONNX corpus run under it.
asan-build:
	$(MAKE) BUILD=$(ASAN_BUILD) ASAN_BUILD=$(ASAN_BUILD) \
	  CFLAGS="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
	  LDFLAGS="-fsanitize=address,undefined" all

sanitize-test: asan-build
	tests/run-unit $(ASAN_BUILD)

# libFuzzer + ASan + UBSan on every input parser (tests/fuzz/fuzz-all): the
# FastCGI request path, multipart, YAML config, the PNG/JPEG/WebP decoders and
# the ONNX reader. fuzz: FUZZ_SECONDS each and a summary in bench/results;
# fuzz-test: FUZZ_TEST_SECONDS each, part of make test.
FUZZ_SECONDS ?= 300
FUZZ_TEST_SECONDS ?= 20
fuzz: all
	tests/fuzz/fuzz-all $(FUZZ_SECONDS) bench/results/fuzz-$$(date +%F).md

fuzz-test: all
	tests/fuzz/fuzz-all $(FUZZ_TEST_SECONDS)

# Independent references: PyTorch for the network, PIL for images.
# Real web servers (nginx, then lighttpd and Apache) in front of cutout-fcgi on 127.0.0.1.
integration-test: all
	tests/integration/run $(BUILD)

# The web page (web/) in Debian's chromium (puppeteer-core) against nginx +
# cutout-fcgi on 127.0.0.1; screenshots in $(BUILD)/browser.
browser-test: all
	tests/browser/run $(BUILD)

reference-test: all
	tests/reference/run $(BUILD)
ifeq ($(CUTOUT_OPENCL),1)
	tests/reference/run $(BUILD) --backend opencl
endif
	tests/image/run $(BUILD)
	/usr/bin/python3 tests/pipeline/check_masks.py $(BUILD)
	/usr/bin/python3 tests/pipeline/check_rembg_fixtures.py $(BUILD)
	/usr/bin/python3 tests/pipeline/check_matting.py $(BUILD)
	/usr/bin/python3 tests/pipeline/check_cloth_masks.py $(BUILD)

# nginx on 127.0.0.1:8080 in front of cutout-fcgi (shipped u2netp), in the
# foreground; Ctrl-C stops both.
run: deps
	$(MAKE) all
	fcgi/run-local $(BUILD)

bench: all
	bench/run.sh $(BUILD)

# 10,000 mixed good and hostile requests through nginx; per-worker RSS at 1k,
# 5k, 10k (at most +2% after the first 1,000); bench/results/soak-<date>.md.
soak: all
	/usr/bin/python3 bench/fcgi_soak.py --bin $(BUILD) --concurrency 8 --report bench/results/soak-$$(date +%F).md

# The throughput tuner's report: sweeps, plots, bench/results/REPORT.md
# (bench/README.md). BENCH_REPORT_FLAGS=--quick for the ~2-minute version.
bench-report: all
	bench/report $(BENCH_REPORT_FLAGS) $(BUILD)

deps:
	tools/install-deps

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include \
	  $(DESTDIR)$(PREFIX)/share/cutout/models $(DESTDIR)$(PREFIX)/share/cutout/web
	install -m 755 $(BUILD)/cutout $(BUILD)/cutout-bench tools/fetch-model $(DESTDIR)$(PREFIX)/bin/
	install -m 755 $(BUILD)/cutout-fcgi $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(BUILD)/libcutout.a $(DESTDIR)$(PREFIX)/lib/
	install -m 644 engine/include/cutout.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 models/u2netp.onnx models/registry.tsv $(DESTDIR)$(PREFIX)/share/cutout/models/
	install -m 644 web/index.html web/app.css web/app.js $(DESTDIR)$(PREFIX)/share/cutout/web/

clean:
	rm -rf build build-asan build-cpu build-cpu-asan

-include $(shell find $(BUILD) -name "*.d" 2>/dev/null)
