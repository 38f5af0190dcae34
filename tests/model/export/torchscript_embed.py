"""Runs an exported TorchScript model in PyTorch (the check that PyTorch itself
opens what `oneshot-audio export --format torchscript` writes).

Usage: torchscript_embed.py MODEL INPUT B,1,M,T OUTPUT
INPUT: raw float32 log-mel (B, 1, M, T). Writes OUTPUT: the embeddings (B, D),
and OUTPUT.scores: model.score(embeddings, embeddings) (B, B), raw float32.
Prints the model card stored inside the file.
"""
import sys

import torch

model_path, input_path, shape, output_path = sys.argv[1:5]
extra = {"model_card.json": ""}
model = torch.jit.load(model_path, _extra_files=extra)
with open(input_path, "rb") as f:
    x = torch.frombuffer(bytearray(f.read()), dtype=torch.float32)
x = x.reshape([int(n) for n in shape.split(",")])
with torch.no_grad():
    e = model(x)
    s = model.score(e, e)
with open(output_path, "wb") as f:
    f.write(e.contiguous().numpy().tobytes())
with open(output_path + ".scores", "wb") as f:
    f.write(s.contiguous().numpy().tobytes())
print(extra["model_card.json"])
