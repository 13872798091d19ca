"""Decoding benchmark: what a 16-frame training clip costs, per method.

Generates two 10-s clips with PyAV in a temporary folder — 320×240 mpeg4 AVI with
12-frame GOPs (HMDB51-like) and 1280×720 h264 MP4 (libx264 defaults: one keyframe
per 250 frames, B-frames) — and prints one JSON line per measurement, the median
over several runs, all resized to 128×171 RGB:

* ``naive_opencv``   the seed notebooks' way: OpenCV reads every frame, keeps 16;
* ``reader_<name>``  ``helpers.video.open_video(path, name).frames(16 uniform)``,
                     opening the file included, for each backend;
* ``cache_hit``      loading the saved uint8 clip (``helpers.datasets.cache.ClipCache``
                     when importable, else ``np.load`` of an .npy: see ``cache_impl``);
* ``whole_file``     PyAV decoding every frame with frame threading and no colour
                     conversion: the physical floor for a clip that needs every frame.

Methods run in interleaved rounds (one call each per round) so that load from other
processes on a shared machine affects them alike; the medians are over the rounds.

then the ratios measured in the same run, and last one summary line:
``{"benchmark": "decode", "speedup_vs_naive": …, "cache_speedup": …, "backend": …}``.
Run: ``python benchmarks/decode.py [--runs 7] [--quick]``.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from helpers.video import open_video  # noqa: E402
from helpers.video.reader import AUTO_ORDER, BACKENDS  # noqa: E402
from helpers.video.sampling import uniform_indices  # noqa: E402

SIZE = (128, 171)  # (H, W) torchvision's reference resize
CLIP_LEN = 16


def make_clip(path: Path, codec: str, width: int, height: int, seconds: float, fps: int, gop: int | None,
              options: dict[str, str]) -> Path:
    """A textured scene panning right with a moving square and light noise, so the
    encoder does real work (motion, residuals) as in real footage."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    base = cv2.resize(base, (width * 2, height), interpolation=cv2.INTER_LINEAR)
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=fps, options=options)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if gop:
            stream.codec_context.gop_size = gop
        n = int(seconds * fps)
        for i in range(n):
            x = (3 * i) % width
            img = base[:, x : x + width].copy()
            s = height // 4
            y0, x0 = (i * 5) % (height - s), (i * 7) % (width - s)
            img[y0 : y0 + s, x0 : x0 + s] = (255, 64, 32)
            img = cv2.add(img, rng.integers(0, 12, img.shape, dtype=np.uint8))
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def naive_opencv(path: Path) -> np.ndarray:
    """The seeds: read every frame with OpenCV, then keep 16 uniformly spaced."""
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    keep = uniform_indices(len(frames), CLIP_LEN)
    return np.stack([cv2.cvtColor(cv2.resize(frames[i], SIZE[::-1], interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
                     for i in keep])


def reader_clip(path: Path, backend: str) -> np.ndarray:
    with open_video(path, backend) as reader:
        return reader.frames(uniform_indices(reader.metadata.num_frames, CLIP_LEN), size=SIZE)


def whole_file(path: Path) -> int:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        return sum(1 for _ in container.decode(stream))


def cache_loader(folder: Path, path: Path, clip: np.ndarray):
    """A function that performs one cache hit, and which cache it uses."""
    indices = uniform_indices(len(clip), CLIP_LEN)  # any fixed key material
    try:
        from helpers.datasets.cache import ClipCache

        cache = ClipCache(folder / "clip-cache")
        key = cache.key(path, indices, SIZE)
        cache.put(key, clip)

        def hit() -> np.ndarray:
            array = cache.get(cache.key(path, indices, SIZE))
            assert array is not None
            return array

        return hit, "helpers.datasets.cache.ClipCache"
    except ImportError:
        target = folder / f"{path.stem}.npy"
        np.save(target, clip)
        return (lambda: np.load(target)), "np.load stand-in (helpers.datasets.cache not importable)"


def interleaved_medians(methods: dict[str, tuple[object, int]]) -> dict[str, float]:
    """Median wall ms per method; methods take turns round by round so a load spike
    from other processes on a shared machine hits all of them alike. ``methods``
    maps name -> (function, calls per round)."""
    for fn, _ in methods.values():
        fn()  # warm-up: imports, page cache, codec init
    times: dict[str, list[float]] = {name: [] for name in methods}
    for _ in range(ROUNDS[0]):
        for name, (fn, calls) in methods.items():
            for _ in range(calls):
                t = time.perf_counter()
                fn()
                times[name].append((time.perf_counter() - t) * 1e3)
    return {name: statistics.median(values) for name, values in times.items()}


ROUNDS = [7]


def emit(record: dict) -> None:
    print(json.dumps(record), flush=True)


def bench_clip(name: str, path: Path, runs: int, folder: Path) -> dict[str, float]:
    hit, impl = cache_loader(folder, path, reader_clip(path, AUTO_ORDER[0]))
    methods = {"naive_opencv": (lambda: naive_opencv(path), 1)}
    methods.update({f"reader_{b}": ((lambda b=b: reader_clip(path, b)), 1) for b in BACKENDS})
    methods["cache_hit"] = (hit, 5)
    methods["whole_file"] = (lambda: whole_file(path), 1)
    res = interleaved_medians(methods)
    with open_video(path) as reader:
        meta = reader.metadata
    for method, ms in res.items():
        record = {"benchmark": "decode", "clip": name, "method": method, "median_ms": round(ms, 3), "frames": CLIP_LEN,
                  "size": list(SIZE), "video": f"{meta.width}x{meta.height} {meta.video_codec} {meta.num_frames} frames"}
        if method == "cache_hit":
            record["cache_impl"] = impl
        emit(record)
    best = min(BACKENDS, key=lambda b: res[f"reader_{b}"])
    reader_ms = res[f"reader_{best}"]
    emit({"benchmark": "decode", "clip": name, "fastest_backend": best,
          "naive_over_reader": round(res["naive_opencv"] / reader_ms, 2),
          "reader_over_cache": round(reader_ms / res["cache_hit"], 2),
          "reader_over_whole_file": round(reader_ms / res["whole_file"], 3),
          **{f"naive_over_reader_{b}": round(res["naive_opencv"] / res[f"reader_{b}"], 2) for b in BACKENDS}})
    return {**res, "best": best, "reader_ms": reader_ms}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--quick", action="store_true", help="3-s clips, 3 runs (smoke)")
    args = p.parse_args(argv)
    if args.quick:
        args.runs, args.seconds = 3, 3.0
    with tempfile.TemporaryDirectory(prefix="decode-bench-") as tmp:
        folder = Path(tmp)
        clips = {
            "320x240_mpeg4_avi_gop12": make_clip(folder / "hmdb_like.avi", "mpeg4", 320, 240, args.seconds, 30, 12,
                                                 {"qscale": "3"}),
            "1280x720_h264_mp4": make_clip(folder / "hd.mp4", "libx264", 1280, 720, args.seconds, 30, None,
                                           {"preset": "veryfast", "crf": "23"}),
        }
        ROUNDS[0] = args.runs
        results = {name: bench_clip(name, path, args.runs, folder) for name, path in clips.items()}
    small, hd = results["320x240_mpeg4_avi_gop12"], results["1280x720_h264_mp4"]
    auto = AUTO_ORDER[0]
    emit({
        "benchmark": "decode",
        "speedup_vs_naive": round(small["naive_opencv"] / small[f"reader_{auto}"], 2),
        "cache_speedup": round(small[f"reader_{auto}"] / small["cache_hit"], 2),
        "hd_reader_over_whole_file": round(hd[f"reader_{auto}"] / hd["whole_file"], 3),
        "hd_speedup_vs_naive": round(hd["naive_opencv"] / hd[f"reader_{auto}"], 2),
        "backend": auto,
        "fastest_measured": {"320x240": small["best"], "1280x720": hd["best"]},
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
