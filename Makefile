# uRocket build. `make` builds the library; `make test` runs every suite;
# `make demo` is the README's main command. See README.md.
PYTHON ?= /usr/bin/python3
CC ?= gcc
PREFIX ?= /usr/local
DESTDIR ?=
BUILD ?= build

VERSION_MAJOR := $(shell sed -n 's/^\#define URK_VERSION_MAJOR \([0-9]*\)/\1/p' shim/include/urocket.h)
VERSION_MINOR := $(shell sed -n 's/^\#define URK_VERSION_MINOR \([0-9]*\)/\1/p' shim/include/urocket.h)
VERSION_PATCH := $(shell sed -n 's/^\#define URK_VERSION_PATCH \([0-9]*\)/\1/p' shim/include/urocket.h)
VERSION := $(VERSION_MAJOR).$(VERSION_MINOR).$(VERSION_PATCH)
SONAME := liburocket.so.$(VERSION_MAJOR)

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-missing-field-initializers
OPT ?= -O2 -g
SAN ?=
CFLAGS_LIB := -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) -fPIC -fvisibility=hidden $(SAN) $(EXTRA_CFLAGS)
LDLIBS_LIB := -luring -lpthread

SRCS := $(sort $(wildcard shim/src/*.c shim/src/*/*.c))
OBJS := $(patsubst shim/src/%.c,$(BUILD)/obj/%.o,$(SRCS))
HDRS := shim/include/urocket.h $(wildcard shim/src/*.h shim/src/*/*.h)

LIB_SO := $(BUILD)/liburocket.so.$(VERSION)
LIB_A := $(BUILD)/liburocket.a

.PHONY: all lib deps check-deps test test-c test-python test-bindings test-csharp test-rust \
        demo bench bench-ab bench-workloads install clean wheel test-asan test-tsan test-valgrind fuzz soak examples abi-check \
        nuget dotnet-examples test-dotnet test-aspnet-consumer

all: lib examples

lib: $(LIB_SO) $(LIB_A)

$(BUILD)/obj/%.o: shim/src/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_LIB) -c $< -o $@

$(BUILD)/obj:
	mkdir -p $@

$(LIB_SO): $(OBJS) shim/urocket.map
	$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--version-script=shim/urocket.map \
	    -Wl,--no-undefined $(SAN) -o $@ $(OBJS) $(LDLIBS_LIB)
	ln -sf liburocket.so.$(VERSION) $(BUILD)/$(SONAME)
	ln -sf $(SONAME) $(BUILD)/liburocket.so

$(LIB_A): $(OBJS)
	rm -f $@
	ar rcs $@ $(OBJS)

