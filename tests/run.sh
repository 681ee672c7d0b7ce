#!/usr/bin/env bash
# The whole test suite, as CI runs it: the main suite, and beside it, in a process of its own,
# the CUDA tests on numba's simulator (the simulator is chosen when numba is imported, so those
# tests cannot share the main suite's process). The two run at once, one per core; the CUDA
# tests' output is printed after the main suite's. Either failing fails the run. Arguments go
# to the main suite's pytest.
set -u
cd "$(dirname "$0")/.."
log=$(mktemp)
scratch=$(mktemp -d)  # its own pytest temp folder: two sessions never share one
NUMBA_ENABLE_CUDASIM=1 python -m pytest -q -p no:cacheprovider --basetemp="$scratch" \
    tests/cuda backends/cuda > "$log" 2>&1 &
cuda=$!
python -m pytest -q "$@"
main=$?
wait "$cuda"
simulator=$?
echo "== the CUDA tests on numba's simulator (NUMBA_ENABLE_CUDASIM=1 python -m pytest -q tests/cuda backends/cuda)"
cat "$log"
rm -rf "$log" "$scratch"
if [ "$main" -ne 0 ]; then exit "$main"; fi
exit "$simulator"
