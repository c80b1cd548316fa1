# fuzz.mk - libFuzzer targets (clang) for the parsers that read untrusted text: the configuration
# (shim/config.c, statspath.c, vars.c), the stats command line (shim/command.c, with config.c for
# health's limits), the leak suppression file (scripts/cli/suppress.c) and a connection's first
# write (shim/sniff.c), each with a seed corpus in tests/fuzz/corpus/NAME. `make fuzz` runs
# each for FUZZ_SECONDS (default 60); `make fuzz-smoke` runs each for 10 s, for `make test`.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 10
FUZZ_CFLAGS := -std=gnu11 -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
  -fno-sanitize-recover=undefined -Ishim -Iscripts/cli
FUZZ_NAMES := config command suppress sniff
FUZZ_BINS := $(FUZZ_NAMES:%=$(BUILD)/fuzz/fuzz_%)

# the sources each target links: the pure modules, compiled by clang with the fuzzer
FUZZ_SRCS_config := shim/config.c shim/statspath.c shim/vars.c shim/sniff.c
FUZZ_SRCS_command := shim/command.c shim/config.c shim/statspath.c shim/vars.c shim/sniff.c
FUZZ_SRCS_suppress := scripts/cli/suppress.c
FUZZ_SRCS_sniff := shim/sniff.c

.PHONY: fuzz fuzz-smoke fuzz-build

define fuzz_target
$(BUILD)/fuzz/fuzz_$(1): tests/fuzz/fuzz_$(1).c $(FUZZ_SRCS_$(1)) $(SHIM_HDRS) $(CLI_HDRS) | $(BUILD)/fuzz
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $$@ $$< $(FUZZ_SRCS_$(1))
endef
$(foreach n,$(FUZZ_NAMES),$(eval $(call fuzz_target,$(n))))

$(BUILD)/fuzz:
	mkdir -p $@

fuzz-build: $(FUZZ_BINS)

# fuzz_run SECONDS: each target in turn, new inputs kept in $(BUILD)/fuzz/corpus-NAME (the seeds
# in tests/ are only read); a crash leaves its input as $(BUILD)/fuzz/NAME-crash-... and fails.
define fuzz_run
	@set -e; for n in $(FUZZ_NAMES); do \
	  mkdir -p $(BUILD)/fuzz/corpus-$$n; \
	  echo "fuzz: $$n for $(1)s"; \
	  $(BUILD)/fuzz/fuzz_$$n -max_total_time=$(1) -timeout=10 -rss_limit_mb=1024 -print_final_stats=0 \
	    -artifact_prefix=$(BUILD)/fuzz/$$n- $(BUILD)/fuzz/corpus-$$n tests/fuzz/corpus/$$n \
	    2>$(BUILD)/fuzz/$$n.log || { tail -n 40 $(BUILD)/fuzz/$$n.log; echo "fuzz: $$n failed"; exit 1; }; \
	  grep -E '^Done [0-9]+ runs' $(BUILD)/fuzz/$$n.log | tail -n 1; \
	done
endef

fuzz: fuzz-build
	$(call fuzz_run,$(FUZZ_SECONDS))

fuzz-smoke: fuzz-build
	$(call fuzz_run,$(FUZZ_SMOKE_SECONDS))
