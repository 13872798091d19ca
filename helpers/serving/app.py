"""The FastAPI application: ``POST /predict``, ``GET /health``, ``GET /model`` (and
FastAPI's ``/docs`` and ``/openapi.json``).

A request to ``/predict`` is admitted (or refused with 503 and ``Retry-After``), its
upload streamed to a temporary file in the service's folder (:mod:`.uploads`), the
prediction run on a worker's own model (:mod:`.pool`, :mod:`.worker`), and the file
deleted before the answer leaves. Every refusal is JSON ``{"error", "message"}`` with a
4xx status (:mod:`.errors`); an unexpected failure is a 500 of the same shape and the
service keeps running.
"""
from __future__ import annotations

import logging
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, Query, Request  # module level: the routes' annotations name them
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect

from helpers.serving.errors import BUSY, INTERNAL, INVALID, ServiceError, short

logger = logging.getLogger(__name__)

DEFAULT_MAX_UPLOAD_BYTES = 300 * 2**20  # 300 MiB: a long HD clip
RUNTIME_CHOICES = ("auto", "torch", "onnxruntime")


@dataclass
class ServiceConfig:
    """How the service runs. ``checkpoint`` None: the default model of the active data
    (:func:`helpers.inference.default_checkpoint`). ``queue_size``: requests that may wait
    beyond the ``workers`` running ones. ``upload_root``: where the service's own
    temporary folder is made (default: the system's)."""

    checkpoint: str | Path | None = None
    workers: int = 1
    queue_size: int = 16
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    runtime: str = "auto"
    device: str | None = None
    rl_sampler: str | None = "auto"
    with_sound: str | Path | None = "auto"  # the multi-modal model for clips with sound (see sound_predictor)
    upload_root: str | Path | None = None
    retry_after_s: int = 1
    max_top_k: int = 100
    threads: int | None = None  # PyTorch threads per worker process (None: PyTorch's default)


class ServiceState:
    """What the routes share: the pool, the upload folder, the config."""

    def __init__(self, config: ServiceConfig) -> None:
        from helpers.serving.pool import ModelPool
        from helpers.serving.process import WorkerProcess
        from helpers.settings import get_settings

        self.config = config
        device = config.device or get_settings().device
        self.pool = ModelPool(lambda _i: WorkerProcess(config.checkpoint, device, config.runtime, config.rl_sampler,
                                                       config.threads, config.with_sound),
                              config.workers, config.queue_size, config.retry_after_s)
        self.upload_dir = Path(tempfile.mkdtemp(prefix="helpers-serve-", dir=config.upload_root))
        self.started = time.time()

    def close(self) -> None:
        self.pool.close()
        shutil.rmtree(self.upload_dir, ignore_errors=True)


def _json_error(err: ServiceError) -> Any:
    return JSONResponse(err.body(), status_code=err.status, headers=err.headers)


def create_app(config: ServiceConfig | None = None, state: ServiceState | None = None) -> Any:
    """The FastAPI app; loads ``config.workers`` models now (so the first request does
    not pay for it). Call ``app.state.service.close()`` when done (the server does)."""
    from helpers.serving.pool import PoolFull
    from helpers.serving.uploads import FIELD, discard, receive_upload

    config = config or ServiceConfig()
    state = state or ServiceState(config)
    app = FastAPI(title="Video action recognition", version="1.0",
                  description="Upload a video, get the ranked actions (helpers.inference.predict_video).")
    app.state.service = state

    @app.exception_handler(ServiceError)
    async def _service_error(_request: Request, exc: ServiceError) -> Any:
        return _json_error(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> Any:
        parts = [f"{'.'.join(str(x) for x in e.get('loc', ())[1:]) or 'request'}: {e.get('msg')}" for e in exc.errors()]
        return _json_error(ServiceError(INVALID, "; ".join(parts)[:500] or "invalid request"))

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> Any:
        logger.exception("predict failed")
        return _json_error(ServiceError(INTERNAL, f"{type(exc).__name__}: {short(str(exc))}"))

    @app.get("/health", summary="Is the service up, and how busy is it?")
    async def health() -> dict[str, Any]:
        pool = state.pool
        return {"status": "ok", "workers": pool.workers, "queue_size": pool.queue_size, "in_flight": pool.in_flight,
                "served": pool.served, "refused": pool.refused, "uptime_s": round(time.time() - state.started, 1)}

    @app.get("/model", summary="The loaded model: name, classes, input shape, runtime, checkpoint")
    async def model() -> dict[str, Any]:
        return state.pool.models[0].describe()

    upload_schema = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": [FIELD],
        "properties": {FIELD: {"type": "string", "format": "binary", "description": "the video file"}}}}}}}

    @app.post("/predict", summary="Classify the action in an uploaded video", openapi_extra=upload_schema,
              responses={400: {"description": "empty upload, no file field, not multipart"},
                         409: {"description": "sampler=rl but no RL sampler is saved"},
                         413: {"description": "upload over the size limit"},
                         415: {"description": "not a video, or an unsupported codec"},
                         422: {"description": "truncated or damaged video, or a bad option"},
                         503: {"description": "busy: queue full (see Retry-After)"}})
    async def predict(request: Request,
                      top_k: int = Query(5, ge=1, le=config.max_top_k, description="how many classes to rank"),
                      runtime: Literal["auto", "torch", "onnxruntime"] | None = Query(
                          None, description="what runs the model (default: the service's)"),
                      sampler: Literal["uniform", "rl"] = Query(
                          "uniform", description="uniform frames, or notebook 05's RL sampler's picks")) -> Any:
        t0 = time.perf_counter()
        try:
            admission = state.pool.admit()
        except PoolFull as exc:
            await discard(request.stream(), 2**20)
            raise ServiceError(BUSY, str(exc), {"Retry-After": str(exc.retry_after)}) from None
        with admission:
            length = request.headers.get("content-length")
            chunks = request.stream()  # one iterator: what the parser leaves is drained from it
            try:
                upload = await receive_upload(chunks, request.headers.get("content-type", ""),
                                              state.upload_dir, config.max_upload_bytes,
                                              int(length) if length and length.isdigit() else None)
            except ClientDisconnect:
                logger.info("client disconnected during the upload")
                raise ServiceError(INVALID, "the upload was interrupted") from None
            except ServiceError as exc:
                if exc.status == 413:
                    await discard(chunks, config.max_upload_bytes)
                raise
            t1 = time.perf_counter()
            try:
                out = await state.pool.run(lambda w: (time.perf_counter(), w.predict(
                    upload.path, upload.name, top_k=top_k, runtime=runtime, sampler=sampler)))
            finally:
                upload.remove()
        started, body = out
        body["timings_ms"].update(upload=round((t1 - t0) * 1e3, 2), queue=round((started - t1) * 1e3, 2),
                                  request=round((time.perf_counter() - t0) * 1e3, 2))
        body["size_bytes"] = upload.size
        return body

    return app
