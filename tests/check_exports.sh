#!/usr/bin/env bash
# Checks the library's exports against the version script and the headers:
#   - every exported symbol is a function urk_* with a version, and the
#     map lists it in that node; every (name, node) the map lists is
#     exported (so the map, not a wildcard, decides); no global wildcard;
#   - a name listed in several nodes (a 0.1 init whose struct grew: its 0.1
#     behaviour stays at name@UROCKET_0.1) has its default version
#     (name@@) in the last of them and compat versions (name@) in the others;
#   - UROCKET_0.1 is exactly the functions of the frozen 0.1.0 header
#     (a 0.1 symbol missing or a newer one put there fails);
#   - every node after UROCKET_0.1 inherits the previous node;
#   - every function the current header declares is exported.
# usage: check_exports.sh LIB MAP [HEADER [HEADER_0_1]]
set -eu
lib=$1; map=$2
root=$(cd "$(dirname "$map")/.." && pwd)
hdr=${3:-$root/shim/include/urocket.h}
hdr01=${4:-$root/tests/compat/0.1/urocket.h}
fail=0
err() { echo "check_exports: $*" >&2; fail=1; }

# name node, one per line, from the map (comments stripped).
map_syms=$(sed -e 's#/\*.*\*/##g' "$map" | awk '
  /\/\*/ { incomment = 1 }
  incomment { if ($0 ~ /\*\//) incomment = 0; next }
  /^[A-Za-z0-9_.]+[ \t]*\{/ { node = $1; sub(/\{.*/, "", node); next }
  /^[ \t]*(global|local):/ { scope = $1; sub(/:.*/, "", scope); sub(/^[ \t]*(global|local):/, "") }
  /^\}/ { scope = ""; next }
  {
    n = split($0, w, /[ \t;]+/)
    for (i = 1; i <= n; i++) if (w[i] != "") print node, scope, w[i]
  }')
nodes=$(sed -e 's#/\*.*\*/##g' "$map" | awk '
  /\/\*/ { c = 1 } c { if ($0 ~ /\*\//) c = 0; next }
  /^[A-Za-z0-9_.]+[ \t]*\{/ { n = $1; sub(/\{.*/, "", n); print n }')
listed=$(printf '%s\n' "$map_syms" | awk '$2 == "global" { print $3, $1 }' | sort)
if printf '%s\n' "$map_syms" | awk '$2 == "global" && $3 ~ /[*?]/' | grep -q .; then
  err "a global wildcard in the map (list every exported name)"
fi
dups=$(printf '%s\n' "$listed" | sort | uniq -d)
[ -z "$dups" ] || err "listed twice in one node: $dups"

# Node chain: the first node is UROCKET_0.1; each later one inherits the one before.
set -- $nodes
[ "${1:-}" = UROCKET_0.1 ] || err "first node is ${1:-none}, not UROCKET_0.1"
while [ $# -ge 2 ]; do
  # The block of node $2 must close with "} $1;".
  if ! sed -e 's#/\*.*\*/##g' "$map" | awk -v n="$2" -v p="$1" '
      $0 ~ "^" n "[ \t]*\\{" { inside = 1 }
      inside && /^\}/ { gsub(/[ \t;}]/, ""); exit ($0 == p ? 0 : 1) }
      END { }' ; then
    err "node $2 does not inherit $1 (close it with \"} $1;\")"
  fi
  shift
done

# Exported symbols: name node kind (kind "@@" default, "@" compat).
dyn=$(nm -D --defined-only "$lib" | awk '$2 != "A"')
bad=$(printf '%s\n' "$dyn" | awk '$2 != "T" || $3 !~ /^urk_[a-z0-9_]*@@?UROCKET_[0-9.]+$/' || true)
[ -z "$bad" ] || err "unexpected exports (not a versioned urk_ function):
$bad"
exported=$(printf '%s\n' "$dyn" | awk '{ k = index($3, "@@") ? "@@" : "@"; split($3, a, /@@?/); print a[1], a[2], k }' | sort)

# Each exported (name, node) is listed in the map and vice versa; a name's
# default version is in the last node that lists it (one awk over the
# lists: this runs on loaded machines).
order=$(i=0; for n in $nodes; do echo "$n $i"; i=$((i+1)); done)
mismatch=$(awk '
  FILENAME == ARGV[1] { if ($1 != "") rank[$1] = $2; next }
  FILENAME == ARGV[2] { if ($1 != "") { want[$1 " " $2] = 1; if (!($1 in last) || rank[$2] > rank[last[$1]]) last[$1] = $2 } next }
  $1 != "" { got[$1 " " $2] = $3; if ($3 == "@@") def[$1] = $2 }
  END {
    for (k in got) {
      split(k, a, " ")
      if (!(k in want)) {
        listed_elsewhere = 0
        for (w in want) { split(w, b, " "); if (b[1] == a[1]) { listed_elsewhere = 1; other = b[2] } }
        if (listed_elsewhere) print a[1] " is exported in " a[2] ", the map lists it in " other
        else print a[1] "@" a[2] " is exported but listed in no node of the map"
      }
    }
    for (k in want) {
      split(k, a, " ")
      if (!(k in got)) print a[1] " is listed in " a[2] " but the library does not define it there"
    }
    for (n in last)
      if ((n in def) && def[n] != last[n])
        print n ": the default version (@@) is " def[n] ", want " last[n] " (the last node listing it)"
  }' <(printf '%s\n' "$order") <(printf '%s\n' "$listed") <(printf '%s\n' "$exported") | sort)
[ -z "$mismatch" ] || err "$mismatch"

declared() { grep -o 'URK_API [^(]*(' "$1" | grep -o 'urk_[a-z0-9_]*' | sort -u; }
names01=$(declared "$hdr01")
node01=$(printf '%s\n' "$listed" | awk '$2 == "UROCKET_0.1" { print $1 }' | sort)
missing=$(comm -23 <(echo "$names01") <(echo "$node01"))
[ -z "$missing" ] || err "0.1.0 functions missing from UROCKET_0.1: $(echo $missing)"
extra=$(comm -13 <(echo "$names01") <(echo "$node01"))
[ -z "$extra" ] || err "not in the 0.1.0 header, so not allowed in UROCKET_0.1 (put them in the newest node): $(echo $extra)"

missing=$(comm -23 <(declared "$hdr") <(printf '%s\n' "$exported" | awk '$3 == "@@" {print $1}' | sort -u))
[ -z "$missing" ] || err "declared in $(basename "$hdr") but not exported: $(echo $missing)"

[ "$fail" = 0 ] || exit 1
echo "exports ok: $(printf '%s\n' "$exported" | grep -c .) versioned urk_ symbols" \
     "($(echo "$node01" | grep -c .) in UROCKET_0.1; nodes: $(echo $nodes))"
