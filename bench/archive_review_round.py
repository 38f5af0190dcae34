#!/usr/bin/env python3
"""Issue 19's acceptance on real audio: search quality and one review round,
on a recording of at least 30 minutes built from esc50-dev clips.

  flock is taken per command (/tmp/oneshot-cpu.lock); run it as:
  /usr/bin/python3 bench/archive_review_round.py --work /tmp/accept19 \
      --cli /tmp/accept19/bin/oneshot-audio --data ../shared/data/esc50-dev \
      /work/exp/dev/cosine-last.split1.run /work/exp/dev/cosine-last.split2.run \
      /work/exp/dev/cosine-last.split3.run
  (about 10 minutes a run on 2 cores; add --report-only to print the tables
  again from WORK/NAME/classes.tsv without running anything)

1. WORK/recording.wav: every clip of DATA (esc50.csv's order, classes mixed)
   end to end, each followed by 0.5 s of one fixed quiet segment (white noise
   at -60 dBFS RMS, numpy seed 19), so 331 x 5.5 s = 30.3 min;
   WORK/reference.tsv says where each clip lies. Indexed once per run
   (`index --run RUN --archive WORK/NAME/recording.archive`, default hop).
2. Per class, its first clip (in the recording's order) is the example:
   `search --example CLIP --no-merge --top ALL --format json` scores every
   window; a clip's score is the best of the windows holding at least half a
   window of it; the other 330 clips are ranked by it (the example left out).
   Precision at 5 and 10 and average precision (AP) per class, averaged over
   the run's 10 validation (never seen) classes and its 30 training classes
   apart. Chance: the fraction of relevant clips among those ranked.
3. One review round per class, with the commands a user types, on a copy of
   the archive (WORK/NAME/review.archive) and one library per run
   (WORK/NAME/library.db) into which each class's example is enrolled in turn
   (a class's scores do not depend on the library's other classes: checked
   equal within 1e-9; its first enrolment, with the calibration, takes 26 s,
   the next ones 2 s):
     enroll --run RUN --library LIB --class C EXAMPLE
     search --library LIB --class C --no-merge --top ALL --format json  (before)
     search --library LIB --class C --no-merge --top 20 --format raven --out hits.txt
     (a Verdict column added from the reference: yes when the window holds at
      least half a window of a clip of C, else no) -> verdicts.tsv
     review --archive A --library LIB --class C --negative-class not-C verdicts.tsv
      (a negative class per class: with the shared default "background", a
       window rejected for one class and confirmed for another is refused)
     search --library LIB --class C --no-merge --top ALL --format json  (after;
      reviewed windows left out, as by default)
   --no-merge: each of the 20 hits is one window, judged alone.
   AP after, two ways: (a) the user's view: clips confirmed by a yes hit ranked
   first, clips rejected by a no hit last, the rest by the new search; (b) only
   the clips none of whose windows was reviewed, before and after on that same
   set (what the teaching changed on clips the user never looked at).
Tables (mean and spread over the runs) on standard output, per-class rows in
WORK/NAME/classes.tsv.
"""
import argparse
import csv
import json
import math
import shutil
import statistics
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np

LOCK = "/tmp/oneshot-cpu.lock"
GAP_S = 0.5
GAP_DBFS = -60.0
ALL = "1000000"


def sh(cmd, **kw):
    """Run one command under the CPU lock; its output on failure."""
    p = subprocess.run(["flock", LOCK] + [str(c) for c in cmd], capture_output=True, text=True, **kw)
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(map(str, cmd))}\n{p.stderr[-3000:]}")
    return p


