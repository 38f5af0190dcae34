#!/usr/bin/env bash
# Index and search figures of a sound archive (issue 19), for the README:
#  - index speed (windows/s, x real time, peak memory) at the default hop on
#    real files: the esc50-dev clips as they are, and all of them end to end
#    in one long file (sox), float32 and float16;
#  - beside them, the per-window paths of the same run on the same long file:
#    embed at the same hop, and detect at its default hop and at index's;
#  - search time of that archive by one clip; bench_archive_search gives the
#    time for 10^4 .. 10^6 windows;
#  - search quality: bench/archive_search_quality.py (every clip of a class
#    as the example, the other clips of its class as the answers);
#  - index --shared against the per-window path at the same hops (on the
#    16-frame grid), interleaved, twice; peak memory for 1 minute and for 10
#    hours (the long file repeated 22 times, a 3.2 GB WAV made once in OUT);
#    the archives OUT/grid-{per-window,shared}.archive for
#    bench/archive_search_quality.py RUN OUT DATA grid-per-window.archive grid-shared.archive.
# Run it with the CPU lock: flock /tmp/oneshot-cpu.lock bench/archive_speed.sh RUN OUT [DATA]
set -euo pipefail
RUN=$1
OUT=$2
DATA=${3:-../shared/data/esc50-dev}
B=${ONESHOT_AUDIO:-build/oneshot-audio}
THREADS=${THREADS:-2}
mkdir -p "$OUT"
peak() { grep "Maximum resident" "$1" | awk '{printf "%.0f MB", $NF / 1024}'; }

if [ ! -f "$OUT/long.wav" ]; then
  tail -n +2 "$DATA/meta/esc50.csv" | cut -d, -f1 | sed "s|^|$DATA/audio/|" > "$OUT/order.txt"
  sox $(cat "$OUT/order.txt") "$OUT/long.wav"
fi
echo "long.wav: $(soxi -D "$OUT/long.wav") s"

for what in clips long long-half; do
  rm -f "$OUT/$what.archive"
  case $what in
    clips) args="$DATA/audio" ;;
    long) args="$OUT/long.wav" ;;
    long-half) args="--half $OUT/long.wav" ;;
  esac
  /usr/bin/time -v "$B" index --quiet --threads "$THREADS" --run "$RUN" --archive "$OUT/$what.archive" $args \
    > "$OUT/index-$what.txt" 2> "$OUT/index-$what.time"
  echo "index $what: $(head -1 "$OUT/index-$what.txt" | sed 's/^[^:]*: //'); peak $(peak "$OUT/index-$what.time");" \
       "$(du -k "$OUT/$what.archive" | cut -f1) KB"
done

# The per-window paths on the same long file.
rm -rf "$OUT/embed"
/usr/bin/time -v "$B" embed --quiet --threads "$THREADS" --run "$RUN" --hop 2.5 --out "$OUT/embed" "$OUT/long.wav" \
  > /dev/null 2> "$OUT/embed.time"
echo "embed --hop 2.5: $(grep 'Elapsed (wall' "$OUT/embed.time" | awk '{print $NF}') wall; peak $(peak "$OUT/embed.time")"
if [ ! -f "$OUT/library.db" ]; then
  "$B" enroll --quiet --threads "$THREADS" --run "$RUN" --library "$OUT/library.db" --class example \
    "$DATA/audio/$(head -1 "$OUT/order.txt" | xargs basename)" > /dev/null
fi
for hop in default 2.5; do
  hop_arg=""
  [ "$hop" = default ] || hop_arg="--hop $hop"
  rm -rf "$OUT/detect-$hop"
  /usr/bin/time -v "$B" detect --quiet --no-plots --threads "$THREADS" --library "$OUT/library.db" $hop_arg \
    --out "$OUT/detect-$hop" "$OUT/long.wav" > /dev/null 2> "$OUT/detect-$hop.time"
  echo "detect (hop $hop): $(grep 'Elapsed (wall' "$OUT/detect-$hop.time" | awk '{print $NF}') wall; peak $(peak "$OUT/detect-$hop.time")"
done

# Search the long archive by one clip (the whole command: the run's load and the example's embedding included).
example="$DATA/audio/$(sed -n 2p "$OUT/order.txt" | xargs basename)"
for what in long long-half; do
  /usr/bin/time -v "$B" search --threads "$THREADS" --archive "$OUT/$what.archive" --example "$example" --top 10 \
    > "$OUT/search-$what.txt" 2> "$OUT/search-$what.time"
  echo "search $what: $(grep '^searched' "$OUT/search-$what.time"); command $(grep 'Elapsed (wall' "$OUT/search-$what.time" | awk '{print $NF}') wall"
done

# index --shared against the per-window path (README, "index --shared").
# The 16-frame grid of the default features (44.1 kHz, hop_length 512).
grid_hop() { /usr/bin/python3 -c "import sys; g = 16 * 512 / 44100; print(max(1, round(float(sys.argv[1]) / g)) * g)" "$1"; }
index_one() {  # NAME ARGS...
  local name=$1; shift
  rm -f "$OUT/$name.archive"
  /usr/bin/time -v "$B" index --quiet --threads "$THREADS" --run "$RUN" --archive "$OUT/$name.archive" "$@" \
    > "$OUT/index-$name.txt" 2> "$OUT/index-$name.time"
  echo "index $name: $(head -1 "$OUT/index-$name.txt" | sed 's/^[^:]*: //'); peak $(peak "$OUT/index-$name.time")"
}
for round in 1 2; do
  for hop in 2.5 0.5; do
    h=$(grid_hop $hop)
    index_one "grid-per-window" --hop "$h" "$OUT/long.wav"
    index_one "grid-shared" --shared --hop "$h" "$OUT/long.wav"
  done
done
h=$(grid_hop 2.5)
index_one "grid-per-window" --hop "$h" "$OUT/long.wav"  # the archives compared by archive_search_quality.py
index_one "grid-shared" --shared --hop "$h" "$OUT/long.wav"
[ -f "$OUT/one-minute.wav" ] || sox "$OUT/long.wav" "$OUT/one-minute.wav" trim 0 60
[ -f "$OUT/ten-hours.wav" ] || sox "$OUT/long.wav" "$OUT/ten-hours.wav" repeat 21
for f in one-minute ten-hours; do
  index_one "$f-per-window" --hop "$h" "$OUT/$f.wav"
  index_one "$f-shared" --shared --hop "$h" "$OUT/$f.wav"
done
