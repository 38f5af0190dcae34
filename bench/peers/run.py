#!/usr/bin/python3
"""Runs oneshot-audio and its peers back to back on this machine and prints
each figure, its peer's, the ratio, the CPU model and the command. The only
source of the speed ratios in the README: a ratio is printed only where its
peer ran in the same run; where a peer cannot run, the figure stands alone.

  bench/peers/run.py [--build build] [--data ../shared/data/esc50-dev] [--threads 2]
                     [--only startup,features,logmel,model] [--repeat 3] [--json OUT.json]

Sections:
  startup   wall time to run each command (median of 15): the front end
            (build/oneshot-audio) against oneshot-audio-model, which loads
            LibTorch as every command did before the front end existed.
  features  the whole feature step on DATA (ESC-50 layout), warm file cache,
            both writing their result to disk: ours (`oneshot-audio features
            --jobs THREADS`, a fresh --cache each run) against the original's
            step in one process (bench/peers/features_librosa063.py, librosa
            0.6.3), and ours against its floor (431 single 2048-point fftw3f
            transforms a clip, bench_logmel's BM_SingleFftwfTransform2048).
  logmel    CPU ms per clip on one core, the same real clips decoded beforehand:
            bench_logmel's BM_LogMelPerClip_Esc50Mini against librosa 0.6.3's
            melspectrogram + log (bench/peers/logmel_librosa063.py, one BLAS thread).
  model     clips/s of a training step (32 clips) and of inference (batches of
            32), original and compact encoders, THREADS threads: bench_model
            against the same model in PyTorch (bench/peers/model_torch.py),
            stock and with tcmalloc preloaded + channels-last.

Peers need Debian's python3 with python3-torch, python3-numpy, python3-scipy,
python3-numba, python3-soundfile, python3-audioread, python3-joblib,
python3-decorator, and librosa 0.6.3 from ../shared/peers (see its README.md).
Run it under the CPU lock on a quiet machine: flock /tmp/oneshot-cpu.lock bench/peers/run.py
"""
import argparse
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PYTHON = "/usr/bin/python3"  # Debian's, with python3-torch and librosa's dependencies
TCMALLOC_CANDIDATES = ["/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4",
                       "/usr/lib/aarch64-linux-gnu/libtcmalloc_minimal.so.4"]

results = []  # every printed row, for --json


def log(text=""):
    print(text, flush=True)


def cpu_description():
    fields = {}
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            k, _, v = line.partition(":")
            fields[k.strip()] = v.strip()
    except OSError:
        pass
    flags = fields.get("Flags", "").split()
    isa = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    return (f"{fields.get('Model name', '?')} (family {fields.get('CPU family', '?')} model {fields.get('Model', '?')}), "
            f"{os.cpu_count()} CPUs, {' '.join(isa) or 'no AVX2'}")


def timed(cmd, env=None, cwd=ROOT):
    """Runs cmd; returns (wall s, user+sys CPU s, exit status, output)."""
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        try:
            p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        except OSError as e:  # not built, or being relinked right now
            return 0.0, 0.0, 127, f"{cmd[0]}: {e}"
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - start
        out.seek(0)
        text = out.read().decode(errors="replace")
    return wall, usage.ru_utime + usage.ru_stime, os.waitstatus_to_exitcode(status), text


def show(cmd, env_extra=None):
    prefix = " ".join(f"{k}={v}" for k, v in (env_extra or {}).items())
    return (prefix + " " if prefix else "") + " ".join(shlex.quote(c) for c in cmd)


def row(section, figure, ours, peer, unit, ratio_of, ours_cmd, peer_cmd, peer_name, note=""):
    """One figure: ours, the peer's (or None), and the ratio when both exist.
    ratio_of: 'peer/ours' (ours faster when > 1) or 'ours/peer'."""
    ratio = None
    if ours is not None and peer is not None and ours > 0 and peer > 0:
        ratio = peer / ours if ratio_of == "peer/ours" else ours / peer
    fmt = (lambda v: "—" if v is None else f"{v:.4g} {unit}")
    log(f"  {figure}")
    log(f"      ours {fmt(ours)}   {peer_name} {fmt(peer)}   "
        + (f"ratio ({ratio_of}) {ratio:.2f}x" if ratio is not None else "no ratio (peer did not run)")
        + (f"   [{note}]" if note else ""))
    log(f"      ours: {ours_cmd}")
    log(f"      peer: {peer_cmd}")
    results.append(dict(section=section, figure=figure, ours=ours, peer=peer, unit=unit, ratio=ratio,
                        ratio_of=ratio_of, peer_name=peer_name, ours_command=ours_cmd, peer_command=peer_cmd,
                        note=note))


