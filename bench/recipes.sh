#!/usr/bin/env bash
# The accuracy issue's dev protocol and ablation: each recipe trained on
# several class splits of a real dataset (30 training / 10 validation classes
# of esc50-dev) under the same CPU budget; prints one row per recipe with the
# mean and spread (min-max) across splits of the best smoothed 5-way 1-shot
# validation accuracy, and the CPU seconds at which it was reached.
#
# Usage: bench/recipes.sh [-b BUDGET_CPU_S] [-s "1 2 3"] [-j JOBS] [-o OUT] [-r "300 900"] [-H] [-L] RECIPE[@BUDGET]...
#   env DATA (../shared/data/esc50-dev), CACHE (OUT/cache), BUILD (build: oneshot-audio,
#   oneshot-audio-model and bench_recipes)
# RECIPE: default | original | a name below; @BUDGET gives it its own budget;
# NAME,section.key=value[,section.key=value...] (e.g. stretch,train.seed=2) is
# that recipe with more keys (another training seed of it, to see what one
# seed moves); values hold no comma.
# -r: the budgets to report at, read off each run's curve (a run trained for
# 900 CPU-s also gives its score at 300: every schedule counts intervals, not
# time). Jobs run in parallel, one thread each; the budget is CPU time, so
# parallel jobs do not change it. Runs already done in OUT are not rerun.
#
# Each job keeps its run directory (OUT/RECIPE.splitS.run: best.pt, last.pt,
# split.json with the 10 dev classes as validation classes), and both
# checkpoints are then measured on those classes with `oneshot-audio
# evaluate --split val`: 2000 5-way 1-shot episodes (5 queries a class) and
# the verification protocol (every pair of clips, one against one: EER, false
# rejects at 5 % false accepts, AUROC; the enrol-one-clip task with its
# threshold at 5 % false accepts on the training classes). A second table
# prints their mean and spread over the splits, with the rule's score
# mean(5-way, 1 - EER); OUT/summary.csv holds every split's values.
#
# Every recipe trains as a user's run would (its own train.epochs, patience
# and checkpoint choice: bench_recipes --own-schedule), capped by the budget;
# -L lifts epochs and patience so that the budget alone ends training (the
# protocol of the earlier table). Where a recipe selects best.pt by its
# validation, the dev classes are both what it selects on and what measures
# it, so its best.pt figures are optimistic; last.pt's are not.
# -H: the held-out variant: 25 training, 5 validation (what the recipe
# selects and stops on) and 10 held-out test classes (what measures it:
# evaluate --split test), as a user with 5 small validation classes trains.
set -euo pipefail
cd "$(dirname "$0")/.."
BUDGET=900; SPLITS="1 2 3"; JOBS=2; OUT=recipes-out; REPORT=""; SCHEDULE="--own-schedule"; CLASSES=""; EVAL_SPLIT=val
while getopts "b:s:j:o:r:HL" opt; do
  case $opt in b) BUDGET=$OPTARG;; s) SPLITS=$OPTARG;; j) JOBS=$OPTARG;; o) OUT=$OPTARG;; r) REPORT=$OPTARG;;
    H) CLASSES="--n-val 5 --n-test 10"; EVAL_SPLIT=test;; L) SCHEDULE="";; *) exit 2;; esac
done
shift $((OPTIND - 1))
DATA=${DATA:-../shared/data/esc50-dev}
CACHE=${CACHE:-$OUT/cache}
BUILD=${BUILD:-build}
# evaluate runs the model through oneshot-audio-model beside oneshot-audio: a copied BUILD needs all three.
for exe in oneshot-audio oneshot-audio-model bench_recipes; do
  [ -x "$BUILD/$exe" ] || { echo "recipes.sh: $BUILD/$exe is missing (cmake --build $BUILD --target $exe)" >&2; exit 2; }
done
mkdir -p "$OUT" "$CACHE"

# The protocol (not the recipe): 5 queries a class, 2000 episodes.
PROTOCOL="--set train.val_queries=5 --set train.val_episodes=2000"

