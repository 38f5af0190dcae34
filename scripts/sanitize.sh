#!/usr/bin/env bash
# The sanitizer stage of the test suite (scripts/test.sh runs it after CTest):
#   1. builds the model-free domains (core, audio, data, plot, tune, events,
#      enroll) with clang, AddressSanitizer, UndefinedBehaviorSanitizer and
#      libFuzzer's coverage instrumentation into build-asan (no LibTorch);
#   2. runs their test programs there, stopping at the first memory error or
#      undefined behaviour;
#   3. runs each fuzz target (fuzz/fuzz_<reader>.cpp) for FUZZ_SECONDS on its
#      seed corpus (fuzz/corpus/<reader>/) plus fresh mutations; a crash, a
#      leak, a sanitizer report or an exception other than oneshot::Error fails.
# Usage: scripts/sanitize.sh [BUILD_DIR]   (default: build-asan)
#   FUZZ_SECONDS=20 (per target), FUZZ_ONLY="npy cache" (some targets),
#   SANITIZE_SKIP_TESTS=1 / SANITIZE_SKIP_FUZZ=1 (one half only).
# A crashing input is kept as build-asan/fuzz-findings/<reader>/crash-*: fix
# the reader, then add the input to fuzz/corpus/<reader>/ as regress-<what>.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${1:-build-asan}
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
JOBS=$(nproc)
start=$(date +%s)

SAN_FLAGS="-O1 -gline-tables-only -fno-omit-frame-pointer -fsanitize=address,undefined,fuzzer-no-link"
SAN_FLAGS+=" -fno-sanitize-recover=undefined -Wno-mismatched-tags"
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Sanitize \
    -DONESHOT_MODEL_FREE=ON -DONESHOT_FUZZ=ON -DONESHOT_BUILD_BENCH=OFF -DCMAKE_CXX_FLAGS="$SAN_FLAGS" >/dev/null
fi
TESTS=(test_core test_audio test_data test_events test_enroll test_tune test_plot)
mapfile -t FUZZERS < <(cd fuzz && ls fuzz_*.cpp | sed 's/\.cpp$//')
cmake --build "$BUILD_DIR" -j "$JOBS" --target "${TESTS[@]}" "${FUZZERS[@]}"
echo "sanitize: built in $(($(date +%s) - start)) s"

export ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export LSAN_OPTIONS=suppressions=$PWD/scripts/lsan.supp:print_suppressions=0

if [ -z "${SANITIZE_SKIP_TESTS:-}" ]; then
  t0=$(date +%s)
  # Each program alone (their tests fork, time out and use temporary files of their own).
  printf '%s\n' "${TESTS[@]}" | xargs -P "$JOBS" -I{} sh -c \
    '"$0/{}" --gtest_brief=1 > "$0/{}.log" 2>&1 && echo "sanitize: {} passed" || { echo "sanitize: {} FAILED:"; tail -60 "$0/{}.log"; exit 1; }' \
    "$PWD/$BUILD_DIR"
  echo "sanitize: tests under ASan+UBSan in $(($(date +%s) - t0)) s"
fi

if [ -z "${SANITIZE_SKIP_FUZZ:-}" ]; then
  t0=$(date +%s)
  targets=${FUZZ_ONLY:-$(printf '%s\n' "${FUZZERS[@]}" | sed 's/^fuzz_//')}
  findings="$PWD/$BUILD_DIR/fuzz-findings"
  scratch="$PWD/$BUILD_DIR/fuzz-scratch"  # new inputs go here, never into the committed corpus
  rm -rf "$scratch"
  printf '%s\n' $targets | xargs -P "$JOBS" -I{} sh -c '
    mkdir -p "$2/{}" "$3/{}"
    if "$1/fuzz/fuzz_{}" -max_total_time="$4" -timeout=20 -rss_limit_mb=2560 -print_final_stats=0 \
        -artifact_prefix="$3/{}/" "$2/{}" "$5/fuzz/corpus/{}" > "$1/fuzz-{}.log" 2>&1; then
      echo "sanitize: fuzz_{} clean for $4 s ($(sed -n "s/^Done \([0-9]*\) runs.*/\1/p" "$1/fuzz-{}.log") runs)"
    else
      echo "sanitize: fuzz_{} FOUND A PROBLEM (input kept in $3/{}/):"; grep -v "^#\|^INFO\|NEW_FUNC" "$1/fuzz-{}.log" | tail -40; exit 1
    fi' sh "$PWD/$BUILD_DIR" "$scratch" "$findings" "$FUZZ_SECONDS" "$PWD"
  echo "sanitize: fuzzing in $(($(date +%s) - t0)) s"
fi
echo "sanitize: all clean in $(($(date +%s) - start)) s"