def librosa_env():
    env = dict(os.environ)
    shared = os.path.join(os.path.dirname(ROOT), "shared", "peers")
    env["PYTHONPATH"] = f"{shared}/librosa-0.6.3:{shared}/stubs"
    return env, {"PYTHONPATH": env["PYTHONPATH"]}


def peer_available(env, module):
    return subprocess.run([PYTHON, "-c", f"import {module}"], env=env, capture_output=True).returncode == 0


# --- start-up ---------------------------------------------------------------

def section_startup(a):
    front, model = os.path.join(a.build, "oneshot-audio"), os.path.join(a.build, "oneshot-audio-model")
    log("\n== Start-up: wall time per command, median of 15 runs (peer: oneshot-audio-model, which loads LibTorch,"
        " as every command did before the front end)")
    listed = timed([front, "--help"])[3]
    commands = [["--version"], ["--help"], ["logmel", "--help"], ["features", "--help"], ["tune-report", "--help"]]
    commands += [[c, "--help"] for c in ("library", "score-events") if re.search(rf"^\s+{c}\s", listed, re.M)]
    commands += [["train", "--help"], ["demo", "--help"]]  # model commands: handed over
    for args in commands:
        def median_ms(exe):
            timed([exe] + args)  # warm the page cache
            runs = [timed([exe] + args) for _ in range(15)]
            if any(r[2] != 0 for r in runs):
                return None
            return 1e3 * statistics.median(r[0] for r in runs)
        ours, peer = median_ms(front), median_ms(model)
        handed = args[0] in ("train", "demo")
        row("startup", " ".join(args) + (" (handed over)" if handed else ""), ours, peer, "ms",
            "ours/peer" if handed else "peer/ours", show([front] + args), show([model] + args),
            "oneshot-audio-model", "hand-over overhead" if handed else "")


# --- the feature step -------------------------------------------------------

def benchmark_json(cmd, env=None):
    wall, cpu, status, text = timed(cmd, env)
    if status != 0:
        return None, text
    start = text.find("{")
    try:
        return json.loads(text[start:]), text
    except ValueError:
        return None, text


def fft_floor_ms(a):
    exe = os.path.join(a.build, "bench_logmel")
    if not os.path.exists(exe):
        return None, f"{exe} (not built: scripts/test.sh builds it)"
    cmd = [exe, "--benchmark_filter=^BM_SingleFftwfTransform2048$", "--benchmark_format=json"]
    data, _ = benchmark_json(cmd)
    if not data:
        return None, show(cmd)
    return data["benchmarks"][0]["ms_for_431"], show(cmd)


def warm_file_cache(data):
    for d, _, files in os.walk(data):
        for f in files:
            with open(os.path.join(d, f), "rb") as fh:
                while fh.read(1 << 20):
                    pass


