#!/usr/bin/env bash
# The accuracy issue's dev protocol and ablation: each recipe trained on
# several class splits of a real dataset (30 training / 10 validation classes
# of esc50-dev) under the same CPU budget; prints one row per recipe with the
# mean and spread (min-max) across splits of the best smoothed 5-way 1-shot
# validation accuracy, and the CPU seconds at which it was reached.
#
# Usage: bench/recipes.sh [-b BUDGET_CPU_S] [-s "1 2 3"] [-j JOBS] [-o OUT] [-r "300 900"] RECIPE[@BUDGET]...
#   env DATA (../shared/data/esc50-dev), CACHE (OUT/cache), BUILD (build)
# RECIPE: default | original | a name below; @BUDGET gives it its own budget.
# -r: the budgets to report at, read off each run's curve (a run trained for
# 900 CPU-s also gives its score at 300: every schedule counts intervals, not
# time). Jobs run in parallel, one thread each; the budget is CPU time, so
# parallel jobs do not change it. Runs already done in OUT are not rerun.
set -euo pipefail
cd "$(dirname "$0")/.."
BUDGET=900; SPLITS="1 2 3"; JOBS=2; OUT=recipes-out; REPORT=""
while getopts "b:s:j:o:r:" opt; do
  case $opt in b) BUDGET=$OPTARG;; s) SPLITS=$OPTARG;; j) JOBS=$OPTARG;; o) OUT=$OPTARG;; r) REPORT=$OPTARG;; *) exit 2;; esac
done
shift $((OPTIND - 1))
DATA=${DATA:-../shared/data/esc50-dev}
CACHE=${CACHE:-$OUT/cache}
BUILD=${BUILD:-build}
mkdir -p "$OUT" "$CACHE"

# The protocol (not the recipe): 5 queries a class, 2000 episodes.
PROTOCOL="--set train.val_queries=5 --set train.val_episodes=2000"

recipe_args() {
  case $1 in
    default) echo "";;
    original) echo "--config configs/original.toml";;
    # leave-one-out from the default
    pairs) echo "--set train.objective=pairs --set model.head=monotone";;
    linear-head) echo "--set train.objective=pairs --set model.head=linear";;
    original-encoder) echo "--set model.arch=original --set train.bn_recalibration=512";;
    no-augment) echo "--set augment.time_shift=0 --set augment.time_masks=0 --set augment.freq_masks=0 --set augment.gain_db=0 --set augment.mixup=0";;
    no-mixup) echo "--set augment.mixup=0";;
    no-embedding-norm) echo "--set model.embedding_norm=none";;
    no-specaugment) echo "--set augment.time_masks=0 --set augment.freq_masks=0";;
    no-shift) echo "--set augment.time_shift=0";;
    no-gain) echo "--set augment.gain_db=0";;
    no-band-norm) echo "--set model.input_norm=none";;
    no-clip-norm) echo "--set model.clip_norm=none";;
    l2-embedding) echo "--set model.embedding_norm=l2";;
    no-plateau) echo "--set train.lr_schedule=keras --set train.decay=0";;
    *) echo "--set $1";;  # a raw section.key=value
  esac
}

# Warm the feature caches once (one per features config) before the parallel jobs.
for spec in "$@"; do
  "$BUILD"/oneshot-audio features --data "$DATA" --cache "$CACHE" $(recipe_args "${spec%@*}" | grep -o -- "--config [^ ]*" || true) >/dev/null
done

jobs_file=$OUT/jobs.txt; : > "$jobs_file"
names=()
for spec in "$@"; do
  r=${spec%@*}; b=$BUDGET; [[ $spec == *@* ]] && b=${spec#*@}
  names+=("$r")
  for s in $SPLITS; do
    [ -s "$OUT/$r.split$s.txt" ] && continue
    echo "$BUILD/bench_recipes --data $DATA --cache $CACHE $(recipe_args "$r") $PROTOCOL --split-seed $s --budget $b --threads 1 --csv $OUT/$r.split$s.csv > $OUT/$r.split$s.txt 2> $OUT/$r.split$s.log" >> "$jobs_file"
  done
done
xargs -P "$JOBS" -I{} bash -c {} < "$jobs_file"

python3 - "$OUT" "$SPLITS" "${REPORT:-$BUDGET}" "${names[@]}" <<'PY'
import csv, sys
out, splits, budgets, names = sys.argv[1], sys.argv[2].split(), [float(b) for b in sys.argv[3].split()], sys.argv[4:]
print(f"{'recipe':<18} {'budget':>7}  {'score mean (min-max)':<22} {'cpu_s to best':>13}  per split")
for r in names:
    for b in budgets:
        scores, at = [], []
        for s in splits:
            rows = [x for x in csv.DictReader(open(f"{out}/{r}.split{s}.csv")) if float(x["cpu_seconds"]) <= b]
            if not rows:
                scores.append(0.0); at.append(0.0); continue
            best = max(rows, key=lambda x: float(x["val_smoothed"]))
            scores.append(float(best["val_smoothed"])); at.append(float(best["cpu_seconds"]))
        m = sum(scores) / len(scores)
        print(f"{r:<18} {b:7.0f}  {m:.3f} ({min(scores):.3f}-{max(scores):.3f})   {sum(at)/len(at):11.0f}  " +
              " ".join(f"{x:.3f}" for x in scores))
PY