def build_recording(data, work):
    """WORK/recording.wav and WORK/reference.tsv (clip, class, onset_s, offset_s)."""
    rec, ref = work / "recording.wav", work / "reference.tsv"
    rows = list(csv.DictReader(open(data / "meta" / "esc50.csv")))
    if rec.exists() and ref.exists():
        return [(r[0], r[1], float(r[2]), float(r[3])) for r in list(csv.reader(open(ref), delimiter="\t"))[1:]]
    params, out, clips, t = None, [], [], 0
    gap = None
    for r in rows:
        with wave.open(str(data / "audio" / r["filename"])) as w:
            p = (w.getnchannels(), w.getsampwidth(), w.getframerate())
            if params is None:
                params = p
                rate = p[2]
                rng = np.random.default_rng(19)
                amp = 32768 * 10 ** (GAP_DBFS / 20)
                gap = np.clip(np.round(rng.standard_normal(int(GAP_S * rate)) * amp), -32768, 32767).astype("<i2")
            if p != params or p[:2] != (1, 2):
                sys.exit(f"{r['filename']}: {p} differs from the first clip's {params} (mono 16-bit expected)")
            x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        clips.append((r["filename"], r["category"], t / rate, (t + len(x)) / rate))
        out += [x, gap]
        t += len(x) + len(gap)
    tmp = rec.with_suffix(".tmp.wav")
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(params[2])
        w.writeframes(np.concatenate(out).tobytes())
    tmp.rename(rec)
    with open(ref, "w") as f:
        f.write("clip\tclass\tonset_s\toffset_s\n")
        for c in clips:
            f.write(f"{c[0]}\t{c[1]}\t{c[2]:.6f}\t{c[3]:.6f}\n")
    return clips


def holds(on, off, clip, window):
    """Does the window [on, off) hold at least half a window of the clip?"""
    return min(off, clip[3]) - max(on, clip[2]) >= window / 2 - 1e-6


def clip_scores(hits, clips, window):
    """Per clip, the best score of the windows holding half a window of it; and those windows' ids."""
    score = [-math.inf] * len(clips)
    owner = {}
    starts = np.array([c[2] for c in clips])
    for h in hits:
        on = h["onset_s"]
        off = on + window
        j0 = max(int(np.searchsorted(starts, on - window)), 0)
        for j in range(j0, min(j0 + 4, len(clips))):
            if holds(on, off, clips[j], window):
                score[j] = max(score[j], h["score"])
                owner[h["best_window_id"]] = j
    return score, owner


def ranking_metrics(ranked_relevant):
    """AP, P@5, P@10 of a ranked list of booleans."""
    n_rel = sum(ranked_relevant)
    found, ap = 0, 0.0
    for k, r in enumerate(ranked_relevant, 1):
        if r:
            found += 1
            ap += found / k
    return (ap / n_rel if n_rel else float("nan"), sum(ranked_relevant[:5]) / 5, sum(ranked_relevant[:10]) / 10)


def rank(candidates, score):
    return sorted(candidates, key=lambda j: -score[j])


def search_json(cli, args):
    p = sh([cli, "search", "--quiet", "--threads", "2", "--no-merge", "--top", ALL, "--format", "json"] + args)
    return json.loads(p.stdout)["hits"]


