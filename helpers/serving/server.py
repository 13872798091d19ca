"""uvicorn serving the app, in the foreground (the command) or in a background thread
(notebook 08, the tests, the benchmark): :func:`start_service` is one call, and
:meth:`Service.stop` ends it and removes its temporary folder.

The socket is bound here before uvicorn starts, so ``port=0`` gets a free port whose
number is known at once (``service.url``) and "address in use" is said before any
model loads.
"""
from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

from helpers.serving.app import ServiceConfig, ServiceState, create_app

START_TIMEOUT_S = 60.0


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (``port`` 0: a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def make_server(app: Any, log_level: str = "warning") -> Any:
    """A ``uvicorn.Server`` for ``app`` (one process; the app's own workers run the models)."""
    import uvicorn

    config = uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="off", timeout_keep_alive=15)
    return uvicorn.Server(config)


class Service:
    """A running service: ``url``, ``config``, ``upload_dir``; ``stop()`` (also on ``with`` exit)."""

    def __init__(self, config: ServiceConfig, host: str = "127.0.0.1", port: int = 0,
                 log_level: str = "warning") -> None:
        self.config = config
        self._sock = bind(host, port)
        try:
            self.state = ServiceState(config)
        except BaseException:
            self._sock.close()
            raise
        self.app = create_app(config, self.state)
        self.server = make_server(self.app, log_level)
        self.host, self.port = self._sock.getsockname()[:2]
        shown = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"http://{shown}:{self.port}"
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self._sock]},
                                        name="helpers-serve", daemon=True)

    @property
    def upload_dir(self) -> Path:
        return self.state.upload_dir

    def start(self, timeout: float = START_TIMEOUT_S) -> "Service":
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the service did not start on {self.url}")
            time.sleep(0.02)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop accepting, finish the requests in progress, free the models and folder."""
        self.server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._sock.close()
        self.state.close()

    def __enter__(self) -> "Service":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"Service({self.url}, workers={self.config.workers})"


def start_service(checkpoint: str | Path | None = None, *, host: str = "127.0.0.1", port: int = 0,
                  workers: int = 1, log_level: str = "warning", **options: Any) -> Service:
    """Start the service in a background thread and return it once it answers
    (``options``: the other :class:`ServiceConfig` fields, e.g. ``max_upload_bytes``)."""
    config = ServiceConfig(checkpoint=checkpoint, workers=workers, **options)
    return Service(config, host, port, log_level).start()
