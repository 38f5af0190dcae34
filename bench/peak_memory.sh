#!/usr/bin/env bash
# Peak memory (maximum resident set size) of the commands that read a
# recording, for recordings of several lengths (SoX's pink noise, 22,050 Hz
# 16-bit WAV written to a temporary directory: 1.9 GB for 12 hours). Issue
# 22: peak memory must not grow with the recording's length.
#
# Usage: bench/peak_memory.sh RUN EXAMPLE.wav [SECONDS...]   (default: 60 43200)
#   COMMANDS="classify detect" limits the commands measured (default: classify enroll detect).
#   RUN: a trained run directory; EXAMPLE: one clip, enrolled as the library's class.
# Prints one line per command and length: seconds of audio, wall seconds, peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=$1 EXAMPLE=$2
shift 2
[ $# -gt 0 ] && LENGTHS=("$@") || LENGTHS=(60 43200)
BIN=${ONESHOT_BIN:-build/oneshot-audio}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
"$BIN" enroll --run "$RUN" --library "$WORK/lib.sqlite" --class example "$EXAMPLE" >/dev/null
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p') (family $(lscpu | sed -n 's/^CPU family: *//p') model $(lscpu | sed -n 's/^Model: *//p')), $(nproc) cores"
printf '%-9s %12s %10s %14s\n' command audio_s wall_s peak_rss_MB
measure() {  # NAME SECONDS COMMAND...
  local name=$1 seconds=$2
  shift 2
  /usr/bin/time -f '%e %M' -o "$WORK/time" "$@" >/dev/null 2>"$WORK/err" ||
    { echo "$name failed:"; cat "$WORK/err"; exit 1; }
  read -r wall rss <"$WORK/time"
  printf '%-9s %12s %10s %14.0f\n' "$name" "$seconds" "$wall" "$(echo "$rss / 1024" | bc -l)"
}
COMMANDS=${COMMANDS:-classify enroll detect}
for s in "${LENGTHS[@]}"; do
  sox -n -r 22050 -c 1 -b 16 "$WORK/noise.wav" synth "$s" pinknoise vol 0.3
  for c in $COMMANDS; do
    case $c in
      classify) measure classify "$s" "$BIN" classify --library "$WORK/lib.sqlite" "$WORK/noise.wav" ;;
      enroll)
        rm -f "$WORK/enrolled.sqlite"
        measure enroll "$s" "$BIN" enroll --run "$RUN" --library "$WORK/enrolled.sqlite" --class long "$WORK/noise.wav" ;;
      detect) measure detect "$s" "$BIN" detect --library "$WORK/lib.sqlite" --hop 2.5 --out "$WORK/detect" "$WORK/noise.wav" ;;
    esac
  done
  rm -f "$WORK/noise.wav"
done