recipe_args() {
  case $1 in
    *,*=*) echo "$(recipe_args "${1%,*}") --set ${1##*,}";;
    default) echo "";;
    original) echo "--config configs/original.toml";;
    # the default before the verification issue: plateau schedule, early stopping, best validation
    previous-default) echo "--set train.lr_schedule=plateau --set train.epochs=75 --set train.patience=10 --set train.min_epochs=0 --set train.checkpoint=best --set train.objective=prototypical --set model.sound_span=whole --set model.descriptor=none";;
    # recipes measured for the verification issue (each spelled out, so that they do not follow the default)
    # the default from the verification issue until model.sound_span (whole clips), spelled out
    cosine-last) echo "--set train.lr_schedule=cosine --set train.epochs=32 --set train.min_epochs=16 --set train.checkpoint=last --set train.objective=prototypical --set model.sound_span=whole --set model.descriptor=none";;
    aam-proto) echo "--set train.lr_schedule=cosine --set train.epochs=32 --set train.checkpoint=last --set train.objective=aam+prototypical --set model.sound_span=whole --set model.descriptor=none";;
    aam) echo "--set train.lr_schedule=cosine --set train.epochs=32 --set train.checkpoint=last --set train.objective=aam --set model.sound_span=whole --set model.descriptor=none";;
    supcon) echo "--set train.lr_schedule=cosine --set train.epochs=32 --set train.checkpoint=last --set train.objective=supcon --set model.sound_span=whole --set model.descriptor=none";;
    meta-baseline) echo "--set train.lr_schedule=cosine --set train.epochs=32 --set train.checkpoint=last --set train.objective=meta-baseline --set model.sound_span=whole --set model.descriptor=none";;
    attention) echo "--set train.lr_schedule=cosine --set train.epochs=32 --set train.checkpoint=last --set model.pooling=attention --set model.sound_span=whole --set model.descriptor=none";;
    average-last) echo "--set train.lr_schedule=cosine --set train.epochs=32 --set train.checkpoint=last --set train.average_last=4 --set model.sound_span=whole --set model.descriptor=none";;
    # issue 18's short sounds: random crops of 1 to 5 s (0.2 of a 5 s clip), so that windows shorter than the input embed well
    crop) echo "--set train.lr_schedule=cosine --set train.epochs=32 --set train.min_epochs=16 --set train.checkpoint=last --set augment.crop=0.2 --set model.sound_span=whole --set model.descriptor=none";;
    # the default run for 48 intervals instead of 32 (about 840 CPU-s, inside the rule's 15 CPU-minutes)
    cosine-48) echo "--set train.lr_schedule=cosine --set train.epochs=48 --set train.min_epochs=24 --set train.checkpoint=last --set train.objective=prototypical --set model.sound_span=whole --set model.descriptor=none";;
    # more ways at the same cost: 16 classes x 2 clips a step (1 support, 1 query) instead of 8 x 4
    ways-16x2) echo "--set train.lr_schedule=cosine --set train.epochs=32 --set train.min_epochs=16 --set train.checkpoint=last --set train.classes_per_batch=16 --set train.clips_per_class=2 --set model.sound_span=whole --set model.descriptor=none";;
    # capacity under the same schedule (issue 17 item 4): the compact encoder's width (blocks w, 2w, 4w, 4w) and embedding size
    width-16) echo "--set train.lr_schedule=cosine --set train.epochs=32 --set train.min_epochs=16 --set train.checkpoint=last --set model.width=16 --set model.sound_span=whole --set model.descriptor=none";;
    width-48) echo "--set train.lr_schedule=cosine --set train.epochs=32 --set train.min_epochs=16 --set train.checkpoint=last --set model.width=48 --set model.sound_span=whole --set model.descriptor=none";;
    embedding-64) echo "--set train.lr_schedule=cosine --set train.epochs=32 --set train.min_epochs=16 --set train.checkpoint=last --set model.embedding_dim=64 --set model.sound_span=whole --set model.descriptor=none";;
    embedding-256) echo "--set train.lr_schedule=cosine --set train.epochs=32 --set train.min_epochs=16 --set train.checkpoint=last --set model.embedding_dim=256 --set model.sound_span=whole --set model.descriptor=none";;
    # bf16 autocast as a budget: the default recipe in bf16 (validation stays fp32), and bf16 buying 48 intervals
    bf16) echo "--set train.lr_schedule=cosine --set train.epochs=32 --set train.min_epochs=16 --set train.checkpoint=last --set train.precision=bf16 --set model.sound_span=whole --set model.descriptor=none";;
    bf16-48) echo "--set train.lr_schedule=cosine --set train.epochs=48 --set train.min_epochs=24 --set train.checkpoint=last --set train.precision=bf16 --set model.sound_span=whole --set model.descriptor=none";;
    # augmentations that the cache did not have (issue 17: invariances that one clip of a new class needs):
    # time stretch by up to 1.25x either way, pitch shift by up to 4 mel bands, another class's clip underneath at 0-20 dB
    stretch) echo "--set train.lr_schedule=cosine --set train.epochs=32 --set train.min_epochs=16 --set train.checkpoint=last --set augment.time_stretch=0.25 --set model.sound_span=whole --set model.descriptor=none";;
    pitch) echo "--set train.lr_schedule=cosine --set train.epochs=32 --set train.min_epochs=16 --set train.checkpoint=last --set augment.freq_shift=4 --set model.sound_span=whole --set model.descriptor=none";;
    background) echo "--set train.lr_schedule=cosine --set train.epochs=32 --set train.min_epochs=16 --set train.checkpoint=last --set augment.background=0.5 --set model.sound_span=whole --set model.descriptor=none";;
    # issue 17/18: the default schedule with each clip's sounding span tiled over it (model.sound_span, the default since)
    sound-span) echo "--set train.lr_schedule=cosine --set train.epochs=32 --set train.min_epochs=16 --set train.checkpoint=last --set model.sound_span=tile --set model.descriptor=none";;
    # issue 17/18: the tiled recipe with band statistics appended to the embedding (model.descriptor, the default since)
    band-stats) echo "--set train.lr_schedule=cosine --set train.epochs=32 --set train.min_epochs=16 --set train.checkpoint=last --set model.sound_span=tile --set model.descriptor=band_stats";;
    # leave-one-out from the default
    no-descriptor) echo "--set model.descriptor=none";;
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
names=(); budgets=()
for spec in "$@"; do
  r=${spec%@*}; b=$BUDGET; [[ $spec == *@* ]] && b=${spec#*@}
  names+=("$r"); budgets+=("$b")
  for s in $SPLITS; do
    [ -s "$OUT/$r.split$s.txt" ] && continue
    rm -rf "$OUT/$r.split$s.run"  # a run left by an unfinished job: bench_recipes wants a new directory
    echo "$BUILD/bench_recipes --data $DATA --cache $CACHE $(recipe_args "$r") $PROTOCOL $CLASSES $SCHEDULE --split-seed $s --budget $b --threads 1 --csv $OUT/$r.split$s.csv --run $OUT/$r.split$s.run > $OUT/$r.split$s.txt 2> $OUT/$r.split$s.log" >> "$jobs_file"
  done
done
xargs -P "$JOBS" -I{} bash -c {} < "$jobs_file"

# Both checkpoints of every kept run on its validation (dev) classes.
eval_file=$OUT/evaluate.txt; : > "$eval_file"
EVALUATE="$BUILD/oneshot-audio evaluate --quiet --threads 1 --split $EVAL_SPLIT"
for r in "${names[@]}"; do
  for s in $SPLITS; do
    run=$OUT/$r.split$s.run
    for c in best last; do
      [ -s "$run/$c.pt" ] || continue
      sfx=""; [ $c = last ] && sfx=_last
      [ -s "$run/results/${EVAL_SPLIT}_episodes_5way_1shot$sfx.json" ] ||
        echo "$EVALUATE --run $run --checkpoint $c --protocol episodes --ways 5 --shots 1 --queries 5 --episodes 2000 > $run/evaluate_episodes$sfx.log 2>&1" >> "$eval_file"
      [ -s "$run/results/${EVAL_SPLIT}_verification$sfx.json" ] ||
        echo "$EVALUATE --run $run --checkpoint $c --protocol verification > $run/evaluate_verification$sfx.log 2>&1" >> "$eval_file"
    done
  done
done
# One job per run (its evaluations in turn): each evaluation rewrites the run's report.html.
sort "$eval_file" | awk '{ for (i = 1; i <= NF; i++) if ($i == "--run") key = $(i + 1); jobs[key] = jobs[key] (jobs[key] == "" ? "" : "; ") $0 }
  END { for (k in jobs) print jobs[k] }' > "$eval_file.jobs"
xargs -P "$JOBS" -I{} bash -c {} < "$eval_file.jobs" || echo "note: some evaluations failed; see OUT/*.run/evaluate_*.log" >&2

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

# The measured table: both checkpoints on the dev classes (standard library only).
python3 - "$OUT" "$SPLITS" "$EVAL_SPLIT" "${#names[@]}" "${names[@]}" "${budgets[@]}" <<'PY'
import csv, json, os, sys
out, splits, split_name, k = sys.argv[1], sys.argv[2].split(), sys.argv[3], int(sys.argv[4])
names, budgets = sys.argv[5:5 + k], sys.argv[5 + k:5 + 2 * k]

def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None

def spread(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "-"
    return f"{sum(xs) / len(xs):.3f} ({min(xs):.3f}-{max(xs):.3f})"

def mean(xs):
    xs = [x for x in xs if x is not None]
    return f"{sum(xs) / len(xs):.3f}" if xs else "-"

fields = ["recipe", "budget", "split", "checkpoint", "fiveway", "fiveway_ci95", "eer", "frr_at_5far", "auroc",
          "enrol_top1", "enrol_accepted", "enrol_rejected", "rule_score"]
rows = []
for r, b in zip(names, budgets):
    for s in splits:
        for c in ("best", "last"):
            sfx = "_last" if c == "last" else ""
            res = f"{out}/{r}.split{s}.run/results"
            e, v = load(f"{res}/{split_name}_episodes_5way_1shot{sfx}.json"), load(f"{res}/{split_name}_verification{sfx}.json")
            if e is None and v is None:
                continue
            row = {"recipe": r, "budget": b, "split": s, "checkpoint": c}
            row["fiveway"] = e.get("mean_accuracy") if e else None
            row["fiveway_ci95"] = e.get("ci95") if e else None
            if v:
                en = v.get("enrolment", {})
                row.update(eer=v.get("eer"), frr_at_5far=v.get("frr_at_far"), auroc=v.get("auroc"),
                           enrol_top1=en.get("top1"), enrol_accepted=en.get("accepted"),
                           enrol_rejected=en.get("rejected"))
            f, er = row.get("fiveway"), row.get("eer")
            row["rule_score"] = (f + 1 - er) / 2 if f is not None and er is not None else None
            rows.append(row)
with open(f"{out}/summary.csv", "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=fields)
    w.writeheader()
    for row in rows:
        w.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in fields})

print()
print(f"On the {'dev' if split_name == 'val' else 'held-out test'} classes (evaluate --split {split_name}; mean (min-max) over splits; FRR at 5% FAR, one clip against one clip;")
print("enrol one clip: top-1 among the enrolled / accepted as their class / never-enrolled rejected; rule = mean(5-way, 1 - EER))")
print(f"{'recipe':<18} {'budget':>6} {'ckpt':<4}  {'5-way':<21} {'EER':<21} {'FRR@5%':>6} {'AUROC':>6}  "
      f"{'enrol top1/acc/rej':<18}  {'rule':<21} splits")
for r, b in zip(names, budgets):
    for c in ("best", "last"):
        sel = [x for x in rows if x["recipe"] == r and x["checkpoint"] == c]
        if not sel:
            continue
        col = lambda key: [x.get(key) for x in sel]
        enrol = "/".join(mean(col(key)) for key in ("enrol_top1", "enrol_accepted", "enrol_rejected"))
        print(f"{r:<18} {float(b):6.0f} {c:<4}  {spread(col('fiveway')):<21} {spread(col('eer')):<21} "
              f"{mean(col('frr_at_5far')):>6} {mean(col('auroc')):>6}  {enrol:<18}  {spread(col('rule_score')):<21} "
              f"{len(sel)}")
print(f"(every split's values: {out}/summary.csv)")
PY