def section_features(a):
    data = os.path.abspath(a.data)
    n_clips = sum(1 for f in os.listdir(os.path.join(data, "audio")) if f.endswith(".wav"))
    log(f"\n== Feature step: {n_clips} clips of {data}, warm file cache, both writing to disk; "
        f"median of {a.repeat} runs")
    warm_file_cache(data)
    tmp = tempfile.mkdtemp(prefix="oneshot-peers-")
    try:
        cache = os.path.join(tmp, "cache")
        ours_cmd = [os.path.join(a.build, "oneshot-audio"), "features", "--data", data, "--cache", cache,
                    "--jobs", str(a.threads)]
        ours_runs = []
        for _ in range(a.repeat):
            shutil.rmtree(cache, ignore_errors=True)
            wall, cpu, status, text = timed(ours_cmd)
            if status != 0 or "rebuilt: yes" not in text:
                log("  ours failed:\n" + text)
                ours_runs = []
                break
            ours_runs.append((wall, cpu))
        ours_wall = statistics.median(r[0] for r in ours_runs) if ours_runs else None
        ours_cpu = statistics.median(r[1] for r in ours_runs) if ours_runs else None

        env, shown_env = librosa_env()
        peer_cmd = [PYTHON, os.path.join(HERE, "features_librosa063.py"), data, os.path.join(tmp, "original.npy")]
        peer_wall = None
        if peer_available(env, "librosa") and peer_available(env, "scipy.io.wavfile"):
            runs = []
            for _ in range(a.repeat):
                wall, cpu, status, text = timed(peer_cmd, env)
                if status != 0:
                    log("  peer failed:\n" + text[-2000:])
                    runs = []
                    break
                m = re.search(r"seconds after imports: ([0-9.]+)", text)
                runs.append((wall, float(m.group(1)) if m else None))
            peer_wall = statistics.median(r[0] for r in runs) if runs else None
            if runs and all(r[1] is not None for r in runs):
                log(f"      the original's step after Python's start-up and imports: "
                    f"{statistics.median(r[1] for r in runs):.3f} s (median)")
        else:
            log("  peer cannot run: librosa 0.6.3 or its Debian dependencies are missing (see bench/peers/run.py)")
        row("features", f"feature step, wall s ({a.threads} threads vs the original's one process)", ours_wall,
            peer_wall, "s", "peer/ours", show(ours_cmd), show(peer_cmd, shown_env), "original (librosa 0.6.3)")
        if ours_cpu is not None:
            log(f"      ours CPU (user + sys): {ours_cpu:.3f} s = {1e3 * ours_cpu / n_clips:.3f} ms a clip")

        floor_ms, floor_cmd = fft_floor_ms(a)
        row("features", "feature step CPU ms a clip against the floor (431 single 2048-point FFTs a clip)",
            1e3 * ours_cpu / n_clips if ours_cpu else None, floor_ms, "ms", "ours/peer", show(ours_cmd), floor_cmd,
            "FFT floor", "ours/floor: how many FFT floors one clip costs")
        if floor_ms and ours_wall:
            floor_wall = n_clips * floor_ms / 1e3 / a.threads
            row("features", f"feature step wall s against the floor's wall on {a.threads} cores", ours_wall,
                floor_wall, "s", "ours/peer", show(ours_cmd), floor_cmd, "FFT floor",
                f"floor = {n_clips} clips x {floor_ms:.3f} ms / {a.threads} cores")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --- log-mel per clip -------------------------------------------------------

def section_logmel(a):
    data = os.path.abspath(a.data)
    log("\n== Log-mel per clip: CPU ms on one core, the same real clips decoded beforehand (float32)")
    exe = os.path.join(a.build, "bench_logmel")
    ours = None
    ours_cmd = [exe, "--benchmark_filter=^BM_LogMelPerClip_Esc50Mini(/|$)", "--benchmark_format=json"]
    ours_env = dict(os.environ, ONESHOT_ESC50_MINI=data)
    if os.path.exists(exe):
        d, text = benchmark_json(ours_cmd, ours_env)
        if d and "ms_per_clip" in d["benchmarks"][0]:
            ours = d["benchmarks"][0]["ms_per_clip"]
        else:
            log("  ours failed:\n" + text[-2000:])
    env, shown_env = librosa_env()
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    shown_env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    peer_cmd = [PYTHON, os.path.join(HERE, "logmel_librosa063.py"), data, "3"]
    peer = None
    if peer_available(env, "librosa") and peer_available(env, "soundfile"):
        wall, cpu, status, text = timed(peer_cmd, env)
        m = re.search(r"^ms_per_clip: ([0-9.]+)", text, re.M)
        peer = float(m.group(1)) if status == 0 and m else None
        if peer is None:
            log("  peer failed:\n" + text[-2000:])
    row("logmel", "log-mel of one 5 s 44.1 kHz clip, CPU ms", ours, peer, "ms", "peer/ours",
        show(ours_cmd, {"ONESHOT_ESC50_MINI": data}), show(peer_cmd, shown_env), "librosa 0.6.3")


# --- the model --------------------------------------------------------------

