#!/usr/bin/env python3
"""Probe a class split's runs on their validation classes, from their clip embeddings.

Issue 17 asks what would make one clip against one clip separate classes the
model never saw. This script measures, without changing the program, what a
change of scoring would give on the dev protocol's validation classes
(every clip of them; one window a clip, as `oneshot-audio embed` cuts a 5 s
clip):

  * each run alone, as it scores (the distance head's cosine of the stored
    embedding: the learned part plus the band statistics at their weight);
  * an ensemble of the split's runs (several training seeds of one split):
    the mean of the runs' cosines over the learned part, plus the band
    statistics' cosine (the same for every seed of a split: fitted on the same
    training clips);
  * with --whiten: each run re-centred on its validation clips' mean (what
    `enroll --domain` does) and then whitened on them with a covariance shrunk
    towards the identity (speaker verification's in-domain whitening).

Figures (published definitions): EER (false accepts = false rejects, pairs
of clips), false rejects at 5 % false accepts, AUROC (Mann-Whitney), and the
5-way 1-shot accuracy of --episodes random episodes (5 queries a class,
nearest support), each per split and as the mean with the split values.

Usage:
  bench/embedding_probe.py [--oneshot build/oneshot-audio] [--work DIR]
      [--episodes 3000] [--whiten] --split RUN [RUN ...] [--split RUN [RUN ...] ...]
Each --split names one class split's run directories (its training seeds),
e.g. --split out/r.split1.run "out/r,train.seed=2.split1.run"; give one
--split per class split. Each run's clips are embedded once (`oneshot-audio embed`,
kept in --work). Needs numpy (Debian's python3-numpy).
"""
import argparse
import csv
import json
import os
import subprocess
import sys

import numpy as np


def clip_labels(run_info):
    """File basename -> class name, from the run's dataset (esc50 metadata or folder names)."""
    data = run_info["data_dir"]
    meta = os.path.join(data, "meta", "esc50.csv")
    if run_info.get("layout") == "esc50" and os.path.exists(meta):
        with open(meta, newline="") as f:
            return {r["filename"]: r["category"] for r in csv.DictReader(f)}
    labels = {}
    for root, _, files in os.walk(data):
        for name in files:
            labels[name] = os.path.basename(root)
    return labels


def embeddings(oneshot, run, work):
    """(basenames, matrix) of every clip of the run's data, embedded by the run (cached in work)."""
    out = os.path.join(work, os.path.basename(os.path.normpath(run)).replace(",", "_"))
    if not os.path.exists(os.path.join(out, "embeddings.npy")):
        with open(os.path.join(run, "run.json")) as f:
            data = json.load(f)["data_dir"]
        audio = os.path.join(data, "audio") if os.path.isdir(os.path.join(data, "audio")) else data
        subprocess.run([oneshot, "embed", "--run", run, "--out", out, "--quiet", audio], check=True)
    with open(os.path.join(out, "index.csv"), newline="") as f:
        names = [os.path.basename(r["file"]) for r in csv.DictReader(f)]
    return names, np.load(os.path.join(out, "embeddings.npy"))


def learned_dim(run):
    """The learned part's width (model.embedding_dim x model.ensemble); the band statistics follow it."""
    keys = {}
    with open(os.path.join(run, "config.toml")) as f:
        for line in f:
            key, _, value = line.partition("=")
            if key.strip() in ("embedding_dim", "ensemble"):
                keys[key.strip()] = int(value)
    if "embedding_dim" not in keys:
        raise SystemExit(f"{run}/config.toml: no model.embedding_dim")
    return keys["embedding_dim"] * keys.get("ensemble", 1)


def pair_figures(scores, labels):
    """EER, false rejects at 5 % false accepts, AUROC over every pair i < j."""
    iu = np.triu_indices(len(labels), 1)
    s = scores[iu]
    same = (labels[:, None] == labels[None, :])[iu]
    pos, neg = np.sort(s[same]), np.sort(s[~same])
    frr5 = float((pos <= np.quantile(neg, 0.95)).mean())
    t = np.unique(s)
    far = 1 - np.searchsorted(neg, t, side="left") / len(neg)
    frr = np.searchsorted(pos, t, side="left") / len(pos)
    k = int(np.argmin(np.abs(far - frr)))
    ranks = np.argsort(np.argsort(np.concatenate([pos, neg]), kind="stable"), kind="stable") + 1
    auroc = (ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))
    return float((far[k] + frr[k]) / 2), frr5, float(auroc)


