# leaks.mk - the leak check's build extras. Its C test hosts (tests/hosts/leaks_*.c) export their
# symbols (-rdynamic), so a report names the function that opened a leaked connection even
# without addr2line; the suppression parser's unit test compiles the CLI's suppress.c in.
$(BUILD)/hosts/leaks_%: tests/hosts/leaks_%.c | $(BUILD)/hosts
	$(CC) -O2 -g -std=gnu11 $(WARN) -pthread -rdynamic -o $@ $<

$(BUILD)/tests/test_suppressions: scripts/cli/suppress.c scripts/cli/suppress.h
