"""Service benchmark: ``--clients`` concurrent HTTP clients (default 8) send a fixed
number of ``POST /predict`` requests to the service on 127.0.0.1
(``python -m helpers serve`` in its own process), against ``predict_video`` called in a loop in
this process on the same clip with the same model, runtime and PyTorch threads (so the
same cores are busy; the service has ``--workers`` models, default 1).

The loop and the service run in interleaved rounds (``--rounds``): each service round
is divided by the mean of the loops just before and after it, and the median of those
ratios is ``throughput_vs_inprocess`` so that load from other processes weighs on both alike; the load average is
printed, and where the CPU went per request in the median service round (the service's
HTTP process, its worker processes, the clients) with how busy the workers were. Bounded:
``--requests`` per phase and ``--timeout-s`` for the whole run.

Threads: the loop and each worker use ``--threads`` PyTorch threads (default 1). On
a 2-core machine that other processes keep busy, two OpenMP threads in one loop wait on
each other at every kernel (figures in benchmarks/RESULTS.md), so
a 2-thread reference would flatter the service for the wrong reason.

Model: ``--checkpoint`` or, by default, the smoke model the tests train (a few seconds,
in a temporary folder). Clip: a generated 320×240 h264 MP4 of ``--seconds`` seconds.

Last line, one object::

    {"benchmark": "serve", "requests_per_s", "p50_ms", "p95_ms", "errors", "throughput_vs_inprocess", ...}

Goal: 0 errors, throughput ≥ 0.9× the in-process loop.
Run: ``python benchmarks/serve.py [--requests 96] [--rounds 9] [--clients 8] [--workers 1] [--runtime torch]``.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT, ROOT / "tests"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))


def load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def in_process(clip: Path, predictor, n: int, deadline: float) -> float:
    """Predictions per second of ``predict_video`` in a loop (at most ``n`` calls)."""
    from helpers.inference import predict_video

    done, t0 = 0, time.perf_counter()
    while done < n and time.monotonic() < deadline:
        predict_video(clip, model=predictor, keep_frames=False)
        done += 1
    return done / (time.perf_counter() - t0)


def cpu_seconds(pid: int) -> dict[str, float]:
    """CPU seconds (user + system) so far of the service process (``http``: uvicorn, the
    uploads, the answers), its worker processes (``workers``) and this process (``clients``)."""
    import psutil

    def used(proc: psutil.Process) -> float:
        t = proc.cpu_times()
        return t.user + t.system

    service = psutil.Process(pid)
    return {"http": used(service), "workers": sum(used(c) for c in service.children(recursive=True)),
            "clients": used(psutil.Process())}


def over_http(url: str, clip: Path, n: int, clients: int, deadline: float, runtime: str,
              service_pid: int | None = None) -> dict:
    """``n`` requests from ``clients`` threads (each its own connection); latencies in ms;
    with ``service_pid``, the CPU milliseconds per request of each side and how busy the
    workers were (CPU seconds per wall second)."""
    import requests

    data = clip.read_bytes()
    lock = threading.Lock()
    remaining = [n]
    latencies: list[float] = []
    errors: list[str] = []

    def client() -> None:
        with requests.Session() as session:
            while time.monotonic() < deadline:
                with lock:
                    if remaining[0] == 0:
                        return
                    remaining[0] -= 1
                t = time.perf_counter()
                try:
                    r = session.post(f"{url}/predict", files={"file": (clip.name, data, "video/mp4")},
                                     params={"runtime": runtime}, timeout=120)
                    ok = r.status_code == 200
                    reason = f"{r.status_code} {r.text[:100]}"
                except requests.RequestException as exc:
                    ok, reason = False, f"{type(exc).__name__}: {exc}"[:150]
                with lock:
                    (latencies.append((time.perf_counter() - t) * 1e3) if ok else errors.append(reason))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    cpu0 = cpu_seconds(service_pid) if service_pid else None
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    out = {"requests": len(latencies) + len(errors), "ok": len(latencies), "errors": len(errors),
           "error_samples": errors[:3], "wall_s": round(wall, 2), "requests_per_s": len(latencies) / wall,
           "p50_ms": percentile(latencies, 0.5) if latencies else None,
           "p95_ms": percentile(latencies, 0.95) if latencies else None, "unfinished": remaining[0]}
    if cpu0 is not None:
        cpu1 = cpu_seconds(service_pid)
        done = max(1, out["requests"])
        out["cpu_ms_per_request"] = {k: round((cpu1[k] - cpu0[k]) / done * 1e3, 2) for k in cpu0}
        out["workers_busy"] = round((cpu1["workers"] - cpu0["workers"]) / wall, 3)
    return out


@contextlib.contextmanager
def serve_process(checkpoint: str | Path, workers: int, queue: int, runtime: str, threads: int,
                  tmp: Path) -> Iterator[tuple[str, int]]:
    """``python -m helpers serve`` in its own process (as deployed: the clients here do
    not share its interpreter) on a free port of 127.0.0.1: its URL and process id;
    stopped with Ctrl-C."""
    env = {**os.environ, "TMPDIR": str(tmp)}  # its upload folder lives under this run's folder
    proc = subprocess.Popen([sys.executable, "-m", "helpers", "serve", "--checkpoint", str(checkpoint), "--port", "0",
                             "--workers", str(workers), "--queue", str(queue), "--runtime", runtime,
                             "--threads", str(threads), "--rl-sampler", "none"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()
        match = re.search(r"at (http://127\.0\.0\.1:\d+)", line)
        if not match:
            raise RuntimeError(f"the service did not start: {line!r}")
        yield match.group(1), proc.pid
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=96, help="requests per phase (default 96)")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=9, help="interleaved in-process / service rounds (median ratio)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--runtime", default="torch", choices=("auto", "torch", "onnxruntime"))
    ap.add_argument("--threads", type=int, default=1,
                    help="PyTorch threads of the loop and of each service worker (default 1: see the docstring)")
    ap.add_argument("--checkpoint", default=None, help="default: train the tests' smoke model in a temporary folder")
    ap.add_argument("--seconds", type=float, default=4.0, help="length of the generated 320x240 clip")
    ap.add_argument("--timeout-s", type=float, default=600.0, help="the whole run stops after this")
    args = ap.parse_args(argv)
    deadline = time.monotonic() + args.timeout_s

    import torch

    torch.set_num_threads(args.threads)
    from helpers.inference import load_predictor
    from video_factory import make_video

    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        tmp = Path(tmp)
        checkpoint = args.checkpoint
        if checkpoint is None:
            from smoke_model import build_smoke_model

            checkpoint = build_smoke_model(tmp / "smoke").checkpoint
        fps = 25
        clip = make_video(tmp / "clip.mp4", "mp4-h264", num_frames=int(args.seconds * fps), fps=fps, size=(320, 240))
        predictor = load_predictor(checkpoint, runtime=args.runtime)
        print(json.dumps({"phase": "setup", "checkpoint": str(checkpoint), "clip_bytes": clip.stat().st_size,
                          "torch_threads": torch.get_num_threads(), "runtime": predictor.runtime,
                          "load": load()}), flush=True)
        in_process(clip, predictor, 8, deadline)  # warm-up
        loops: list[float] = []
        runs: list[dict] = []
        with serve_process(checkpoint, args.workers, max(args.clients, 8), args.runtime, args.threads,
                           tmp) as (url, pid):
            over_http(url, clip, 2 * args.clients, args.clients, deadline, args.runtime)  # warm-up
            for _ in range(args.rounds):  # interleaved: load from other processes weighs on both alike
                loops.append(in_process(clip, predictor, args.requests, deadline))
                print(json.dumps({"phase": "in_process", "predictions_per_s": round(loops[-1], 2), "load": load()}),
                      flush=True)
                runs.append(over_http(url, clip, args.requests, args.clients, deadline, args.runtime, pid))
                print(json.dumps({"phase": "service", **{k: (round(v, 2) if isinstance(v, float) else v)
                                                         for k, v in runs[-1].items()}, "load": load()}), flush=True)
        loops.append(in_process(clip, predictor, args.requests, deadline))
        print(json.dumps({"phase": "in_process", "predictions_per_s": round(loops[-1], 2), "load": load()}), flush=True)
    http = sorted(runs, key=lambda r: r["requests_per_s"])[len(runs) // 2]  # the median round
    http["errors"] = sum(r["errors"] for r in runs)
    http["unfinished"] = sum(r["unfinished"] for r in runs)
    # each service round against the mean of the loops just before and after it (load drifts)
    ratios = [r["requests_per_s"] / ((loops[i] + loops[i + 1]) / 2) for i, r in enumerate(runs)]
    reference = statistics.median(loops)
    summary = {"benchmark": "serve", "requests_per_s": round(http["requests_per_s"], 2),
               "p50_ms": round(http["p50_ms"], 1) if http["p50_ms"] else None,
               "p95_ms": round(http["p95_ms"], 1) if http["p95_ms"] else None,
               "errors": http["errors"] + http["unfinished"],
               "throughput_vs_inprocess": round(statistics.median(ratios), 3),
               "round_ratios": [round(r, 3) for r in ratios],
               "cpu_ms_per_request": http.get("cpu_ms_per_request"), "workers_busy": http.get("workers_busy"),
               "inprocess_per_s": round(reference, 2), "clients": args.clients, "workers": args.workers,
               "requests": args.requests, "rounds": len(runs), "load": load()}
    print(json.dumps(summary), flush=True)
    return 0 if summary["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
