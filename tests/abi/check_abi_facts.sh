#!/bin/sh
# Builds tests/abi/abi_facts.c against the header, runs it, and fails if the
# committed tests/abi/abi_facts.c or tests/abi/abi_facts.json is not what the
# current header gives. With --update, rewrites both instead.
#   check_abi_facts.sh OUT_DIR [PYTHON] [--update]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=${1:?usage: check_abi_facts.sh OUT_DIR [PYTHON] [--update]}
python=${2:-/usr/bin/python3}
mode=${3:-}
cc=${CC:-cc}
mkdir -p "$out"
if [ "$mode" = --update ]; then
    "$python" "$here/gen_abi_facts.py"
elif ! "$python" "$here/gen_abi_facts.py" --check; then
    exit 1
fi
"$cc" -std=c11 -Wall -Wextra -Werror -I"$repo/shim/include" "$here/abi_facts.c" -o "$out/abi_facts"
"$out/abi_facts" > "$out/abi_facts.json"
if [ "$mode" = --update ]; then
    cp "$out/abi_facts.json" "$here/abi_facts.json"
    echo "abi facts: updated tests/abi/abi_facts.c and tests/abi/abi_facts.json"
elif ! cmp -s "$out/abi_facts.json" "$here/abi_facts.json"; then
    diff -u "$here/abi_facts.json" "$out/abi_facts.json" | head -40 >&2
    echo "tests/abi/abi_facts.json is stale: run \`make -C bindings abi-facts-update\`" >&2
    exit 1
else
    echo "abi facts: tests/abi/abi_facts.json is current"
fi
