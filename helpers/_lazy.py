"""Lazy package exports: ``from helpers.datasets import HMDB51`` imports only the
submodule that defines it, so importing a package never pays for torch, librosa or
transformers before a name that needs them is used."""
from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str], namespace: dict[str, Any]) -> Callable[[str], Any]:
    """Return a module ``__getattr__`` that resolves ``name`` from
    ``<package>.<exports[name]>`` on first use and caches it in ``namespace``."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace[name] = value
        return value

    return __getattr__
