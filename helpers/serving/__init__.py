"""The model as an HTTP service: ``python -m helpers serve`` (FastAPI + uvicorn).

    from helpers.serving import start_service
    service = start_service()                 # the default checkpoint, a free port on 127.0.0.1
    requests.post(service.url + "/predict", files={"file": open("clip.mp4", "rb")}).json()
    service.stop()

One job per module: :mod:`~helpers.serving.errors` (what a bad request is told),
:mod:`~helpers.serving.uploads` (a multipart upload streamed to a temporary file under a
size limit), :mod:`~helpers.serving.pool` (the loaded models and the bounded queue),
:mod:`~helpers.serving.worker` (one model's prediction as JSON),
:mod:`~helpers.serving.process` (a worker in a process of its own),
:mod:`~helpers.serving.app` (the FastAPI routes), :mod:`~helpers.serving.server`
(uvicorn in a background thread), :mod:`~helpers.serving.cli` (the command).
Predictions are :func:`helpers.inference.predict_video`, as in the widget and the CLI.
"""
from __future__ import annotations

from helpers._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "ServiceConfig": "app", "create_app": "app",
    "ModelPool": "pool", "PoolFull": "pool",
    "ServiceError": "errors",
    "Service": "server", "start_service": "server",
    "main": "cli",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS, globals())
