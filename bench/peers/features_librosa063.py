#!/usr/bin/python3
"""The original project's feature step, as it ran: one process reads every clip
with scipy.io.wavfile, computes librosa 0.6.3's melspectrogram on the int16-scale
samples (n_fft 2048, hop 512, 128 bands: librosa's defaults), takes np.log where
the value is non-zero, stacks all clips and saves them with np.save.

Usage (Debian's Python, librosa 0.6.3 from ../shared/peers; see README.md):
  PYTHONPATH=../shared/peers/librosa-0.6.3:../shared/peers/stubs \
    /usr/bin/python3 bench/peers/features_librosa063.py DATA_DIR OUT.npy

DATA_DIR is in the ESC-50 layout (meta/esc50.csv, audio/*.wav); every row is used.
Prints the clip count and the seconds spent after the imports.
"""
import csv
import os
import sys
import time

import numpy as np
import scipy.io.wavfile
import librosa


def main():
    data, out = sys.argv[1], sys.argv[2]
    start = time.perf_counter()
    with open(os.path.join(data, "meta", "esc50.csv"), newline="") as f:
        names = [row["filename"] for row in csv.DictReader(f)]
    features = []
    for name in names:
        fs, x = scipy.io.wavfile.read(os.path.join(data, "audio", name))
        s = librosa.feature.melspectrogram(y=x.astype(np.float64), sr=fs)
        log = np.zeros_like(s)
        np.log(s, out=log, where=s != 0)
        features.append(log)
    np.save(out, np.stack(features))
    print(f"clips: {len(names)}")
    print(f"seconds after imports: {time.perf_counter() - start:.3f}")


if __name__ == "__main__":
    main()
