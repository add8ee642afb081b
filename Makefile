# cutout — build, test, run, bench, install.
# `make BUILD=dir` builds elsewhere (sanitizer builds, parallel work trees).

BUILD   ?= build
PREFIX  ?= /usr/local
CC      ?= cc
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
CSTD     = -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -fno-strict-aliasing
CPPFLAGS += -Iengine -DCUTOUT_DATADIR='"$(PREFIX)/share/cutout/models"'
LDLIBS  += -lclblast -lOpenCL -lpng16 -lz -ljpeg -lwebp -lwebpdemux -lwebpmux -lpthread -lm
# The SIMD files are compiled for their instruction set and chosen at run time.
AVX2FLAGS = -mavx2 -mfma -mf16c

ENGINE_SRC := $(wildcard engine/*.c)
ENGINE_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(ENGINE_SRC)) $(BUILD)/kernels.o
KERNEL_SRC := $(wildcard kernels/*.cl)
TEST_SRC   := $(wildcard tests/unit/test_*.c)
TEST_BIN   := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(TEST_SRC))
TESTTOOL_SRC := $(wildcard tests/tools/*.c)
TOOL_BIN   := $(BUILD)/cutout-bench $(BUILD)/cutout $(BUILD)/tests/onnx_check \
              $(patsubst tests/tools/%.c,$(BUILD)/tests/%,$(TESTTOOL_SRC))

export OPENBLAS_CORETYPE ?= Haswell

.PHONY: all test asan-build unit-test sanitize-test reference-test model-test integration-test run bench install clean deps

all: $(BUILD)/libcutout.a $(TOOL_BIN) $(TEST_BIN) $(BUILD)/cutout-fcgi

$(BUILD)/%.o: %.c $(wildcard engine/*.h tests/tools/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(CPPFLAGS) $(CFLAGS) $(if $(findstring _avx2,$<),$(AVX2FLAGS)) -c $< -o $@

# The OpenCL kernels, embedded as string constants (engine/cl_kernels.h).
$(BUILD)/kernels.c: $(KERNEL_SRC) tools/embed-kernels
	@mkdir -p $(dir $@)
	tools/embed-kernels $@ $(KERNEL_SRC)

$(BUILD)/kernels.o: $(BUILD)/kernels.c engine/cl_kernels.h
	$(CC) $(CSTD) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/libcutout.a: $(ENGINE_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/cutout-bench: $(BUILD)/bench/cutout_bench.o $(BUILD)/libcutout.a
	$(CC) $(CFLAGS) $^ -o $@ $(LDFLAGS) $(LDLIBS)

$(BUILD)/cutout: $(BUILD)/tools/cutout.o $(BUILD)/libcutout.a
	$(CC) $(CFLAGS) $^ -o $@ $(LDFLAGS) $(LDLIBS)

# The FastCGI server (fcgi/): libfcgi + libyaml on top of libcutout.
FCGI_SRC := $(wildcard fcgi/*.c)
FCGI_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(FCGI_SRC))
$(FCGI_OBJ): $(wildcard fcgi/*.h)

$(BUILD)/cutout-fcgi: $(FCGI_OBJ) $(BUILD)/libcutout.a
	$(CC) $(CFLAGS) $^ -o $@ $(LDFLAGS) -lfcgi -lyaml $(LDLIBS)

# Unit tests of the server's parsers compile the fcgi/ source they test.
$(BUILD)/tests/unit/test_config.o: fcgi/config.c fcgi/config.h
$(BUILD)/tests/unit/test_fcgi_form.o: fcgi/form.c fcgi/form.h
$(BUILD)/tests/test_config: LDLIBS += -lyaml

# The GEMM benchmark compares with OpenBLAS; nothing else links it.
$(BUILD)/gemm-bench: $(BUILD)/bench/gemm_bench.o $(BUILD)/libcutout.a
	$(CC) $(CFLAGS) $^ -o $@ $(LDFLAGS) $(LDLIBS) -lopenblas

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
	$(MAKE) -j1 model-test unit-test sanitize-test reference-test integration-test
	@echo "make test: all suites passed"

# The shipped model's checksum; recognition of U²-Net variants and rejection of others.
model-test: all
	cd models && sha256sum -c SHA256SUMS
	/usr/bin/python3 tests/model/recognition.py $(BUILD)

unit-test: all
	tests/run-unit $(BUILD)

# AddressSanitizer + UBSan build of the library; unit tests and the malformed
# ONNX corpus run under it.
asan-build:
	$(MAKE) BUILD=build-asan \
	  CFLAGS="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
	  LDFLAGS="-fsanitize=address,undefined" all

sanitize-test: asan-build
	tests/run-unit build-asan

# Independent references: PyTorch for the network, PIL for images.
# Real web servers (nginx, then lighttpd and Apache) in front of cutout-fcgi on 127.0.0.1.
integration-test: all
	tests/integration/run $(BUILD)

reference-test: all
	tests/reference/run $(BUILD)
	tests/reference/run $(BUILD) --backend opencl
	tests/image/run $(BUILD)
	/usr/bin/python3 tests/pipeline/check_masks.py $(BUILD)
	/usr/bin/python3 tests/pipeline/check_rembg_fixtures.py $(BUILD)

# nginx on 127.0.0.1:8080 in front of cutout-fcgi (shipped u2netp), in the
# foreground; Ctrl-C stops both.
run: deps
	$(MAKE) all
	fcgi/run-local $(BUILD)

bench: all
	bench/run.sh $(BUILD)

deps:
	tools/install-deps

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include \
	  $(DESTDIR)$(PREFIX)/share/cutout/models
	install -m 755 $(BUILD)/cutout $(BUILD)/cutout-bench tools/fetch-model $(DESTDIR)$(PREFIX)/bin/
	install -m 755 $(BUILD)/cutout-fcgi $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(BUILD)/libcutout.a $(DESTDIR)$(PREFIX)/lib/
	install -m 644 engine/cutout.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 models/u2netp.onnx models/registry.tsv $(DESTDIR)$(PREFIX)/share/cutout/models/

clean:
	rm -rf build build-asan
