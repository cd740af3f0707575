#!/usr/bin/env bash
# Every exported symbol is a versioned urk_* symbol, and every function the
# public header declares is exported.
set -eu
lib=$1; map=$2
syms=$(nm -D --defined-only "$lib" | awk '$2=="T"{print $3}')
bad=$(printf '%s\n' "$syms" | grep -v '^urk_[a-z0-9_]*@@UROCKET_' || true)
if [ -n "$bad" ]; then echo "unexpected exports:"; echo "$bad"; exit 1; fi
hdr=$(dirname "$map")/include/urocket.h
declared=$(grep -o 'URK_API [^(]*(' "$hdr" | grep -o 'urk_[a-z0-9_]*' | sort -u)
exported=$(printf '%s\n' "$syms" | sed 's/@.*//' | sort -u)
missing=$(comm -23 <(echo "$declared") <(echo "$exported"))
if [ -n "$missing" ]; then echo "declared but not exported:"; echo "$missing"; exit 1; fi
echo "exports ok: $(echo "$exported" | wc -l) versioned urk_ symbols"