# ---- Python wheel ----
# build/wheel/urocket-$(VERSION)-py3-none-<platform>.whl with liburocket.so
# inside the package. The packaged copy links liburing statically (no
# liburing.so needed where the wheel is installed; readelf -d shows only libc).
# The package is staged in $(BUILD)/pkg so the source folder never holds a
# library (an editable install uses build/ instead).
WHEEL_DIR := $(BUILD)/wheel
WHEEL_PKG := $(BUILD)/pkg
WHEEL_SO := $(BUILD)/wheel-lib/liburocket.so.$(VERSION_MAJOR)
PY_SRCS := $(wildcard python/urocket/*.py) python/urocket/py.typed python/pyproject.toml \
           python/setup.py python/README.md

$(WHEEL_SO): $(OBJS) shim/urocket.map
	@mkdir -p $(dir $@)
	$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--version-script=shim/urocket.map \
	    -Wl,--no-undefined -Wl,--strip-debug -o $@ $(OBJS) \
	    -Wl,-Bstatic -luring -Wl,-Bdynamic -lpthread
	@if readelf -d $@ | grep -q 'NEEDED.*liburing'; then \
	  echo "$@ still needs liburing.so"; exit 1; fi

# Rebuilt on every call (a few seconds): the wheel's name depends on the
# platform, which only the Python that builds it knows.
wheel: $(WHEEL_SO) $(PY_SRCS)
	rm -rf $(WHEEL_PKG) && mkdir -p $(WHEEL_PKG)/urocket $(WHEEL_DIR)
	cp python/pyproject.toml python/setup.py python/README.md $(WHEEL_PKG)/
	cp python/urocket/*.py python/urocket/py.typed $(WHEEL_PKG)/urocket/
	cp $(WHEEL_SO) $(WHEEL_PKG)/urocket/
	rm -f $(WHEEL_DIR)/urocket-*.whl
	cd $(WHEEL_PKG) && $(PYTHON) -m pip wheel -q --no-build-isolation --no-deps \
	    --no-cache-dir -w $(CURDIR)/$(WHEEL_DIR) .
	@ls $(WHEEL_DIR)/urocket-$(VERSION)-py3-none-linux_*.whl >/dev/null 2>&1 || \
	  { echo "make wheel: expected $(WHEEL_DIR)/urocket-$(VERSION)-py3-none-linux_*.whl," \
	    "built: $$(ls $(WHEEL_DIR))"; exit 1; }
	@echo "built $$(ls $(WHEEL_DIR)/urocket-*.whl)"

# ---- dependencies (Debian packages) ----
DEB_PKGS := liburing-dev python3-cffi python3-pytest python3-hypothesis wrk nginx \
            python3-uvloop python3-matplotlib pkg-config clang libclang-rt-14-dev hyperfine \
            zlib1g-dev python3-setuptools python3-wheel python3-build python3-venv python3-pip mypy \
            librust-tokio-dev strace unzip

deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	else echo "make deps: all Debian packages present"; fi
	@# Not from Debian 12's apt (its rustc is 1.63, it has no .NET): named here
	@# so a fresh machine learns at once what `make test` will also need.
	@v=$$(cargo --version 2>/dev/null | sed -n 's/^cargo 1\.\([0-9]*\).*/\1/p'); \
	  [ -n "$$v" ] && [ "$$v" -ge 78 ] || echo "make deps: note: the Rust tests need cargo >= 1.78 (rustup.rs); found: $$(cargo --version 2>/dev/null || echo none)"; \
	  d=$$(dotnet --version 2>/dev/null | cut -d. -f1); \
	  [ -n "$$d" ] && [ "$$d" -ge 10 ] || echo "make deps: note: the C# tests need the .NET 10 SDK (dotnet on PATH); found: $$(dotnet --version 2>/dev/null || echo none)"

# Used by test/demo/bench: `make deps` checks every package (0.1 s when all
# are present) and installs only what is missing.
check-deps: deps

# ---- examples ----
EXAMPLES := $(patsubst examples/%.c,$(BUILD)/examples/%,$(wildcard examples/*.c))
examples: $(EXAMPLES)
$(BUILD)/examples/%: examples/%.c $(LIB_SO) shim/include/urocket.h
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) $(SAN) -Ishim/include $< -o $@ \
	    -L$(BUILD) -lurocket -Wl,-rpath,'$$ORIGIN/..' -lpthread

# ---- tests ----
C_TESTS := $(patsubst tests/c/%.c,$(BUILD)/tests/%,$(wildcard tests/c/*.c))
$(BUILD)/tests/%: tests/c/%.c $(wildcard tests/c/*.h) $(LIB_SO) shim/include/urocket.h
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -O1 -g $(WARN) -Wno-missing-prototypes $(SAN) -Ishim/include -Ishim/src \
	    $< -o $@ -L$(BUILD) -lurocket -luring -Wl,-rpath,'$$ORIGIN/..' -lpthread

# Compatibility tests: built against the frozen 0.1.0 header alone
# (tests/compat/0.1/urocket.h) and linked as against 0.1.0: the link-time
# library is a stub with the 0.1 functions in UROCKET_0.1 only, so every
# import is name@UROCKET_0.1, as in a program built with 0.1.0. They run
# against the current library (found through the rpath, by soname).
COMPAT_TESTS := $(patsubst tests/compat/%.c,$(BUILD)/compat/%,$(wildcard tests/compat/*.c))
COMPAT_STUB := $(BUILD)/compat/stub-0.1/liburocket.so
$(COMPAT_STUB): tests/compat/0.1/urocket.h
	@mkdir -p $(dir $@)
	grep -o 'URK_API [^(]*(' $< | grep -o 'urk_[a-z0-9_]*' | sort -u | \
	    sed 's/.*/void &(void); void &(void) {}/' > $(dir $@)stub.c
	printf 'UROCKET_0.1 { global: urk_*; local: *; };\n' > $(dir $@)stub.map
	$(CC) -shared -fPIC -Wl,-soname,$(SONAME) -Wl,--version-script=$(dir $@)stub.map \
	    -o $@ $(dir $@)stub.c
$(BUILD)/compat/%: tests/compat/%.c tests/compat/0.1/urocket.h $(COMPAT_STUB) $(LIB_SO)
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -O1 -g $(WARN) $(SAN) -Itests/compat/0.1 \
	    $< -o $@ -L$(BUILD)/compat/stub-0.1 -lurocket -Wl,-rpath,'$$ORIGIN/..' -lpthread

test: check-deps lib examples
	@$(MAKE) --no-print-directory test-c
	@$(MAKE) --no-print-directory test-python
	@$(MAKE) --no-print-directory test-bindings
	@$(MAKE) --no-print-directory test-dotnet

test-c: $(C_TESTS) $(COMPAT_TESTS)
	@tests/run_c_tests.sh $(BUILD)/tests $(C_TESTS) $(COMPAT_TESTS)

test-python: lib examples
	@URK_LIBRARY=$(CURDIR)/$(LIB_SO) tests/run_pytest.sh $(PYTHON) tests/python

test-bindings: lib
	@if [ -f bindings/Makefile ]; then $(MAKE) --no-print-directory -C bindings test BUILD=$(CURDIR)/$(BUILD); fi

abi-check: lib
	@tests/check_exports.sh $(LIB_SO) shim/urocket.map

# ---- .NET: the NuGet package and the native AOT examples (bindings/csharp) ----
# nuget: build/nuget/Urocket.<version>.nupkg with the assemblies for net8.0 and
# net10.0 and runtimes/linux-x64/native/liburocket.so, a copy of the library
# with liburing linked in statically (needs nothing beyond glibc; checked).
# dotnet-examples: build/dotnet/echo_server and http_server, native AOT, with
# that libc-only liburocket.so beside them.
# test-dotnet: the package consumer test (dotnet run and AOT publish of the
# README's echo server), 200-connection echo through the AOT echo_server,
# wrk -c512 against the AOT http_server.
DOTNET ?= dotnet
export DOTNET_CLI_TELEMETRY_OPTOUT=1
export DOTNET_NOLOGO=1
export DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
CS_DIR := bindings/csharp
CS_PROPS = -p:ArtifactsPath=$(abspath $(BUILD))/csharp -nologo -v:q
LIBURING_A := $(shell $(CC) -print-file-name=liburing.a)
NUGET_NATIVE := $(BUILD)/nuget-native/liburocket.so
NUPKG := $(BUILD)/nuget/Urocket.$(VERSION).nupkg
CS_SRCS := $(wildcard $(CS_DIR)/src/*.cs $(CS_DIR)/src/*.csproj $(CS_DIR)/*.props $(CS_DIR)/README.md)

$(NUGET_NATIVE): $(OBJS) shim/urocket.map
	@mkdir -p $(dir $@)
	@[ -f "$(LIBURING_A)" ] || { echo "liburing.a not found: install liburing-dev (make deps)" >&2; exit 1; }
	$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--version-script=shim/urocket.map -Wl,--no-undefined \
	    -o $@ $(OBJS) $(LIBURING_A) -lpthread
	@if readelf -d $@ | grep NEEDED | grep -v -e 'libc\.so' -e 'ld-linux'; then \
	    echo "$@ needs more than libc" >&2; rm -f $@; exit 1; fi

# $(call check_nupkg,FILE,ENTRIES): fails, and deletes FILE (so the next make
# packs again), unless the package lists every entry (unzip's zipinfo mode).
define check_nupkg
@command -v unzip >/dev/null || { echo "nuget: unzip not found (make deps) to check $(1)" >&2; exit 1; }
@list=$$(unzip -Z1 $(1)) || { echo "nuget: $(1) is not a readable package" >&2; rm -f $(1); exit 1; }; \
	for e in $(2); do printf '%s\n' "$$list" | grep -qxF "$$e" || \
	  { echo "nuget: $(1) lacks $$e" >&2; rm -f $(1); exit 1; }; done; \
	echo "nuget: $(notdir $(1)) holds $(2)"
endef
NUPKG_ENTRIES := lib/net8.0/Urocket.dll lib/net10.0/Urocket.dll runtimes/linux-x64/native/liburocket.so
NUPKG_ASPNET_ENTRIES := lib/net10.0/Urocket.AspNetCore.dll

$(NUPKG): $(NUGET_NATIVE) $(CS_SRCS)
	rm -f $(BUILD)/nuget/Urocket.*.nupkg
	cd $(CS_DIR) && $(DOTNET) pack src/Urocket.csproj -c Release $(CS_PROPS) -p:Version=$(VERSION) \
	    -p:UrkNativeLib=$(abspath $(NUGET_NATIVE)) -o $(abspath $(BUILD))/nuget
	$(call check_nupkg,$@,$(NUPKG_ENTRIES))

# Urocket.AspNetCore (the Kestrel transport) depends on Urocket of the same version.
NUPKG_ASPNET := $(BUILD)/nuget/Urocket.AspNetCore.$(VERSION).nupkg
CS_ASPNET_SRCS := $(wildcard $(CS_DIR)/aspnetcore/src/*.cs $(CS_DIR)/aspnetcore/src/*.csproj)

$(NUPKG_ASPNET): $(NUPKG) $(CS_ASPNET_SRCS)
	rm -f $(BUILD)/nuget/Urocket.AspNetCore.*.nupkg
	cd $(CS_DIR) && $(DOTNET) pack aspnetcore/src/Urocket.AspNetCore.csproj -c Release $(CS_PROPS) -p:Version=$(VERSION) \
	    -o $(abspath $(BUILD))/nuget
	$(call check_nupkg,$@,$(NUPKG_ASPNET_ENTRIES))

nuget: $(NUPKG) $(NUPKG_ASPNET)
	@echo "nuget: $(NUPKG) $(NUPKG_ASPNET)"

dotnet-examples: $(NUGET_NATIVE)
	@mkdir -p $(BUILD)/dotnet
	cd $(CS_DIR) && for p in EchoServer HttpServer; do \
	    $(DOTNET) publish examples/$$p/$$p.csproj -c Release -r linux-x64 -p:PublishAot=true $(CS_PROPS) \
	        -o $(abspath $(BUILD))/dotnet || exit 1; done
	cp $(NUGET_NATIVE) $(BUILD)/dotnet/liburocket.so
	@echo "dotnet-examples: $(BUILD)/dotnet/echo_server $(BUILD)/dotnet/http_server"

test-dotnet: lib nuget dotnet-examples
	@$(CS_DIR)/tests/tools/consumer_test.sh $(BUILD) $(VERSION)
	@echo "AOT echo_server: random payloads up to 1 MiB on 200 connections"
	@$(PYTHON) $(CS_DIR)/tests/tools/echo_check.py --conns 200 --rounds 2 --max-size 1048576 --signal INT -- \
	    $(BUILD)/dotnet/echo_server --port 0 --reactors 2
	@echo "AOT http_server: pipelining, BENCH_RESPONSE byte for byte, wrk -c512"
	@$(PYTHON) $(CS_DIR)/tests/tools/http_check.py $(BUILD)/dotnet/http_server bench/servers/response.h
	@$(MAKE) --no-print-directory test-aspnet-consumer

# The Kestrel transport from the outside: examples/AspNetHello (GET /, /json,
# POST /echo, wrk -c512, SIGINT), then a newcomer's app built from the packages.
test-aspnet-consumer: lib nuget
	cd $(CS_DIR) && $(DOTNET) publish examples/AspNetHello/AspNetHello.csproj -c Release $(CS_PROPS) \
	    -o $(abspath $(BUILD))/dotnet/aspnet_hello
	@echo "AspNetHello on UseUrocket(): GET /, GET /json, 1 MiB echo, wrk -c512"
	@URK_LIBRARY=$(abspath $(LIB_SO)) $(PYTHON) $(CS_DIR)/aspnetcore/tools/aspnet_check.py -- \
	    $(BUILD)/dotnet/aspnet_hello/aspnet_hello --port 0 --reactors 2
	@$(CS_DIR)/aspnetcore/tools/consumer_test.sh $(BUILD) $(VERSION)

# ---- sanitizers / valgrind / fuzz / soak (issue 7: hardening) ----
# test-asan: C tests, a 10 s soak, then pytest, against an ASan+UBSan build
# (build-asan).
# pytest runs an uninstrumented python3, so the ASan runtime is preloaded and
# LeakSanitizer is off for the interpreter (CPython's own allocations would
# flood it); the C tests keep leak detection on.
.PHONY: fuzz-build
ASAN_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined
ASAN_RT = $(shell $(CC) -print-file-name=libasan.so)
test-asan:
	$(MAKE) --no-print-directory BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer" \
	    SAN="$(ASAN_SAN)" lib examples build-asan/soak test-c
	@echo "soak, 10 s, ASan+UBSan (engine restarts every 2 s)"
	@build-asan/soak --seconds 10 --restart-every 2 --report-every 5
	@echo "pytest against build-asan/liburocket.so (ASan+UBSan)"
	@LD_PRELOAD=$(ASAN_RT) ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 \
	    URK_LIBRARY=$(CURDIR)/build-asan/liburocket.so.$(VERSION) \
	    URK_EXAMPLES_DIR=$(CURDIR)/build-asan/examples URK_SANITIZER=asan \
	    tests/run_pytest.sh $(PYTHON) tests/python
# test-tsan: every C test (the engine and load generator ones are threaded)
# and a 10 s soak against a TSan build; tests/tsan.supp lists the
# suppressions and why.
test-tsan:
	@TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/tsan.supp" \
	    $(MAKE) --no-print-directory BUILD=build-tsan OPT="-O1 -g" SAN="-fsanitize=thread" \
	    lib examples build-tsan/soak test-c
	@echo "soak, 10 s, TSan (engine restarts every 2 s)"
	@TSAN_OPTIONS="halt_on_error=1 suppressions=$(CURDIR)/tests/tsan.supp" \
	    build-tsan/soak --seconds 10 --restart-every 2 --report-every 5
# test-valgrind: memcheck over the C tests. Valgrind 3.19 keeps its thread
# lock while a thread blocks in io_uring_enter (liburing#657), so tests whose
# point is a thread blocked in the kernel exit 77 (skip) under URK_VALGRIND=1.
test-valgrind: lib $(C_TESTS) $(COMPAT_TESTS)
	@URK_VALGRIND=1 tests/run_c_tests.sh $(BUILD)/tests $(C_TESTS) $(COMPAT_TESTS)

# fuzz: libFuzzer targets fuzz/fuzz_*.c, built with clang (ASan+UBSan) into
# build-fuzz, each run FUZZ_SECONDS from the seed corpus fuzz/corpus/<name>/
# (new inputs go to build-fuzz/corpus/<name>/, crashes to build-fuzz/artifacts/).
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_BUILD := build-fuzz
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer $(WARN) \
    -Wno-missing-prototypes -Ishim/include -Ishim/src $(ASAN_SAN)
FUZZ_OBJS := $(patsubst shim/src/%.c,$(FUZZ_BUILD)/obj/%.o,$(SRCS))
FUZZ_TARGETS := $(patsubst fuzz/%.c,$(FUZZ_BUILD)/%,$(wildcard fuzz/fuzz_*.c))
$(FUZZ_BUILD)/obj/%.o: shim/src/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@
$(FUZZ_BUILD)/fuzz_%: fuzz/fuzz_%.c $(FUZZ_OBJS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $< $(FUZZ_OBJS) -o $@ -luring -lpthread
.SECONDARY: $(FUZZ_OBJS)
fuzz-build: $(FUZZ_TARGETS)
fuzz: $(FUZZ_TARGETS)
	@fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# soak: SOAK_SECONDS of mixed churn against an in-process echo engine with
# byte-exact verification (tests/soak/soak.c); not in CI.
SOAK_SECONDS ?= 60
$(BUILD)/soak: tests/soak/soak.c $(LIB_SO) shim/include/urocket.h
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) $(SAN) -Ishim/include $< -o $@ \
	    -L$(BUILD) -lurocket -Wl,-rpath,'$$ORIGIN' -lpthread
soak: lib $(BUILD)/soak
	@$(BUILD)/soak --seconds $(SOAK_SECONDS)

# ---- demo and benchmarks ----
demo: check-deps lib examples
	@URK_LIBRARY=$(CURDIR)/$(LIB_SO) PYTHONPATH=$(CURDIR)/python $(PYTHON) examples/demo.py

bench: check-deps lib examples
	@if command -v $(DOTNET) >/dev/null 2>&1; then $(MAKE) --no-print-directory dotnet-examples || \
	  echo "bench: make dotnet-examples failed; the C# uRocket rows will be skipped"; fi
	@$(MAKE) --no-print-directory -C bench BUILD=$(CURDIR)/$(BUILD) PYTHON=$(PYTHON)

# The workloads alone (bench/workloads.py): `make bench-workloads WL_ARGS=--quick`
bench-workloads: check-deps lib examples
	@$(MAKE) --no-print-directory -C bench workloads BUILD=$(CURDIR)/$(BUILD) PYTHON=$(PYTHON) \
	    BENCH_QUICK=$(BENCH_QUICK) WL_ARGS="$(WL_ARGS)"

# Engine features on/off in one run (bench/ab.py): `make bench-ab AB_ARGS=...`
bench-ab: check-deps lib examples
	@$(MAKE) --no-print-directory -C bench ab BUILD=$(CURDIR)/$(BUILD) PYTHON=$(PYTHON) AB_ARGS="$(AB_ARGS)"

# The benchmark's .NET servers (bench/dotnet), native AOT, into $(BUILD)/dotnet-bench/.
.PHONY: dotnet-bench
dotnet-bench: lib
	@$(MAKE) --no-print-directory -C bench dotnet BUILD=$(CURDIR)/$(BUILD)

install: lib
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 shim/include/urocket.h $(DESTDIR)$(PREFIX)/include/
	install -m 755 $(LIB_SO) $(DESTDIR)$(PREFIX)/lib/
	install -m 644 $(LIB_A) $(DESTDIR)$(PREFIX)/lib/
	ln -sf liburocket.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(PREFIX)/lib/liburocket.so
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' shim/urocket.pc.in \
	    > $(DESTDIR)$(PREFIX)/lib/pkgconfig/urocket.pc

clean:
	rm -rf build build-asan build-tsan build-ubsan build-fuzz
