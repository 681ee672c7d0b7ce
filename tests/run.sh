#!/usr/bin/env bash
# The whole test suite, as CI runs it, in two lanes that run at once, one per core:
# - the main suite (`python -m pytest -q`), but for the numba backend's tests;
# - beside it, in processes of their own: the CUDA tests on numba's simulator (the simulator is
#   chosen when numba is imported, so those tests cannot share the main suite's process), then
#   tests/test_backend_numba.py (two minutes of numba compiling, which keeps the lanes even).
# The second lane's output is printed after the main suite's. Any part failing fails the run.
# Arguments go to the main suite's pytest; with arguments, the numba tests stay in it (they run
# only if the arguments select them) and the second lane runs only the CUDA tests.
set -u
cd "$(dirname "$0")/.."
NUMBA_TESTS=tests/test_backend_numba.py
log=$(mktemp)
scratch=$(mktemp -d)  # pytest temp folders of their own: two sessions never share one
(
    NUMBA_ENABLE_CUDASIM=1 python -m pytest -q -p no:cacheprovider --basetemp="$scratch/cuda" \
        tests/cuda backends/cuda
    simulator=$?
    numba=0
    if [ "$#" -eq 0 ]; then
        echo "== the numba backend's tests (python -m pytest -q $NUMBA_TESTS)"
        python -m pytest -q -p no:cacheprovider --basetemp="$scratch/numba" "$NUMBA_TESTS"
        numba=$?
    fi
    if [ "$simulator" -ne 0 ]; then exit "$simulator"; fi
    exit "$numba"
) > "$log" 2>&1 &
second=$!
if [ "$#" -eq 0 ]; then
    python -m pytest -q --ignore="$NUMBA_TESTS"
else
    python -m pytest -q "$@"
fi
main=$?
wait "$second"
second_lane=$?
echo "== the CUDA tests on numba's simulator (NUMBA_ENABLE_CUDASIM=1 python -m pytest -q tests/cuda backends/cuda)"
cat "$log"
rm -rf "$log" "$scratch"
if [ "$main" -ne 0 ]; then exit "$main"; fi
exit "$second_lane"
