#!/usr/bin/python3
"""PyTorch DistributedDataParallel peer of bench_distributed: the same
training steps as bench/peers/model_torch.py (original encoder: 32 clips
encoded once, all 496 pairs, BCE; compact encoder: 32 clips, prototypical
loss, 1 support + 3 queries a class; Adam 1e-3, eps 1e-7; 128 x 431
standard-normal inputs, channels-last as our trainer), each rank its own
batch, wrapped in torch.nn.parallel.DistributedDataParallel on Gloo (bucket
25 MB, all-reduce overlapped with backward) and started with
torch.multiprocessing on this host (MASTER_ADDR 127.0.0.1).

  bench/peers/ddp_peer.py --arch original|compact --nproc N [--threads T] [--steps S]

Prints one JSON line (rank 0's figures): seconds_per_step and steps_per_s
with DDP synchronising every step; nosync_seconds_per_step, the same steps
under ddp.no_sync() (no all-reduce); comm_seconds_per_step, their difference
(what the all-reduce adds to a step after overlap); grad_bytes; torch version.
"""
import argparse
import json
import os
import socket
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model_torch as mt  # noqa: E402


class StepLoss(nn.Module):
    """The whole training loss in forward(), as DDP needs to see it."""

    def __init__(self, model, arch):
        super().__init__()
        self.model, self.arch = model, arch
        classes, per_class = 8, 4
        labels = torch.arange(classes).repeat_interleave(per_class)
        if arch == "original":
            i, j = torch.triu_indices(mt.BATCH, mt.BATCH, 1)
            self.register_buffer("i", i, persistent=False)
            self.register_buffer("j", j, persistent=False)
            self.register_buffer("target", (labels[i] == labels[j]).float(), persistent=False)
        else:
            queries = torch.tensor([k for k in range(mt.BATCH) if k % per_class])
            self.register_buffer("support", torch.arange(classes) * per_class, persistent=False)
            self.register_buffer("queries", queries, persistent=False)
            self.register_buffer("target", labels[queries], persistent=False)

    def forward(self, x):
        e = self.model.embed(x)
        if self.arch == "original":
            return F.binary_cross_entropy_with_logits(self.model.head(e[self.i], e[self.j]), self.target)
        return F.cross_entropy(self.model.scores(e[self.queries], e[self.support]), self.target)


def rank_main(rank, a, port, out):
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(a.threads)
    dist.init_process_group("gloo", rank=rank, world_size=a.nproc)
    torch.manual_seed(1)
    model = (mt.Original() if a.arch == "original" else mt.Compact()).to(memory_format=torch.channels_last)
    model.train()
    ddp = nn.parallel.DistributedDataParallel(StepLoss(model, a.arch))
    adam = torch.optim.Adam(ddp.parameters(), lr=1e-3, eps=1e-7)
    torch.manual_seed(100 + rank)
    x = torch.randn(mt.BATCH, 1, mt.MELS, mt.FRAMES).contiguous(memory_format=torch.channels_last)

    def step():
        adam.zero_grad()
        ddp(x).backward()
        adam.step()

    def timed(steps, sync):
        dist.barrier()
        start = time.perf_counter()
        for _ in range(steps):
            if sync:
                step()
            else:
                with ddp.no_sync():
                    step()
        dist.barrier()
        return (time.perf_counter() - start) / steps

    step()  # warm-up: oneDNN primitives, allocator, DDP's buckets
    with_sync = timed(a.steps, True)
    without = timed(a.steps, False)
    if rank == 0:
        grad_bytes = sum(p.numel() * p.element_size() for p in ddp.parameters())
        out.put({"arch": a.arch, "nproc": a.nproc, "threads": torch.get_num_threads(), "steps": a.steps,
                 "seconds_per_step": with_sync, "steps_per_s": 1 / with_sync,
                 "nosync_seconds_per_step": without, "comm_seconds_per_step": max(with_sync - without, 0.0),
                 "grad_bytes": grad_bytes, "torch": torch.__version__})
    dist.destroy_process_group()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", choices=["original", "compact"], required=True)
    ap.add_argument("--nproc", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=8)
    a = ap.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    mp.spawn(rank_main, args=(a, port, out), nprocs=a.nproc, join=True)
    print(json.dumps(out.get()))


if __name__ == "__main__":
    main()