def section_model(a):
    t = a.threads
    log(f"\n== Model: clips/s at 128 x 431, fp32, {t} threads (ours: bench_model; peers: the same model in PyTorch "
        f"{torch_version()}, stock, and with tcmalloc preloaded + channels-last)")
    exe = os.path.join(a.build, "bench_model")
    ours = {}
    ours_cmd = [exe, f"--benchmark_filter=^BM_(TrainInBatch|Embed|CompactTrain|CompactEmbed)/threads:{t}/"
                     f"channels_last:[01]/bf16:0", "--benchmark_format=json"]
    if os.path.exists(exe):
        d, text = benchmark_json(ours_cmd)
        for b in (d or {}).get("benchmarks", []):
            m = re.match(r"BM_(\w+)/threads:\d+/channels_last:(\d)", b["name"])
            if m and "clips/s" in b:
                ours[(m.group(1), m.group(2) == "1")] = b["clips/s"]
        if not d:
            log("  ours failed:\n" + text[-2000:])
    tcmalloc = next((p for p in TCMALLOC_CANDIDATES if os.path.exists(p)), None)
    have_torch = peer_available(dict(os.environ), "torch")
    if not have_torch:
        log("  peers cannot run: Debian's python3-torch is not installed")
    cases = [("original", "train", "TrainInBatch", "original encoder, training step (32 clips, 496 pairs)"),
             ("compact", "train", "CompactTrain", "compact encoder, training step (32 clips, prototypical)"),
             ("original", "embed", "Embed", "original encoder, inference (batches of 32)"),
             ("compact", "embed", "CompactEmbed", "compact encoder, inference (batches of 32)")]
    for arch, mode, bench, title in cases:
        peer_base = [PYTHON, os.path.join(HERE, "model_torch.py"), "--arch", arch, "--mode", mode, "--threads", str(t)]
        figures = {}
        for name, extra, env_extra in [("PyTorch stock", [], {}),
                                       ("PyTorch tcmalloc+channels-last", ["--channels-last"],
                                        {"LD_PRELOAD": tcmalloc} if tcmalloc else None)]:
            cmd = peer_base + extra
            figures[name] = (None, show(cmd, env_extra))
            if not have_torch or env_extra is None:
                continue
            wall, cpu, status, text = timed(cmd, dict(os.environ, **env_extra))
            try:
                figures[name] = (json.loads(text.strip().splitlines()[-1])["clips_per_s"], show(cmd, env_extra))
            except (ValueError, IndexError, KeyError):
                log(f"  {name} failed:\n" + text[-2000:])
        ours_cl, ours_nchw = ours.get((bench, True)), ours.get((bench, False))
        for name, (peer, peer_cmd) in figures.items():
            row("model", f"{title}: ours channels-last (as the CLI runs) vs {name}", ours_cl, peer, "clips/s",
                "ours/peer", show(ours_cmd), peer_cmd, name,
                f"ours NCHW {ours_nchw:.4g} clips/s" if ours_nchw else "")


def torch_version():
    try:
        return subprocess.run([PYTHON, "-c", "import torch; print(torch.__version__)"], capture_output=True,
                              text=True).stdout.strip() or "?"
    except OSError:
        return "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--data", default=os.path.join(os.path.dirname(ROOT), "shared", "data", "esc50-dev"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", default="startup,features,logmel,model")
    ap.add_argument("--json", help="also write every row to this JSON file")
    a = ap.parse_args()
    a.build = os.path.abspath(a.build)
    log(f"CPU: {cpu_description()}")
    log(f"load average at start: {os.getloadavg()[0]:.2f}; {time.strftime('%Y-%m-%d %H:%M')}; "
        f"commit {subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=ROOT, capture_output=True, text=True).stdout.strip()}")
    sections = {"startup": section_startup, "features": section_features, "logmel": section_logmel,
                "model": section_model}
    for name in a.only.split(","):
        if name not in sections:
            sys.exit(f"unknown section {name!r} (one of {', '.join(sections)})")
        if name in ("features", "logmel") and not os.path.isdir(os.path.join(a.data, "audio")):
            log(f"\n== {name}: skipped, {a.data}/audio not present")
            continue
        sections[name](a)
    log(f"\nload average at end: {os.getloadavg()[0]:.2f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"cpu": cpu_description(), "rows": results}, f, indent=1)


if __name__ == "__main__":
    main()
