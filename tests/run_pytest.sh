#!/usr/bin/env bash
# Runs pytest; exit 5 (no tests collected) is a failure, not a pass.
set -u
py=$1; shift
cd "$(dirname "$0")/.." || exit 1
PYTHONPATH="$PWD/python${PYTHONPATH:+:$PYTHONPATH}" "$py" -m pytest -q -p no:cacheprovider "$@"
rc=$?
if [ $rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi
exit $rc
