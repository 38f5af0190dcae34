#!/usr/bin/env bash
# Installs the Debian packages oneshot-audio needs and builds its CLI in Release.
# Usage: scripts/setup.sh [BUILD_DIR]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${1:-build}

PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libtorch-dev libgloo-dev libopenblas-openmp-dev libgoogle-perftools-dev
  libsndfile1-dev libsoxr-dev libfftw3-dev libxxhash-dev
  libavformat-dev libavcodec-dev libswresample-dev libavutil-dev
  libcli11-dev libtomlplusplus-dev nlohmann-json3-dev
  libsqlite3-dev libpqxx-dev libplplot-dev plplot-driver-cairo zlib1g-dev
  libonnx-dev libprotobuf-dev libfaiss-dev
  libgtest-dev libgmock-dev libbenchmark-dev
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release
# Only the CLI (the front end and the model executable it hands over to);
# scripts/test.sh builds the tests and benchmarks.
cmake --build "$BUILD_DIR" -j "$(nproc)" --target oneshot-audio oneshot-audio-model