def five_way(scores, labels, episodes, seed=0):
    rng = np.random.RandomState(seed)
    classes = np.unique(labels)
    members = {c: np.where(labels == c)[0] for c in classes}
    right = total = 0
    for _ in range(episodes):
        chosen = rng.choice(classes, 5, replace=False)
        support, queries = [], []
        for i, c in enumerate(chosen):
            order = rng.permutation(members[c])
            support.append(order[0])
            queries += [(q, i) for q in order[1:6]]
        for q, i in queries:
            right += int(np.argmax(scores[q, support]) == i)
            total += 1
    return right / total


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def whitened(x, shrink):
    x = x - x.mean(0)
    c = np.cov(x.T)
    c = (1 - shrink) * c + shrink * np.trace(c) / len(c) * np.eye(len(c))
    w, v = np.linalg.eigh(c)
    return x @ v @ np.diag(w ** -0.5) @ v.T


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--split", dest="splits", action="append", nargs="+", required=True, metavar="RUN")
    p.add_argument("--oneshot", default="build/oneshot-audio")
    p.add_argument("--work", default="embedding-probe")
    p.add_argument("--episodes", type=int, default=3000)
    p.add_argument("--whiten", action="store_true")
    a = p.parse_args()
    os.makedirs(a.work, exist_ok=True)
    rows = {}
    for runs in a.splits:
        with open(os.path.join(runs[0], "run.json")) as f:
            info = json.load(f)
        with open(os.path.join(runs[0], "split.json")) as f:
            val = set(json.load(f)["val"])
        names_of = clip_labels(info)
        dim = learned_dim(runs[0])
        parts = []
        for run in runs:
            names, e = embeddings(a.oneshot, run, a.work)
            # Rows in the order of their file names, so that the runs' rows are the same clips.
            keep = sorted((i for i, n in enumerate(names) if names_of.get(n) in val), key=lambda i: names[i])
            parts.append(e[keep])
            labels = np.array([names_of[names[i]] for i in keep])
        stats = parts[0][:, dim:]
        stats_scores = stats @ stats.T
        settings = {}
        for r, e in enumerate(parts):
            settings[f"training seed {r + 1} alone"] = e @ e.T
        if len(parts) > 1:
            settings[f"ensemble of {len(parts)}"] = (
                sum(e[:, :dim] @ e[:, :dim].T for e in parts) / len(parts) + stats_scores)
        if a.whiten:
            e = parts[0]
            weight = float((stats[0] ** 2).sum())
            for shrink in (0.8, 0.95):
                z = [unit(whitened(e[:, :dim], shrink)), unit(whitened(stats, shrink))]
                settings[f"seed 1 centred + whitened, shrink {shrink}"] = z[0] @ z[0].T + weight * z[1] @ z[1].T
            centred = [unit(e[:, :dim] - e[:, :dim].mean(0)), unit(stats - stats.mean(0))]
            settings["seed 1 centred on the clips' mean"] = centred[0] @ centred[0].T + weight * centred[1] @ centred[1].T
        for name, s in settings.items():
            rows.setdefault(name, []).append(pair_figures(s, labels) + (five_way(s, labels, a.episodes),))
    print(f"{len(a.splits)} class splits; validation classes' clips, one clip against one clip")
    print("| scoring | 5-way | EER | FRR at 5 % FAR | AUROC |\n|---|---|---|---|---|")
    for name, figures in rows.items():
        f = np.array(figures)
        cell = lambda j: f"{f[:, j].mean():.3f} ({' / '.join(f'{v:.3f}' for v in f[:, j])})"
        print(f"| {name} | {cell(3)} | {cell(0)} | {cell(1)} | {cell(2)} |")


if __name__ == "__main__":
    sys.exit(main())
