#!/usr/bin/env bash
# Structure checks that the compiler cannot make, run first by scripts/test.sh:
#   - only the daemon layer (server/daemon/) includes libevent (event2/);
#   - the modules' includes form no cycle: module X (X.c and X.h) depends on
#     Y when either includes Y.h, and those dependencies must be a DAG
#     (tsort finds any loop);
#   - every C file is formatted as .clang-format says, by clang-format 14
#     (the version the tree is formatted with: others break lines
#     differently). To format: git ls-files '*.c' '*.h' | xargs clang-format-14 -i
# Exits non-zero with what is wrong.
set -euo pipefail
cd "$(dirname "$0")/.."
bad=0

if hits=$(grep -rln --include='*.[ch]' '#[[:space:]]*include[[:space:]]*[<"]event2/' \
    protocol server | grep -v '^server/daemon/'); then
  echo "lint: event2/ included outside server/daemon/:"
  echo "$hits"
  bad=1
fi

edges=$(find protocol server -name '*.[ch]' -not -path '*/tests/*' -not -path '*/fuzz/*' |
  sort | while read -r f; do
  from=$(basename "${f%.*}")
  sed -n 's/^#[[:space:]]*include[[:space:]]*"\([^"]*\)\.h".*/\1/p' "$f" | while read -r to; do
    if [[ $to != "$from" ]]; then echo "$from $to"; fi
  done
done | sort -u)
if ! out=$(tsort <<<"$edges" 2>&1 >/dev/null) || [[ -n $out ]]; then
  echo "lint: the modules' includes form a cycle:"
  echo "$out"
  bad=1
fi

if ! command -v clang-format-14 >/dev/null; then
  echo "lint: clang-format-14 is missing (scripts/deps.sh test installs it)"
  bad=1
elif ! out=$(git ls-files '*.c' '*.h' | xargs clang-format-14 --dry-run --Werror 2>&1); then
  echo "lint: not formatted (git ls-files '*.c' '*.h' | xargs clang-format-14 -i):"
  grep -E '^[^ ].*: (error|warning)' <<<"$out" | cut -d: -f1 | sort -u
  bad=1
fi

((bad == 0)) && echo "lint: layers, include graph and formatting OK"
exit "$bad"
