#!/usr/bin/env python3
"""Search quality on an archive of clips end to end (issue 19's acceptance, in
part): OUT/long.wav holds every clip of DATA in OUT/order.txt's order
(bench/archive_speed.sh). For each class, its first clip is the example
(`search --example CLIP --no-merge --top ALL --format json`: every window's
score); each other clip scores the best of the windows that hold at least half
a window of it; the clips are ranked by that score. Reported per class and
averaged: average precision (AP) and precision at 5 of the class's other
clips among the 330 others (chance: about 0.02), for the run's validation
(unseen) classes and its training classes apart, and for a float16 archive
beside a float32 one (with the overlap of their top-10 windows).

  bench/archive_search_quality.py RUN OUT DATA [ARCHIVE...]
"""
import json
import subprocess
import sys
from pathlib import Path


def main():
    run, out, data = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    archives = sys.argv[4:] or ["long.archive", "long-half.archive"]
    cli = "build/oneshot-audio"
    order = [Path(line.strip()).name for line in open(out / "order.txt") if line.strip()]
    category = {}
    for line in list(open(data / "meta" / "esc50.csv"))[1:]:
        cols = line.strip().split(",")
        category[cols[0]] = cols[3]
    split = json.load(open(run / "split.json"))
    val = set(split.get("val", []))
    starts, t = [], 0.0
    for name in order:
        starts.append(t)
        t += float(subprocess.run(["soxi", "-D", str(data / "audio" / name)], capture_output=True, text=True).stdout)
    ends = starts[1:] + [t]
    first = {}
    for i, name in enumerate(order):
        first.setdefault(category[name], i)
    window = None
    results = {}
    for archive in archives:
        rows = []
        tops = {}
        for cls, example in sorted(first.items()):
            p = subprocess.run([cli, "search", "--quiet", "--archive", str(out / archive), "--example",
                                str(data / "audio" / order[example]), "--no-merge", "--top", "100000",
                                "--format", "json"], capture_output=True, text=True, check=True)
            hits = json.loads(p.stdout)["hits"]
            tops[cls] = [h["best_window_id"] for h in hits[:10]]
            if window is None:
                window = max(h["offset_s"] - h["onset_s"] for h in hits)
            score = [float("-inf")] * len(order)
            for h in hits:
                on, off = h["onset_s"], h["onset_s"] + window
                for j in range(len(order)):
                    if min(off, ends[j]) - max(on, starts[j]) >= window / 2 - 1e-6:
                        score[j] = max(score[j], h["score"])
            ranked = sorted((j for j in range(len(order)) if j != example), key=lambda j: -score[j])
            relevant = [category[order[j]] == cls for j in ranked]
            n_rel = sum(relevant)
            hits_so_far, ap = 0, 0.0
            for k, r in enumerate(relevant, 1):
                if r:
                    hits_so_far += 1
                    ap += hits_so_far / k
            ap /= max(n_rel, 1)
            p5 = sum(relevant[:5]) / 5
            rows.append((cls, cls in val, ap, p5, n_rel))
        results[archive] = (rows, tops)
        print(f"{archive}: {len(rows)} classes, {len(order)} clips, window {window:.2f} s")
        for label, keep in (("all", lambda r: True), ("validation (unseen)", lambda r: r[1]),
                            ("training", lambda r: not r[1])):
            sel = [r for r in rows if keep(r)]
            if not sel:
                continue
            chance = sum(r[4] for r in sel) / sum(len(order) - 1 for _ in sel)
            print(f"  {label:20s} {len(sel):2d} classes: mean AP {sum(r[2] for r in sel) / len(sel):.3f}, "
                  f"mean P@5 {sum(r[3] for r in sel) / len(sel):.3f} (chance {chance:.3f})")
    if len(archives) == 2:
        overlap = [len(set(results[archives[0]][1][c]) & set(results[archives[1]][1][c])) / 10
                   for c in results[archives[0]][1]]
        same_first = sum(results[archives[0]][1][c][:1] == results[archives[1]][1][c][:1]
                         for c in results[archives[0]][1])
        print(f"{archives[1]} vs {archives[0]}: top-10 window overlap {sum(overlap) / len(overlap):.3f} "
              f"(mean over classes), same best window in {same_first} of {len(overlap)}")


if __name__ == "__main__":
    main()
