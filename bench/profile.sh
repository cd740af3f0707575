#!/bin/bash
# Profiles a benchmark server under a saturating load: the server pinned to
# CPU 0, `python3 -m urocket load -c 512` (closed loop) pinned to CPU 1,
# `perf record -e cpu-clock` (software clock: works in VMs without hardware
# counters) on the server for 4 s in the middle of an 8 s run; prints CPU
# shares by bucket (bench/perf_buckets.py) and the top symbols.
#   bench/profile.sh NAME SERVER-COMMAND...   (the command gets --port P)
#   e.g. bench/profile.sh native build/examples/http_server --reactors 1
set -eu
name=$1; shift
root=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-/usr/bin/python3}
port=${PORT:-19990}
out=${OUT:-/tmp}
taskset -c 0 "$@" --port "$port" > "$out/profile-$name.server.log" 2>&1 &
pid=$!
sleep 0.5
PYTHONPATH="$root/python" URK_LIBRARY="${URK_LIBRARY:-$root/build/liburocket.so}" \
    taskset -c 1 "$py" -m urocket load "http://127.0.0.1:$port/" -c 512 -d 8 \
    > "$out/profile-$name.load.log" 2>&1 &
loadpid=$!
sleep 2
perf record -q -e cpu-clock -F 4999 -g -p "$pid" -o "$out/perf-$name.data" -- sleep 4 > /dev/null 2>&1
wait "$loadpid" || true
kill -TERM "$pid"; wait "$pid" || true
report() { perf report -i "$out/perf-$name.data" --no-children --sort dso,sym -g none --stdio 2>/dev/null; }
report | "$py" "$root/bench/perf_buckets.py"
echo "top symbols:"
report | grep '%' | grep -v '^#' | head -16 | sed 's/  */ /g'
echo "user space:"
report | grep '%' | grep -v '^#' | grep -v kernel.kallsyms | head -8 | sed 's/  */ /g'
