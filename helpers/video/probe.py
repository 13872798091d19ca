"""``python -m helpers probe VIDEO [--frames N] [--backend B]``: can the pipeline read this file?

Prints one JSON object: the metadata (from the headers), the backend that opened
the file, the N uniformly sampled frame indices it decoded, their array shape and
the time taken. On failure prints ``probe: <path>: <reason>`` and exits 1.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence

from helpers.video.reader import BACKENDS, DEFAULT_MAX_PIXELS, VideoDecodeError, open_video
from helpers.video.sampling import uniform_indices


def _size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected HxW, e.g. 128x171, got {text!r}") from exc
    return h, w


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m helpers probe", description=__doc__.splitlines()[0])
    p.add_argument("video", help="path of the video file")
    p.add_argument("--frames", type=int, default=16, help="frames to decode, uniformly sampled (default 16)")
    p.add_argument("--backend", choices=(*BACKENDS, "auto"), default="auto")
    p.add_argument("--size", type=_size, default=None, help="resize to HxW while decoding, e.g. 128x171")
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help="refuse larger frames")
    return p


def probe(video: str, frames: int = 16, backend: str = "auto", size=None, max_pixels: int = DEFAULT_MAX_PIXELS) -> dict:
    """Open ``video``, decode ``frames`` uniform frames; the report as a dict."""
    t0 = time.perf_counter()
    with open_video(video, backend, max_pixels=max_pixels) as reader:
        t1 = time.perf_counter()
        meta = reader.metadata
        indices = uniform_indices(meta.num_frames, frames) if frames > 0 else []
        clip = reader.frames(indices, size=size)
        t2 = time.perf_counter()
    return {
        "metadata": meta.to_dict(),
        "backend": meta.backend,
        "indices": [int(i) for i in indices],
        "shape": list(clip.shape),
        "open_ms": round((t1 - t0) * 1e3, 2),
        "decode_ms": round((t2 - t1) * 1e3, 2),
    }


def _quiet_opencv() -> None:
    """Keep stderr to our one-line reason: OpenCV warns on every file it cannot open."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    try:
        import cv2

        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    except (ImportError, AttributeError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _quiet_opencv()
    if args.frames < 0:
        print("probe: --frames must be >= 0", file=sys.stderr)
        return 2
    try:
        report = probe(args.video, args.frames, args.backend, args.size, args.max_pixels)
    except VideoDecodeError as exc:
        print(f"probe: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
