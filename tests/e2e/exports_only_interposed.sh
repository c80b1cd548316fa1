# The preload library exports exactly the calls it interposes (the CW_HOOK lines of
# shim/hooks.def), each as a function, and nothing else: no helper, global or libc name leaks into
# the host's symbol lookup.
. "$(dirname "$0")/lib.bash"
DEF=$ROOT/shim/hooks.def
[ -f "$CW_LIB" ] || fail "build it first: make all"
if [ "$DEF" -nt "$CW_LIB" ]; then
  note "shim/hooks.def is newer than $CW_LIB: the comparison is against a stale build (make all)"
fi

# CW_HOOK(ret, NAME, (params), (args), KIND, ...): the second field
sed -n 's/^[[:space:]]*CW_HOOK([^,]*,[[:space:]]*\([A-Za-z_][A-Za-z0-9_]*\)[[:space:]]*,.*/\1/p' "$DEF" |
  sort -u >"$T/hooks"
[ "$(grep -c '^[[:space:]]*CW_HOOK(' "$DEF")" = "$(wc -l <"$T/hooks")" ] ||
  fail "could not parse every CW_HOOK line of $DEF"
[ "$(wc -l <"$T/hooks")" -ge 30 ] || fail "only $(wc -l <"$T/hooks") hooks parsed from $DEF"

nm -D --defined-only "$CW_LIB" >"$T/nm"
awk '{print $NF}' "$T/nm" | sed 's/@.*//' | sort -u >"$T/exported"
if ! diff -u "$T/hooks" "$T/exported" >"$T/diff"; then
  cat "$T/diff" >&2
  fail "exports differ from hooks.def ('-': interposed but not exported, '+': exported but not interposed)"
fi

# every export is code (T, or W for a weak definition), never data or an absolute symbol
bad=$(awk 'NF < 3 || ($2 != "T" && $2 != "W") {print}' "$T/nm")
[ -z "$bad" ] || fail "exports that are not functions: $bad"
