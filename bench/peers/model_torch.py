#!/usr/bin/python3
"""PyTorch peers of bench_model: the same two encoders, steps and batches,
written as a PyTorch user would write them (Debian's python3-torch, the same
LibTorch 1.13 the project links).

  --arch original: the thesis's encoder (src/model/original_encoder.h): input
      BatchNorm, 3 x [Conv 5x5 valid (64) -> BatchNorm -> ReLU -> MaxPool 2 ->
      Dropout 0.25], Flatten, Linear 500 -> BatchNorm -> Sigmoid -> Dropout 0.25;
      BatchNorm eps 1e-3, momentum 0.01 (Keras's 0.99); head Linear(500, 1) on
      the squared difference. Training step = bench_model's BM_TrainInBatch:
      32 clips (8 classes x 4) encoded once, all 496 pairs through the head,
      BCE with logits, Adam (1e-3, eps 1e-7).
  --arch compact: the default encoder (src/model/compact_encoder.h): clip-mean
      and per-band normalisation, 4 x [Conv 3x3 same (32, 64, 128, 128, no bias)
      -> BatchNorm -> ReLU -> MaxPool 4, 2, 2, -], mean over frequency, mean +
      max over time, Linear 256 -> 128, centred L2 embeddings, distance head.
      Training step = BM_CompactTrain: 32 clips (8 x 4), prototypical loss with
      1 support and 3 queries a class, Adam.
  --mode embed: inference (eval mode, torch.inference_mode) on batches of 32 =
      BM_Embed / BM_CompactEmbed.

Inputs are 128 x 431 standard-normal spectrograms, as in bench_model.
--channels-last converts the model and its input with
memory_format=torch.channels_last (the tuned peer, run with tcmalloc in
LD_PRELOAD by bench/peers/run.py). Prints one JSON line: clips_per_s,
seconds_per_step, steps, threads, torch version.
"""
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

MELS, FRAMES, BATCH = 128, 431, 32


class Original(nn.Module):
    def __init__(self, filters=64, dense=500, layers=3, p_conv=0.25, p_dense=0.25):
        super().__init__()
        bn = dict(eps=1e-3, momentum=0.01)
        self.input_norm = nn.BatchNorm2d(1, **bn)
        blocks, c, h, w = [], 1, MELS, FRAMES
        for _ in range(layers):
            blocks += [nn.Conv2d(c, filters, 5), nn.BatchNorm2d(filters, **bn), nn.ReLU(), nn.MaxPool2d(2),
                       nn.Dropout(p_conv)]
            c, h, w = filters, (h - 4) // 2, (w - 4) // 2
        self.conv = nn.Sequential(*blocks)
        self.dense = nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, dense), nn.BatchNorm1d(dense, **bn),
                                   nn.Sigmoid(), nn.Dropout(p_dense))
        self.output = nn.Linear(dense, 1)
        for m in self.modules():  # Keras's glorot_uniform and zero biases
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def embed(self, x):
        return self.dense(self.conv(self.input_norm(x)))

    def head(self, a, b):
        return self.output((a - b).square()).squeeze(1)


class Compact(nn.Module):
    def __init__(self, width=32, dim=128):
        super().__init__()
        self.register_buffer("band_mean", torch.zeros(MELS))
        self.register_buffer("band_std", torch.ones(MELS))
        self.register_buffer("running_mean", torch.zeros(dim))
        layers, c = [], 1
        for mult, pool in zip((1, 2, 4, 4), (4, 2, 2, 1)):
            out = mult * width
            layers += [nn.Conv2d(c, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
            if pool > 1:
                layers.append(nn.MaxPool2d(pool))
            c = out
        self.blocks = nn.Sequential(*layers)
        self.project = nn.Linear(2 * c, dim)
        self.output = nn.Linear(1, 1)
        with torch.no_grad():
            self.output.weight.fill_(10.0)
            self.output.bias.zero_()
        for m in self.blocks.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")

    def embed(self, x):
        x = x - x.mean((-2, -1), keepdim=True)
        x = (x - self.band_mean.view(1, 1, MELS, 1)) / self.band_std.view(1, 1, MELS, 1)
        x = self.blocks(x).mean(2)
        x = self.project(torch.cat([x.mean(2), x.amax(2)], 1))
        if self.training:
            mean = x.mean(0)
            with torch.no_grad():
                self.running_mean.mul_(0.9).add_(mean.detach(), alpha=0.1)
            x = x - mean
        else:
            x = x - self.running_mean
        return F.normalize(x, p=2, dim=1, eps=1e-8)

    def scores(self, q, p):
        d2 = (q.square().sum(1, keepdim=True) + p.square().sum(1).unsqueeze(0) - 2 * q @ p.t()).clamp_min(0)
        return self.output.bias - self.output.weight.abs().squeeze() * d2


def train_step_fn(model, x, arch):
    adam = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    classes, per_class = 8, 4
    labels = torch.arange(classes).repeat_interleave(per_class)
    if arch == "original":
        i, j = torch.triu_indices(BATCH, BATCH, 1)
        target = (labels[i] == labels[j]).float()

        def step():
            adam.zero_grad()
            e = model.embed(x)
            F.binary_cross_entropy_with_logits(model.head(e[i], e[j]), target).backward()
            adam.step()
    else:
        support = torch.arange(classes) * per_class
        queries = torch.tensor([k for k in range(BATCH) if k % per_class])
        target = labels[queries]

        def step():
            adam.zero_grad()
            e = model.embed(x)
            F.cross_entropy(model.scores(e[queries], e[support]), target).backward()
            adam.step()
    return step


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", choices=["original", "compact"], required=True)
    ap.add_argument("--mode", choices=["train", "embed"], required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--min-time", type=float, default=3.0)
    ap.add_argument("--min-steps", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(a.threads)
    torch.manual_seed(1)
    model = Original() if a.arch == "original" else Compact()
    x = torch.randn(BATCH, 1, MELS, FRAMES)
    if a.channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    if a.mode == "train":
        model.train()
        step = train_step_fn(model, x, a.arch)
    else:
        model.eval()

        def step():
            with torch.inference_mode():
                model.embed(x)
    step()  # warm-up: oneDNN primitives, allocator
    steps, start = 0, time.perf_counter()
    while steps < a.min_steps or time.perf_counter() - start < a.min_time:
        step()
        steps += 1
    seconds = time.perf_counter() - start
    print(json.dumps({"clips_per_s": BATCH * steps / seconds, "seconds_per_step": seconds / steps, "steps": steps,
                      "threads": torch.get_num_threads(), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