def evaluate_run(cli, run, data, work, clips, only):
    name = run.name.removesuffix(".run")
    d = work / name
    d.mkdir(parents=True, exist_ok=True)
    val = set(json.load(open(run / "split.json")).get("val", []))
    index_archive = d / "recording.archive"
    if not index_archive.exists():
        t0 = time.time()
        tmp = d / "recording.archive.tmp"
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(str(tmp) + suffix).unlink(missing_ok=True)
        sh([cli, "index", "--quiet", "--threads", "2", "--run", run, "--archive", tmp, work / "recording.wav"])
        tmp.rename(index_archive)
        print(f"{name}: indexed in {time.time() - t0:.1f} s", file=sys.stderr)
    archive = d / "review.archive"
    shutil.copyfile(index_archive, archive)
    lib = d / "library.db"
    lib.unlink(missing_ok=True)
    first = {}
    for i, c in enumerate(clips):
        first.setdefault(c[1], i)
    rows = []
    window = None
    for cls, ex in sorted(first.items()):
        if only and cls not in only:
            continue
        example = data / "audio" / clips[ex][0]
        others = [j for j in range(len(clips)) if j != ex]
        # 2. search by the example clip.
        # On the archive as indexed (a search by example once left out windows reviewed for any class).
        hits = search_json(cli, ["--archive", index_archive, "--example", example])
        if window is None:
            window = max(h["offset_s"] - h["onset_s"] for h in hits)
        score, owner = clip_scores(hits, clips, window)
        rel = lambda j: clips[j][1] == cls
        ex_m = ranking_metrics([rel(j) for j in rank(others, score)])
        # 3. one review round with a library of the example.
        sh([cli, "enroll", "--quiet", "--threads", "2", "--run", run, "--library", lib, "--class", cls, example])
        before = search_json(cli, ["--archive", archive, "--library", lib, "--class", cls])
        score_b, owner = clip_scores(before, clips, window)
        lib_m = ranking_metrics([rel(j) for j in rank(others, score_b)])
        hits_txt = d / f"hits-{cls}.txt"
        sh([cli, "search", "--quiet", "--threads", "2", "--archive", archive, "--library", lib, "--class", cls,
            "--no-merge", "--top", "20", "--format", "raven", "--out", hits_txt])
        table = list(csv.DictReader(open(hits_txt), delimiter="\t"))
        if len(table) != 20:
            sys.exit(f"{hits_txt}: {len(table)} hits, 20 expected")
        confirmed, rejected, yes = set(), set(), 0
        for t in table:
            on, off = float(t["Begin Time (s)"]), float(t["End Time (s)"])
            held = [j for j, c in enumerate(clips) if holds(on, off, c, window)]
            verdict = "yes" if any(clips[j][1] == cls for j in held) else "no"
            yes += verdict == "yes"
            t["Verdict"] = verdict
            for j in held:
                (confirmed if clips[j][1] == cls else rejected).add(j)
        verdicts = d / f"verdicts-{cls}.tsv"
        with open(verdicts, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(table[0].keys()), delimiter="\t", lineterminator="\n")
            w.writeheader()
            w.writerows(table)
        sh([cli, "review", "--quiet", "--threads", "2", "--archive", archive, "--library", lib, "--class", cls,
            "--negative-class", f"not-{cls}", verdicts])
        after = search_json(cli, ["--archive", archive, "--library", lib, "--class", cls])
        if len(after) != len(before) - 20:
            sys.exit(f"{cls}: the search after review returned {len(after)} windows, {len(before) - 20} expected")
        score_a, _ = clip_scores(after, clips, window)
        # (a) the user's view: confirmed clips first, rejected clips last, the rest by the new search.
        rejected -= confirmed
        rest = [j for j in others if j not in confirmed and j not in rejected]
        view = [j for j in others if j in confirmed] + rank(rest, score_a) + [j for j in others if j in rejected]
        a_m = ranking_metrics([rel(j) for j in view])
        # (b) only the clips no reviewed window held: before and after on the same set.
        b_before = ranking_metrics([rel(j) for j in rank(rest, score_b)])
        b_after = ranking_metrics([rel(j) for j in rank(rest, score_a)])
        rows.append(dict(run=name, cls=cls, unseen=cls in val, n_rel=sum(rel(j) for j in others), n=len(others),
                         n_rel_rest=sum(rel(j) for j in rest), n_rest=len(rest), yes=yes,
                         confirmed=len(confirmed - {ex}), rejected=len(rejected),
                         ex_ap=ex_m[0], ex_p5=ex_m[1], ex_p10=ex_m[2],
                         lib_ap=lib_m[0], lib_p5=lib_m[1], lib_p10=lib_m[2],
                         a_ap=a_m[0], a_p5=a_m[1], a_p10=a_m[2],
                         b_before_ap=b_before[0], b_after_ap=b_after[0],
                         b_before_p10=b_before[2], b_after_p10=b_after[2]))
        print(f"{name} {cls:18s} {'unseen' if cls in val else 'train ':6s} example AP {ex_m[0]:.3f} "
              f"library AP {lib_m[0]:.3f} yes {yes:2d}/20 after (a) {a_m[0]:.3f} "
              f"(b) {b_before[0]:.3f} -> {b_after[0]:.3f}", file=sys.stderr)
    with open(d / "classes.tsv", "w") as f:
        f.write("\t".join(rows[0].keys()) + "\n")
        for r in rows:
            f.write("\t".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in r.values()) + "\n")
    return rows


def read_rows(path):
    """The per-class rows evaluate_run wrote."""
    rows = []
    for r in csv.DictReader(open(path), delimiter="\t"):
        row = {}
        for k, v in r.items():
            if k in ("run", "cls"):
                row[k] = v
            elif k == "unseen":
                row[k] = v == "True"
            elif "." in v or v == "nan":
                row[k] = float(v)
            else:
                row[k] = int(v)
        rows.append(row)
    return rows


def mean_sd(xs):
    m = statistics.mean(xs)
    return f"{m:.3f} ± {statistics.stdev(xs):.3f}" if len(xs) > 1 else f"{m:.3f}"


