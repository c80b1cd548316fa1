# sanitize.mk - `make check-asan` (AddressSanitizer + UndefinedBehaviorSanitizer) and
# `make check-tsan` (ThreadSanitizer): the library, the CLI and the unit tests are built with the
# sanitizer into build-asan/ or build-tsan/, the test hosts (not instrumented) next to them, then
# the unit and end-to-end suites run against that build with the sanitizer's runtime preloaded
# ahead of the shim (lib.bash's CW_BUILD and CW_PRELOAD_PREFIX; `connwarden run` keeps a runtime
# it finds at the front of LD_PRELOAD first).
#
# The compiler is LLVM 19 (Debian packages clang-19, libclang-rt-19-dev and llvm-19, which
# `scripts/deps sanitize` installs): its runtimes lock their allocator across fork and work in
# front of curl, where GCC 12's do neither (a fork child hangs in ASan's malloc; curl hangs in
# setlocale). The runtime is a shared library (-shared-libsan) so the preload library can use it;
# the programs find it through an rpath.
SAN_CC ?= clang-19
SAN_ARCH := $(shell uname -m)
san_runtime = $(shell $(SAN_CC) -print-file-name=libclang_rt.$(1)-$(SAN_ARCH).so 2>/dev/null)
SAN_COMMON := -O1 -g -fno-omit-frame-pointer -shared-libsan -Wno-unused-command-line-argument

ASAN_FLAGS = $(SAN_COMMON) -fsanitize=address,undefined -fno-sanitize-recover=undefined \
  -Wl,-rpath,$(dir $(call san_runtime,asan))
TSAN_FLAGS = $(SAN_COMMON) -fsanitize=thread -Wl,-rpath,$(dir $(call san_runtime,tsan))

# A sanitizer report stops the process with a status of its own. ASan's leak check is off for the
# end-to-end tests, since the interpreters they run (Python) keep memory to their exit by design,
# and on for the unit tests (ASAN_UNIT_ENV), which are our code and cmocka alone. verify_asan_link_order
# is off for the processes whose LD_PRELOAD a test builds with the shim first on purpose.
# die_after_fork=0: the shim starts its threads again in a fork child of a threaded parent, which
# TSan allows only when asked (its atfork handlers make that safe). report_thread_leaks=0: test
# hosts leave threads running at exit on purpose (traffic until killed). atexit_sleep_ms=0: no
# second of sleep in every exit (a host forking 60 children would spend a minute in them).
# Reports name functions and lines through LLVM 19's symbolizer (package llvm-19).
# tests/tsan.supp silences TSan reports inside the uninstrumented programs the tests run (Node.js).
SAN_SYMBOLIZER := external_symbolizer_path=/usr/lib/llvm-19/bin/llvm-symbolizer
ASAN_ENV := ASAN_OPTIONS=detect_leaks=0:verify_asan_link_order=0:abort_on_error=1:exitcode=66:$(SAN_SYMBOLIZER) \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:$(SAN_SYMBOLIZER)
ASAN_UNIT_ENV := $(subst detect_leaks=0,detect_leaks=1,$(ASAN_ENV))
TSAN_ENV := TSAN_OPTIONS=halt_on_error=1:exitcode=66:die_after_fork=0:report_thread_leaks=0:atexit_sleep_ms=0:suppressions=$(CURDIR)/tests/tsan.supp:$(SAN_SYMBOLIZER)

