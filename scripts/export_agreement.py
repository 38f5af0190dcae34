#!/usr/bin/env python3
"""How closely the exported networks agree with oneshot-audio on real clips
(README, "Export"): exports RUN as TorchScript, ONNX and ONNX with the front
end, embeds every clip of CLIPS with `oneshot-audio embed` (the reference),
runs the exported files on the same clips (PyTorch; ONNX Runtime for Node, on
`oneshot-audio logmel`'s log-mel or on the raw samples) and reports the
largest absolute difference of the embeddings, whether each clip's nearest
neighbour (by the run's score head) is the same, and whether the decisions of
one-shot episodes on the run's validation classes are the same.

Usage (Debian's python3 with python3-torch, node with onnxruntime-node):
  /usr/bin/python3 scripts/export_agreement.py RUN CLIPS_DIR [--meta CSV]
      [--work DIR] [--episodes 1000] [--cli build/oneshot-audio]
      [--onnx-node build/onnx-node]
CLIPS_DIR holds mono 16-bit WAV clips of the run's rate and window (ESC-50's
5 s, 44.1 kHz clips: one window each); --meta is an ESC-50 style CSV
(filename, category) giving the classes the episodes are drawn from.
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import wave

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(cmd):
    result = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0:
        sys.exit("failed: " + " ".join(cmd) + "\n" + result.stdout)
    return result.stdout


def onnx_embed(args, model, input_name, x, dim, work):
    """Embeddings of x by `model` in ONNX Runtime for Node, 32 rows at a time."""
    out = []
    for first in range(0, len(x), 32):
        chunk = np.ascontiguousarray(x[first:first + 32], dtype=np.float32)
        chunk.tofile(os.path.join(work, "onnx_in.f32"))
        run(["node", os.path.join(ROOT, "tests/model/export/onnx_embed.js"),
             os.path.join(os.path.abspath(args.onnx_node), "node_modules"), model, input_name,
             os.path.join(work, "onnx_in.f32"), ",".join(str(n) for n in chunk.shape),
             os.path.join(work, "onnx_out.f32")])
        out.append(np.fromfile(os.path.join(work, "onnx_out.f32"), dtype=np.float32).reshape(len(chunk), dim))
    return np.concatenate(out)


def head_scores(card, q, r):
    """(Q, R) scores of the run's head (the model card's score_head), float64."""
    h = card["score_head"]
    d = q[:, None, :].astype(np.float64) - r[None, :, :].astype(np.float64)
    m = np.abs(d) if h["dist"] == "l1" else d * d
    if h["kind"] == "distance":
        return h["bias"] - h["scale"] * m.sum(2)
    w = np.asarray(h["weights"])
    return h["bias"] - (m * w).sum(2) if h["kind"] == "monotone" else h["bias"] + (m * w).sum(2)


def nearest(card, e):
    s = head_scores(card, e, e)
    np.fill_diagonal(s, -np.inf)
    return s.argmax(1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("run")
    p.add_argument("clips")
    p.add_argument("--meta", default=None)
    p.add_argument("--work", default="/tmp/oneshot-export-agreement")
    p.add_argument("--episodes", type=int, default=1000)
    p.add_argument("--ways", type=int, default=5)
    p.add_argument("--cli", default=os.path.join(ROOT, "build/oneshot-audio"))
    p.add_argument("--onnx-node", default=os.path.join(ROOT, "build/onnx-node"))
    args = p.parse_args()
    work = args.work
    os.makedirs(os.path.join(work, "logmel"), exist_ok=True)
    clips = sorted(os.path.join(args.clips, f) for f in os.listdir(args.clips) if f.endswith(".wav"))

    # The exported files.
    pt, onnx_file, wave_file = (os.path.join(work, n) for n in ("model.pt", "model.onnx", "model_wave.onnx"))
    run([args.cli, "export", "--run", args.run, "--format", "torchscript", "--out", pt])
    run([args.cli, "export", "--run", args.run, "--format", "onnx", "--out", onnx_file])
    run([args.cli, "export", "--run", args.run, "--format", "onnx", "--with-frontend", "--out", wave_file])
    card = json.load(open(onnx_file + ".json"))
    dim = card["embedding_dim"]

    # The reference: oneshot-audio's own embeddings, one window per clip.
    run([args.cli, "embed", "--quiet", "--run", args.run, "--out", os.path.join(work, "embed")] + clips)
    ours = np.load(os.path.join(work, "embed", "embeddings.npy"))
    rows = list(csv.DictReader(open(os.path.join(work, "embed", "index.csv"))))
    if len(rows) != len(clips) or [r["file"] for r in rows] != clips:
        sys.exit("expected one window per clip (clips of the run's window length)")

    # The same clips' log-mel as the encoder gets it, and their samples.
    logmels, waves = [], []
    for i, clip in enumerate(clips):
        out = os.path.join(work, "logmel", "%d.npy" % i)
        run([args.cli, "logmel", "--config", os.path.join(args.run, "config.toml"), clip, out])
        logmels.append(np.load(out))
        with wave.open(clip) as w:
            if w.getnchannels() != 1 or w.getsampwidth() != 2 or w.getframerate() != card["sample_rate"]:
                sys.exit(clip + ": expected mono 16-bit WAV at %d Hz" % card["sample_rate"])
            x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0
        padded = np.zeros(card["window_samples"], dtype=np.float32)
        padded[:min(len(x), len(padded))] = x[:len(padded)]
        waves.append(padded)
    log_mel = np.stack(logmels)[:, None]  # (N, 1, M, T)
    waves = np.stack(waves)

    results = {}
    model = torch.jit.load(pt)
    with torch.no_grad():
        results["TorchScript (PyTorch, log-mel input)"] = np.concatenate(
            [model(torch.from_numpy(log_mel[i:i + 32])).numpy() for i in range(0, len(log_mel), 32)])
    results["ONNX (ONNX Runtime for Node, log-mel input)"] = onnx_embed(args, onnx_file, "log_mel", log_mel, dim, work)
    results["ONNX --with-frontend (ONNX Runtime for Node, samples input)"] = onnx_embed(
        args, wave_file, "waveform", waves, dim, work)

    # Episodes on the run's validation classes (its held-out classes).
    labels = None
    if args.meta:
        category = {r["filename"]: r["category"] for r in csv.DictReader(open(args.meta))}
        labels = [category[os.path.basename(c)] for c in clips]
    split = json.load(open(os.path.join(args.run, "split.json")))
    rng = np.random.default_rng(0)
    episodes = []
    if labels is not None:
        val = [c for c in split.get("val", []) if sum(l == c for l in labels) >= 2]
        by_class = {c: [i for i, l in enumerate(labels) if l == c] for c in val}
        for _ in range(args.episodes if len(val) >= args.ways else 0):
            classes = rng.choice(val, args.ways, replace=False)
            pairs = [rng.choice(by_class[c], 2, replace=False) for c in classes]
            episodes.append(([s for s, _ in pairs], [q for _, q in pairs]))

    def decisions(e):
        return np.array([head_scores(card, e[queries], e[supports]).argmax(1) for supports, queries in episodes])

    ours_nn = nearest(card, ours)
    ours_dec = decisions(ours) if episodes else None
    print("run: %s (%s encoder, embedding %d), %d clips of %s" % (
        args.run, card["encoder"], dim, len(clips), args.clips))
    print("| exported | max abs diff | nearest neighbour same | episode decisions same |")
    print("|---|---|---|---|")
    for name, e in results.items():
        diff = float(np.abs(e.astype(np.float64) - ours).max())
        nn = int((nearest(card, e) == ours_nn).sum())
        ep = "n/a"
        if episodes:
            d = decisions(e)
            ep = "%d / %d" % (int((d == ours_dec).sum()), d.size)
        print("| %s | %.2g | %d / %d | %s |" % (name, diff, nn, len(clips), ep))
    if labels is not None:
        acc = np.mean([labels[j] == labels[i] for i, j in enumerate(ours_nn)])
        print("oneshot-audio's own nearest-neighbour accuracy on these clips: %.3f" % acc)
    if episodes:
        truth = np.arange(args.ways)[None, :]
        print("%d %d-way 1-shot episodes on the run's %d validation classes (seed 0); oneshot-audio's accuracy %.3f"
              % (len(episodes), args.ways, len(split.get("val", [])), float((ours_dec == truth).mean())))


if __name__ == "__main__":
    main()
