#!/usr/bin/env python3
"""Open-set accuracy of enrol + classify on a trained run's unseen test classes.

For each draw: ENROLLED test classes are enrolled from ONE random clip each into
a fresh library (calibrated on the run's validation classes, --far), then every
other clip of those classes and every clip of the remaining test classes (never
enrolled) is classified. Prints, per draw and as mean (min-max):
  top-1      accuracy of the best class on enrolled-class clips, threshold ignored
             (a closed-set N-way 1-shot test, N = enrolled classes)
  accepted   enrolled-class clips given their right class (threshold applied)
  rejected   never-enrolled clips answered "unknown" (1 - false-accept rate)
Usage: bench/enroll_accuracy.py RUN [--cli build/oneshot-audio] [--enrolled 3]
       [--draws 5] [--far 0.05] [--enroll-args "--views 4 --score-norm none"]
The dataset, its layout and the split come from RUN (run.json, split.json).
"""
import argparse, csv, json, os, random, subprocess, sys, tempfile


def clips_by_class(run):
    info = json.load(open(os.path.join(run, "run.json")))
    data = info["data_dir"]
    meta = os.path.join(data, "meta", "esc50.csv")
    out = {}
    if os.path.exists(meta):
        for row in csv.DictReader(open(meta)):
            path = os.path.join(data, "audio", row["filename"])
            if os.path.exists(path):
                out.setdefault(row["category"], []).append(path)
    else:
        for c in sorted(os.listdir(data)):
            d = os.path.join(data, c)
            if os.path.isdir(d) and not c.startswith("."):
                out[c] = sorted(os.path.join(d, f) for f in os.listdir(d) if not f.startswith("."))
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("run")
    p.add_argument("--cli", default=os.path.join(os.path.dirname(__file__), "..", "build", "oneshot-audio"))
    p.add_argument("--enrolled", type=int, default=3)
    p.add_argument("--draws", type=int, default=5)
    p.add_argument("--far", type=float, default=0.05)
    p.add_argument("--enroll-args", default="", help="extra enroll flags, e.g. \"--views 1 --score-norm none\"")
    a = p.parse_args()
    test = json.load(open(os.path.join(a.run, "split.json")))["test"]
    clips = clips_by_class(a.run)
    rows = []
    for draw in range(1, a.draws + 1):
        rng = random.Random(draw)
        classes = test[:]
        rng.shuffle(classes)
        enrolled, others = classes[: a.enrolled], classes[a.enrolled:]
        with tempfile.TemporaryDirectory() as tmp:
            lib = os.path.join(tmp, "lib.db")
            queries, truth = [], {}
            for c in enrolled:
                example = rng.choice(clips[c])
                subprocess.run([a.cli, "enroll", "--quiet", "--run", a.run, "--library", lib, "--class", c,
                                "--far", str(a.far)] + a.enroll_args.split() + [example],
                               check=True, stdout=subprocess.DEVNULL)
                for q in clips[c]:
                    if q != example:
                        queries.append(q)
                        truth[q] = c
            for c in others:
                for q in clips[c]:
                    queries.append(q)
                    truth[q] = None
            out = subprocess.run([a.cli, "classify", "--format", "json", "--top", str(a.enrolled),
                                  "--library", lib] + queries, check=True, capture_output=True, text=True).stdout
        top1 = accepted = n_in = rejected = n_out = 0
        for r in json.loads(out):
            t = truth[r["path"]]
            if t is None:
                n_out += 1
                rejected += r["decision"] == "unknown"
            else:
                n_in += 1
                top1 += r["ranking"][0]["class"] == t
                accepted += r["decision"] == t
        rows.append((top1 / n_in, accepted / n_in, rejected / max(n_out, 1)))
        print(f"draw {draw}: enrolled {enrolled}: top-1 {rows[-1][0]:.3f} ({n_in} clips), "
              f"accepted {rows[-1][1]:.3f}, rejected {rows[-1][2]:.3f} ({n_out} never-enrolled clips)")
    for i, name in enumerate(["top-1", "accepted", "rejected"]):
        v = [r[i] for r in rows]
        print(f"{name:9s} {sum(v) / len(v):.3f} ({min(v):.3f}-{max(v):.3f}) over {len(v)} draws")


if __name__ == "__main__":
    sys.exit(main())