# Tests that cannot run under a sanitizer, with the reason:
#  hostile_host_allocation_failure_is_not_fatal: its failing allocator must serve the shim's
#    malloc calls, and with a runtime first in LD_PRELOAD the runtime's malloc serves them.
#  hostile_host_signal_storm_never_deadlocks (TSan only): TSan runs a signal handler at once when
#    the thread is inside a blocking interceptor (accept, read), and the shim's wrapper runs inside
#    that interceptor, instrumented: a handler that lands in one of TSan's own routines there (an
#    atomic, an annotation) deadlocks the runtime itself (seen with gdb). The plain build and ASan
#    run the storm.
#  guide_postgresql_backend_reaps_an_idle_session_never_a_busy_one (TSan only): PostgreSQL does
#    not get to "ready to accept connections" within the test's 20 s with the TSan runtime in
#    every one of its processes (initdb and the server start a dozen); the plain build and ASan
#    run it.
#  tree_gunicorn_killed_worker_gives_back_its_slot_and_its_respawn_is_admitted and
#    tree_gunicorn_uvicorn_workers_share_one_cap_first_come_first_served (TSan only): gunicorn's
#    Python workers with the TSan runtime in each start and answer too slowly for the tests'
#    bounds (a slot handed back within a second); the plain build and ASan run them.
#  cap_tcp_fast_open_is_tracked_and_capped (TSan only): a blocking Fast Open send queued at the
#    cap sometimes waits past the test's bound under TSan, one run in three, at revisions before
#    the process tree too; not understood yet. The plain build and ASan run it.
#  names_getaddrinfo_a_names_connections (TSan only): a program built with TSan crashes in
#    getaddrinfo_a's own resolver thread, with the shim or without it; the plain build and ASan
#    run it.
SAN_E2E_SKIP ?= hostile_host_allocation_failure_is_not_fatal
TSAN_E2E_SKIP ?= hostile_host_allocation_failure_is_not_fatal hostile_host_signal_storm_never_deadlocks \
  guide_postgresql_backend_reaps_an_idle_session_never_a_busy_one \
  tree_gunicorn_killed_worker_gives_back_its_slot_and_its_respawn_is_admitted \
  tree_gunicorn_uvicorn_workers_share_one_cap_first_come_first_served cap_tcp_fast_open_is_tracked_and_capped \
  names_getaddrinfo_a_names_connections

SAN_HOSTS = $(patsubst $(BUILD)/%,$(1)/%,$(HOST_BINS))
san_e2e = $(filter-out $(1:%=tests/e2e/%.sh),$(wildcard tests/e2e/*.sh))

.PHONY: check-asan check-tsan san-deps

san-deps:
	scripts/deps sanitize

# san_check DIR,FLAGS,ENV,RUNTIME,SKIP,HOST_CC,HOST_CFLAGS,UNIT_ENV (expanded after san-deps has installed
# the compiler). DIR keeps its settings in DIR/config.mk (see the Makefile), so `make BUILD=DIR`
# builds alike.
define san_check
	mkdir -p $(1)
	printf 'CC = %s\nHOST_CC = %s\nHOST_CFLAGS = %s\nFORTIFY_CC = %s\nCFLAGS = %s\n' \
	  '$(SAN_CC)' '$(6)' '$(7)' '$(CC)' '$(2)' >$(1)/config.mk.new
	cmp -s $(1)/config.mk.new $(1)/config.mk && rm $(1)/config.mk.new || mv $(1)/config.mk.new $(1)/config.mk
	$(MAKE) BUILD=$(1) all $(call SAN_HOSTS,$(1))
	$(8) $(MAKE) BUILD=$(1) unit
	$(3) CW_BUILD=$(1) CW_PRELOAD_PREFIX=$(4) tests/e2e/run $(call san_e2e,$(5))
endef

# ASan's test hosts are plain programs. TSan's are instrumented: their threads hand fds to each
# other through atomics, which TSan sees only in instrumented code and would otherwise report as
# fd races. The fortified host (single-threaded) is always built by the default compiler, whose
# headers turn its reads into __read_chk.
check-asan: san-deps
	$(call san_check,build-asan,$(ASAN_FLAGS),$(ASAN_ENV),$(call san_runtime,asan),$(SAN_E2E_SKIP),$(CC),,$(ASAN_UNIT_ENV))

check-tsan: san-deps
	$(call san_check,build-tsan,$(TSAN_FLAGS),$(TSAN_ENV),$(call san_runtime,tsan),$(TSAN_E2E_SKIP),$(SAN_CC),$(filter-out -O1,$(TSAN_FLAGS)),$(TSAN_ENV))
