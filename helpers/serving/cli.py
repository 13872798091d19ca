"""``python -m helpers serve [--checkpoint PATH] [--host 127.0.0.1] [--port 8000]
[--workers N] [--queue N] [--max-upload-mb 300] [--runtime auto|torch|onnxruntime]
[--rl-sampler PATH|auto|none] [--with-sound PATH|auto|none]``.

Serves the model until Ctrl-C (see :mod:`helpers.serving`). ``--workers N``: N worker
processes, each with the model loaded once; PyTorch's threads are divided among them
(``--threads`` overrides: threads per worker). Exit codes: 0 after Ctrl-C, 1 the address
cannot be used or the checkpoint is damaged, 2 usage error, 3 no checkpoint yet.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

RUNTIMES = ("auto", "torch", "onnxruntime")  # helpers.serving.app.RUNTIME_CHOICES, without importing torch for --help


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m helpers serve",
                                description="Serve the action model over HTTP (FastAPI): POST /predict, GET /health, "
                                            "GET /model, docs at /docs.")
    p.add_argument("--checkpoint", default=None,
                   help="a model file: a training checkpoint or any file notebook 06 wrote "
                        "(default: the active data's MoE)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: a free one)")
    p.add_argument("--workers", type=int, default=1, help="worker processes, each with the model loaded once (default 1)")
    p.add_argument("--queue", type=int, default=16, help="requests that may wait for a worker; more get 503 (default 16)")
    p.add_argument("--max-upload-mb", type=float, default=300, help="largest upload in MiB (default 300)")
    p.add_argument("--runtime", default="auto", choices=RUNTIMES, help="default runtime (a request may ask for another)")
    p.add_argument("--device", default=None, help="cpu, cuda, mps (default: settings.pick_device)")
    p.add_argument("--threads", type=int, default=None, help="PyTorch threads per worker (default: cores / workers)")
    p.add_argument("--rl-sampler", default="auto", metavar="PATH|auto|none",
                   help="RL sampler for sampler=rl requests (default auto: the newest saved one)")
    p.add_argument("--with-sound", default="auto", metavar="PATH|auto|none",
                   help="multi-modal model that answers clips with sound (default auto: the one notebook 04 "
                        "trained, when the main model is video-only)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.workers < 1 or args.queue < 0 or args.max_upload_mb <= 0 or not 0 <= args.port < 65536:
        print("serve: --workers ≥ 1, --queue ≥ 0, --max-upload-mb > 0 and a port 0-65535, please", file=sys.stderr)
        return 2
    from helpers.inference.predictor import InferenceError, NoCheckpointError
    from helpers.serving.app import ServiceConfig
    from helpers.serving.server import Service

    config = ServiceConfig(checkpoint=args.checkpoint, workers=args.workers, queue_size=args.queue,
                           max_upload_bytes=int(args.max_upload_mb * 2**20), runtime=args.runtime,
                           device=args.device, rl_sampler=None if args.rl_sampler == "none" else args.rl_sampler,
                           with_sound=None if args.with_sound == "none" else args.with_sound,
                           threads=args.threads or (max(1, (os.cpu_count() or 1) // args.workers)
                                                    if args.workers > 1 else None))
    try:
        service = Service(config, args.host, args.port, log_level="info")
    except NoCheckpointError as exc:
        print(f"serve: {exc}", file=sys.stderr)
        return 3
    except (InferenceError, OSError) as exc:
        print(f"serve: {exc}", file=sys.stderr)
        return 1
    info = service.state.pool.models[0].describe()
    print(f"serving {info['name']} ({info['num_classes']} classes, {info['runtime']} on {info['device']}, "
          f"{args.workers} worker(s)) at {service.url} — docs at {service.url}/docs (Ctrl-C to stop)", flush=True)
    try:
        service.server.run(sockets=[service._sock])  # the foreground: uvicorn handles Ctrl-C
    except KeyboardInterrupt:
        pass
    finally:
        service.stop()
    return 0