def report(all_rows, runs):
    """Per run, the mean over classes; then mean ± standard deviation over the runs."""
    def per_run(key, unseen):
        out = []
        for run in runs:
            sel = [r[key] for r in all_rows if r["run"] == run and r["unseen"] == unseen and not math.isnan(r[key])]
            out.append(statistics.mean(sel))
        return out

    def chance(unseen, rel="n_rel", n="n"):
        return per_run_ratio(unseen, rel, n)

    def per_run_ratio(unseen, rel, n):
        out = []
        for run in runs:
            sel = [r for r in all_rows if r["run"] == run and r["unseen"] == unseen]
            out.append(statistics.mean(r[rel] / r[n] for r in sel))
        return out

    print(f"{len(runs)} runs: mean over classes, then mean ± standard deviation over the runs")
    print()
    print("| search by one clip (its class's first) | classes | P@5 | P@10 | AP | chance |")
    print("|---|---|---|---|---|---|")
    for label, u in (("unseen (validation) classes", True), ("training classes", False)):
        n = sum(1 for r in all_rows if r["run"] == runs[0] and r["unseen"] == u)
        print(f"| example clip, {label} | {n} | {mean_sd(per_run('ex_p5', u))} | {mean_sd(per_run('ex_p10', u))} | "
              f"{mean_sd(per_run('ex_ap', u))} | {mean_sd(chance(u))} |")
        print(f"| library of that clip, {label} | {n} | {mean_sd(per_run('lib_p5', u))} | "
              f"{mean_sd(per_run('lib_p10', u))} | {mean_sd(per_run('lib_ap', u))} | {mean_sd(chance(u))} |")
    print()
    print("| one review round (top 20 windows judged) | unseen classes | training classes |")
    print("|---|---|---|")
    for label, key in (("hits judged yes (of 20 windows)", "yes"),
                       ("clips confirmed (the example's own left out)", "confirmed"),
                       ("clips rejected", "rejected"),
                       ("AP before (library of the example, all clips)", "lib_ap"),
                       ("AP after, (a) the user's view", "a_ap"),
                       ("P@10 before", "lib_p10"), ("P@10 after, (a)", "a_p10"),
                       ("AP before, (b) clips not reviewed only", "b_before_ap"),
                       ("AP after, (b) clips not reviewed only", "b_after_ap"),
                       ("P@10 before, (b)", "b_before_p10"), ("P@10 after, (b)", "b_after_p10")):
        print(f"| {label} | {mean_sd(per_run(key, True))} | {mean_sd(per_run(key, False))} |")
    print(f"| chance, (b) | {mean_sd(per_run_ratio(True, 'n_rel_rest', 'n_rest'))} | "
          f"{mean_sd(per_run_ratio(False, 'n_rel_rest', 'n_rest'))} |")
    for u, label in ((True, "unseen"), (False, "training")):
        up = [sum(1 for r in all_rows if r["run"] == run and r["unseen"] == u and r["b_after_ap"] > r["b_before_ap"])
              for run in runs]
        down = [sum(1 for r in all_rows if r["run"] == run and r["unseen"] == u and r["b_after_ap"] < r["b_before_ap"])
                for run in runs]
        print(f"{label}: (b) AP raised in {up} classes, lowered in {down} (per run)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--data", type=Path, default=Path("../shared/data/esc50-dev"))
    ap.add_argument("--cli", default="build/oneshot-audio")
    ap.add_argument("--report-only", action="store_true",
                    help="no commands: the tables from the runs' WORK/NAME/classes.tsv of an earlier run")
    ap.add_argument("--classes", nargs="*", default=[], help="only these classes (a quick check)")
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    clips = build_recording(a.data, a.work)
    print(f"recording: {len(clips)} clips, {clips[-1][3] + GAP_S:.1f} s ({(clips[-1][3] + GAP_S) / 60:.1f} min)",
          file=sys.stderr)
    rows = []
    for run in a.runs:
        if a.report_only:
            rows += read_rows(a.work / run.name.removesuffix(".run") / "classes.tsv")
        else:
            rows += evaluate_run(a.cli, run, a.data, a.work, clips, set(a.classes))
    report(rows, [r.name.removesuffix(".run") for r in a.runs])


if __name__ == "__main__":
    main()
