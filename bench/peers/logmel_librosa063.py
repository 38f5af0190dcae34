#!/usr/bin/python3
"""librosa 0.6.3's log-mel per clip on one core, the peer of bench_logmel's
BM_LogMelPerClip_Esc50Mini: the same clips (DATA_DIR/audio/*.wav), decoded
beforehand, then melspectrogram (n_fft 2048, hop 512, 128 bands) and the log,
timed in process CPU seconds over every clip.

Usage: PYTHONPATH=../shared/peers/librosa-0.6.3:../shared/peers/stubs \
         /usr/bin/python3 bench/peers/logmel_librosa063.py DATA_DIR [MIN_SECONDS]
Prints "ms_per_clip: X" (float32 input, as our kernel takes) and
"ms_per_clip_float64: Y" (the original's int16-scale float64 input).
"""
import glob
import os
import sys
import time

import numpy as np
import soundfile
import librosa


def per_clip_ms(clips, min_seconds):
    for x in clips[:2]:  # warm-up: numba, FFT plans
        np.log(np.maximum(librosa.feature.melspectrogram(y=x, sr=44100), 1e-10))
    n, start = 0, time.process_time()
    while True:
        for x in clips:
            np.log(np.maximum(librosa.feature.melspectrogram(y=x, sr=44100), 1e-10))
            n += 1
        if time.process_time() - start >= min_seconds:
            return 1e3 * (time.process_time() - start) / n


def main():
    data = sys.argv[1]
    min_seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 3.0
    paths = sorted(glob.glob(os.path.join(data, "audio", "*.wav")))
    clips = []
    for p in paths:
        x, sr = soundfile.read(p, dtype="float32", always_2d=True)
        if sr != 44100:
            continue
        x = x.mean(axis=1)[: 5 * 44100]
        clips.append(np.pad(x, (0, 5 * 44100 - len(x))))
    print(f"clips: {len(clips)}")
    print(f"ms_per_clip: {per_clip_ms(clips, min_seconds):.3f}")
    print(f"ms_per_clip_float64: {per_clip_ms([(c * 32768.0).astype(np.float64) for c in clips], min_seconds):.3f}")


if __name__ == "__main__":
    main()
