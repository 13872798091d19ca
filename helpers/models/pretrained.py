"""Offline-safe loading of pretrained weights: one place that tries, fails fast and
says once, clearly, what it fell back to.

Why a helper: the notebooks run on Kaggle (internet on or off) and here (no internet).
``torch.hub`` downloads with no timeout and transformers retries for a while, so a
blind ``weights=...`` can hang or crash the build of a model. Every pretrained fetch in
``helpers.models`` goes through :func:`torchvision_state_dict` or
:func:`hf_from_pretrained`, which

1. use a copy already on disk (the torch hub cache, the Hugging Face cache) first;
2. otherwise probe the host with a short TCP connect (``PROBE_TIMEOUT_S``) and only
   then download (with a socket timeout, so a stalled transfer ends too); a torchvision
   download is checked against the sha256 prefix in its file name, as torchvision does
   (a cached file is used as is, as ``torch.hub`` does);
3. on any failure return ``None`` and log ONE warning naming the weights and the reason;
   the caller then keeps its random initialisation.

Environment: ``HELPERS_OFFLINE=1`` (or ``HF_HUB_OFFLINE=1`` for Hugging Face) skips the
network entirely, so only cached copies are used. ``TORCH_HOME``, ``HF_HOME`` and
``HF_HUB_CACHE`` are read at each call, so setting them after import still counts.
"""
from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator
from urllib.error import URLError
from urllib.parse import urlparse

log = logging.getLogger("helpers.models")

PROBE_TIMEOUT_S = 2.0
DOWNLOAD_SOCKET_TIMEOUT_S = 30.0
HF_HOST = "huggingface.co"

_probe_cache: dict[tuple[str, int], bool] = {}
_warned: set[str] = set()


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def offline_forced(huggingface: bool = False) -> bool:
    """True when the environment says not to touch the network."""
    if _env_flag("HELPERS_OFFLINE"):
        return True
    return huggingface and (_env_flag("HF_HUB_OFFLINE") or _env_flag("TRANSFORMERS_OFFLINE"))


def host_reachable(host: str, port: int = 443, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """A TCP connect to ``host:port`` within ``timeout`` seconds (result cached per
    process: a network that is down stays down for the length of a notebook)."""
    key = (host, port)
    if key not in _probe_cache:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                _probe_cache[key] = True
        except OSError:
            _probe_cache[key] = False
    return _probe_cache[key]


def clear_probe_cache() -> None:
    """Forget reachability results (tests; a notebook whose network came back)."""
    _probe_cache.clear()
    _warned.clear()


def warn_fallback(what: str, reason: str, fallback: str = "random initialisation") -> None:
    """Log the one message per weights name that says what happened instead."""
    if what in _warned:
        return
    _warned.add(what)
    log.warning("pretrained %s not available (%s); using %s.", what, reason, fallback)


@contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(old)


def torch_hub_checkpoint(url: str) -> Path:
    """Where ``torch.hub`` keeps (or would keep) the file behind ``url``."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)


def torchvision_state_dict(
    weights: Any, what: str | None = None, *, progress: bool = False, fallback: str = "random initialisation"
) -> dict | None:
    """The state dict of a torchvision ``Weights`` entry (anything with a ``.url``), or
    ``None`` after one warning when it is neither cached nor downloadable.

    The cached file is read with ``weights_only=True``; a download goes through
    ``torch.hub.load_state_dict_from_url`` (atomic: it writes a temporary file first) with
    ``check_hash=True``: torchvision's file names carry the first digits of the file's
    sha256, and a download that does not match is refused (and not cached).
    """
    import torch

    url = str(weights.url)
    name = what or str(weights)
    cached = torch_hub_checkpoint(url)
    try:
        if cached.is_file():
            return torch.load(cached, map_location="cpu", weights_only=True)
        if offline_forced():
            warn_fallback(name, "HELPERS_OFFLINE is set and no cached copy at " + str(cached), fallback)
            return None
        parts = urlparse(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if not host_reachable(parts.hostname or "", port):
            warn_fallback(name, f"{parts.hostname} unreachable and no cached copy at {cached}", fallback)
            return None
        with _socket_timeout(DOWNLOAD_SOCKET_TIMEOUT_S):
            return torch.hub.load_state_dict_from_url(
                url, map_location="cpu", progress=progress, check_hash=True, weights_only=True
            )
    except (URLError, OSError, RuntimeError, ValueError) as exc:  # network, disk, corrupt file
        warn_fallback(name, f"{type(exc).__name__}: {exc}", fallback)
        return None


def hf_hub_cache() -> Path:
    """The Hugging Face hub cache the environment names now (``HF_HUB_CACHE``, else
    ``HF_HOME``/hub, else ``~/.cache/huggingface/hub``), resolved as huggingface_hub does."""
    env = os.environ
    xdg = env.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    home = env.get("HF_HOME") or os.path.join(xdg, "huggingface")
    cache = env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE") or os.path.join(home, "hub")
    return Path(os.path.expandvars(os.path.expanduser(cache)))


def _hf_cache_dir_override() -> str | None:
    """``hf_hub_cache()`` when it differs from the cache huggingface_hub fixed at import
    (the environment changed since, e.g. in a notebook or a test), else ``None``."""
    try:
        from huggingface_hub import constants
    except ImportError:
        return None
    now = hf_hub_cache()
    return None if now == Path(constants.HF_HUB_CACHE) else str(now)


def hf_from_pretrained(
    factory: Callable[..., Any],
    name: str,
    *,
    fallback: str = "a small randomly initialised configuration",
    **kwargs: Any,
) -> Any | None:
    """``factory(name, local_files_only=..., **kwargs)`` (e.g. ``Wav2Vec2Model.from_pretrained``)
    or ``None`` after one warning. ``local_files_only`` is set when offline is forced or
    ``huggingface.co`` does not answer the probe, so only the local cache is tried. The cache
    is the one the environment names at call time (``cache_dir`` is passed when it moved)."""
    local_only = offline_forced(huggingface=True) or not host_reachable(HF_HOST)
    cache_dir = _hf_cache_dir_override()
    if cache_dir is not None and "cache_dir" not in kwargs:
        kwargs["cache_dir"] = cache_dir
    try:
        return factory(name, local_files_only=local_only, **kwargs)
    except (OSError, ValueError, EnvironmentError, ImportError) as exc:
        where = "offline, not in the Hugging Face cache" if local_only else f"{type(exc).__name__}: {exc}"
        warn_fallback(name, where, fallback)
        return None
