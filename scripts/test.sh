#!/usr/bin/env bash
# Builds (if needed) and runs the whole test suite, with a throw-away local
# PostgreSQL server for the tuning tests (ONESHOT_SKIP_POSTGRES=1 skips them).
# Usage: scripts/test.sh [BUILD_DIR]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${1:-build}
[ -f "$BUILD_DIR/build.ninja" ] || scripts/setup.sh "$BUILD_DIR"
# Test-only tools: the audio tests make their fixtures (MP3, M4A, Opus, WebM,
# ...) with the ffmpeg and sox programs; the sanitizer stage (scripts/sanitize.sh)
# builds with clang, its sanitizer runtimes and libFuzzer; the TorchScript
# export test opens the exported file in PyTorch (python3-torch, about 1 GB).
TEST_PACKAGES=(ffmpeg sox libsox-fmt-all clang libfuzzer-14-dev libclang-rt-14-dev python3-torch)
# The ONNX export test runs the exported files in ONNX Runtime for Node
# (Debian's nodejs and npm unless a node is installed already).
command -v npm >/dev/null || TEST_PACKAGES+=(nodejs npm)
missing=()
for p in "${TEST_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
cmake --build "$BUILD_DIR" -j "$(nproc)"  # everything: the tests and benchmarks too (setup.sh builds only the CLI)

# onnxruntime-node, pinned by tests/model/onnx-node, into BUILD_DIR/onnx-node
# (where the ONNX export test looks); --ignore-scripts: its install script only
# fetches optional CUDA parts, the CPU runtime is in the package. Installed
# again only when the pinned versions change. Without it the test skips, saying so.
ONNX_NODE="$BUILD_DIR/onnx-node"
if ! cmp -s tests/model/onnx-node/package-lock.json "$ONNX_NODE/package-lock.json" ||
   [ ! -d "$ONNX_NODE/node_modules/onnxruntime-node" ]; then
  mkdir -p "$ONNX_NODE"
  cp tests/model/onnx-node/package.json tests/model/onnx-node/package-lock.json "$ONNX_NODE/"
  (cd "$ONNX_NODE" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) ||
    echo "warning: onnxruntime-node could not be installed into $ONNX_NODE; the ONNX export test will skip" >&2
fi

if [ -z "${ONESHOT_TEST_POSTGRES:-}" ] && [ -z "${ONESHOT_SKIP_POSTGRES:-}" ]; then
  export ONESHOT_PG_DIR=${ONESHOT_PG_DIR:-/tmp/oneshot-postgres-$$}
  eval "$(scripts/postgres-test-server.sh start)"
  trap 'scripts/postgres-test-server.sh stop' EXIT
fi
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)"

# Then the model-free test programs under AddressSanitizer + UBSan and every
# fuzz target for FUZZ_SECONDS (20) each, in build-asan (about 7 minutes on 2
# cores from a clean build; ONESHOT_SKIP_SANITIZE=1 skips it).
if [ -z "${ONESHOT_SKIP_SANITIZE:-}" ]; then
  scripts/sanitize.sh
fi
