# connwarden - build, test, demo, install. Outputs go to build/.
PREFIX ?= /usr/local
DESTDIR ?=
CC ?= cc
# the test hosts' compiler and extra flags (check-tsan instruments them too)
HOST_CC ?= $(CC)
HOST_CFLAGS ?=
# fortified hosts (named *fortify*): a compiler whose headers turn read() into __read_chk (GCC's)
FORTIFY_CC ?= $(HOST_CC)
CFLAGS ?= -O2 -g
BUILD ?= build
# A build directory made with other settings (make check-asan's, check-tsan's) keeps them here, so
# any later make with that BUILD (install, a host) builds alike; the command line still wins.
-include $(BUILD)/config.mk

WARN := -Wall -Wextra -Wshadow -Wno-unused-parameter -Wno-missing-field-initializers
SHIM_CFLAGS := -std=gnu11 $(WARN) -fPIC -fvisibility=hidden -U_FORTIFY_SOURCE -pthread
SHIM_SRCS := $(wildcard shim/*.c)
SHIM_OBJS := $(SHIM_SRCS:shim/%.c=$(BUILD)/shim/%.o)
SHIM_HDRS := $(wildcard shim/*.h) shim/hooks.def

CLI_SRCS := $(wildcard scripts/cli/*.c)
CLI_HDRS := $(wildcard scripts/cli/*.h)
CLI_CFLAGS := -std=gnu11 $(WARN) -Ishim -pthread
CLI_LIBS := -ljansson

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

HOST_SRCS := $(wildcard tests/hosts/*.c)
# tests/hosts/preload_NAME.c are libraries a test preloads next to the shim: build/hosts/preload_NAME.so
HOST_LIBS := $(filter tests/hosts/preload_%,$(HOST_SRCS))
HOST_BINS := $(patsubst tests/hosts/%.c,$(BUILD)/hosts/%,$(filter-out $(HOST_LIBS),$(HOST_SRCS))) \
  $(HOST_LIBS:tests/hosts/%.c=$(BUILD)/hosts/%.so)

.PHONY: all deps test unit e2e demo soak install uninstall clean

all: $(BUILD)/libconnwarden.so $(BUILD)/connwarden

# What a build was made with: rewritten (as make reads this file) only when the compiler or flags
# change, so such a change rebuilds everything (make CFLAGS=...) and nothing else does.
FLAGS_STAMP := $(BUILD)/.flags
FLAGS_NOW := $(CC) $(CFLAGS) $(HOST_CC) $(HOST_CFLAGS) $(FORTIFY_CC)
ifneq ($(FLAGS_NOW),$(shell cat $(FLAGS_STAMP) 2>/dev/null))
$(shell mkdir -p $(BUILD) && echo '$(FLAGS_NOW)' >$(FLAGS_STAMP))
endif

$(BUILD)/shim/%.o: shim/%.c $(SHIM_HDRS) $(FLAGS_STAMP) | $(BUILD)/shim
	$(CC) $(CFLAGS) $(SHIM_CFLAGS) -c $< -o $@

$(BUILD)/libconnwarden.so: $(SHIM_OBJS) shim/exports.map
	$(CC) $(CFLAGS) -shared -pthread -Wl,--version-script=shim/exports.map -Wl,-z,now -Wl,-z,defs \
	  -o $@ $(SHIM_OBJS) -ldl

$(BUILD)/connwarden: $(CLI_SRCS) $(CLI_HDRS) shim/render.h $(FLAGS_STAMP) | $(BUILD)
	$(CC) $(CFLAGS) $(CLI_CFLAGS) -DCW_VERSION_STRING='"0.1.0"' -o $@ $(CLI_SRCS) $(CLI_LIBS)

# Unit tests link the module objects they test, never the preload library.
UNIT_LIBS := -lcmocka -ljansson -ldl -pthread
$(BUILD)/tests/test_%: tests/unit/test_%.c $(SHIM_OBJS) $(FLAGS_STAMP) | $(BUILD)/tests
	$(CC) $(CFLAGS) -std=gnu11 $(WARN) -Ishim -o $@ $< \
	  $(addprefix $(BUILD)/shim/,$(shell sed -n 's/^ *\* *objects: *//p' $<)) $(UNIT_LIBS)

# Small programs the end-to-end tests run under the shim; fortified ones say so in their name, and
# a "links:" line in a program's opening comment names the libraries it links with.
$(BUILD)/hosts/%: tests/hosts/%.c $(wildcard tests/hosts/*.h) $(FLAGS_STAMP) | $(BUILD)/hosts
	$(if $(findstring fortify,$*),$(FORTIFY_CC) -D_FORTIFY_SOURCE=2,$(HOST_CC) $(HOST_CFLAGS)) \
	  -O2 -g -std=gnu11 $(WARN) -pthread -o $@ $< $(shell sed -n 's/^ *\* *links: *//p' $<)
$(BUILD)/hosts/preload_%.so: tests/hosts/preload_%.c $(wildcard tests/hosts/*.h) $(FLAGS_STAMP) | $(BUILD)/hosts
	$(HOST_CC) -O2 -g -std=gnu11 $(WARN) $(HOST_CFLAGS) -fPIC -shared -pthread -o $@ $< -ldl

$(BUILD) $(BUILD)/shim $(BUILD)/tests $(BUILD)/hosts:
	mkdir -p $@

deps:
	scripts/deps

unit: $(UNIT_BINS)
	@failed=""; for t in $(UNIT_BINS); do $$t || failed="$$failed $$t"; done; \
	  if [ -n "$$failed" ]; then echo "unit tests failed:$$failed"; exit 1; fi

e2e: all $(HOST_BINS)
	tests/e2e/run

test: deps
	$(MAKE) all
	$(MAKE) unit
	$(MAKE) check-rules
	$(MAKE) e2e
	$(MAKE) fuzz-smoke

demo: deps
	$(MAKE) all $(HOST_BINS)
	scripts/demo

# Mixed load for SOAK_SECONDS, checking that memory and fds stay flat (scripts/soak says how).
# An hour: make soak SOAK_SECONDS=3600
SOAK_SECONDS ?= 30
soak: deps
	$(MAKE) all $(BUILD)/hosts/hostile_soak
	BUILD=$(BUILD) scripts/soak $(SOAK_SECONDS)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/connwarden
	install -m 0755 $(BUILD)/connwarden $(DESTDIR)$(PREFIX)/bin/connwarden
	install -m 0644 $(BUILD)/libconnwarden.so $(DESTDIR)$(PREFIX)/lib/connwarden/libconnwarden.so

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/connwarden $(DESTDIR)$(PREFIX)/lib/connwarden/libconnwarden.so
	-rmdir $(DESTDIR)$(PREFIX)/lib/connwarden

clean:
	rm -rf $(BUILD)

# Feature makefiles (bench, sanitizers, fuzzing, docs) add their own targets.
-include $(sort $(wildcard mk/*.mk))
