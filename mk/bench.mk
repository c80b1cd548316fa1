# bench.mk - `make bench`: the performance table of the README (scripts/bench), against the
# library in the tree. Builds the work programs of tests/bench/ and two reference preloads (a
# pass-through floor and a naive locked shim). Never part of `make test`.
BENCH_PROGS := read_zero roundtrip connect_close many_conns peer handover epoll_mod resolve
BENCH_PRELOADS := passthrough naive
BENCH_BINS := $(BENCH_PROGS:%=$(BUILD)/bench/%) $(BENCH_PRELOADS:%=$(BUILD)/bench/lib%.so)

.PHONY: bench bench-build

$(BENCH_PROGS:%=$(BUILD)/bench/%): $(BUILD)/bench/%: tests/bench/%.c tests/bench/bench.h | $(BUILD)/bench
	$(CC) -O2 -g -std=gnu11 $(WARN) -pthread -o $@ $<

$(BENCH_PRELOADS:%=$(BUILD)/bench/lib%.so): $(BUILD)/bench/lib%.so: tests/bench/%.c | $(BUILD)/bench
	$(CC) -O2 -g -std=gnu11 $(WARN) -fPIC -shared -pthread -o $@ $< -ldl

$(BUILD)/bench:
	mkdir -p $@

bench-build: $(BUILD)/libconnwarden.so $(BENCH_BINS)

bench:
	scripts/deps bench
	$(MAKE) bench-build
	BUILD=$(BUILD) scripts/bench
