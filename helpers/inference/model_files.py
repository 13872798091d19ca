"""Every model file the notebook series writes, opened as a :class:`~.types.Predictor`.

The format is read from the file itself, never from its name:

* a zip archive with ``constants.pkl`` and ``code/``: TorchScript (int8 FX models,
  TorchScript students); the class names and input shape are the archive's extra file
  :data:`helpers.compression.deploy.META_FILE`;
* another zip archive: a ``torch.save`` file, read with ``weights_only=True`` — a
  ``helpers.training/1`` checkpoint (notebook 04, and notebook 06's fp32 files), a
  pruned model (:func:`helpers.compression.pruning.save_pruned` with ``meta``) or a
  dynamic-int8 model (:func:`helpers.compression.dynamic.save_dynamic_int8`);
* a protobuf starting with ``ir_version`` (field 1): ONNX, run with ONNX Runtime; the
  metadata is the ``metadata_props`` entry :data:`helpers.compression.deploy.META_KEY`.

A file that cannot be read as its format says it is damaged; a valid file without the
metadata (written before files carried it) raises :class:`~.types.MissingMetadataError`
saying what it lacks and how to write it again.
"""
from __future__ import annotations

import json
import pickle
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from helpers.inference.types import COMPRESSION_NOTEBOOK, InferenceError, MissingMetadataError

DAMAGED = "the file is damaged (truncated or corrupted)"
REWRITE = (f"write it again: re-run {COMPRESSION_NOTEBOOK} or `python -m helpers compress` "
           "(the file itself is intact)")


def file_format(path: str | Path) -> str:
    """``"torchscript"``, ``"torch"`` (a ``torch.save`` archive), ``"onnx"``, or
    ``"unknown"`` (not a complete archive of either: a damaged or foreign file)."""
    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head.startswith(b"PK"):
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError):
            return "unknown"
        if any(n.endswith("/constants.pkl") for n in names) and any("/code/" in n for n in names):
            return "torchscript"
        return "torch" if any(n.endswith("/data.pkl") for n in names) else "unknown"
    return "onnx" if head[:1] == b"\x08" else "unknown"


def _checked_meta(path: Path, meta: Any, what: str) -> dict[str, Any]:
    """``meta`` as a dict with usable class names and input shape, else an error saying what is wrong."""
    if isinstance(meta, (str, bytes)):
        try:
            meta = json.loads(meta)
        except ValueError:
            raise InferenceError(path, f"{what}: its metadata is not readable JSON; {REWRITE}") from None
    if not isinstance(meta, dict):
        raise InferenceError(path, f"{what}: its metadata is not a dict; {REWRITE}")
    classes = meta.get("class_names")
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
        raise InferenceError(path, f"{what}: its metadata lists no class names; {REWRITE}")
    try:
        meta["num_frames"], meta["crop"] = int(meta["num_frames"]), int(meta["crop"])
        meta["resize"] = tuple(int(v) for v in meta["resize"])
    except (KeyError, TypeError, ValueError):
        raise InferenceError(path, f"{what}: its metadata lacks the input shape (num_frames, resize, crop); "
                                   f"{REWRITE}") from None
    return meta


def _missing(path: Path, what: str) -> MissingMetadataError:
    return MissingMetadataError(path, f"{what} without the class names and input shape a prediction needs "
                                      f"(written before model files carried them); {REWRITE}")


def open_torchscript(path: Path) -> tuple[Any, dict[str, Any]]:
    """(the TorchScript module on the CPU, its metadata)."""
    from helpers.compression.deploy import META_FILE

    extra = {META_FILE: ""}
    if "x86" in torch.backends.quantized.supported_engines:  # int8 archives call x86 kernels
        torch.backends.quantized.engine = "x86"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = torch.jit.load(str(path), map_location="cpu", _extra_files=extra).eval()
    except Exception as exc:  # a broken member of an intact zip
        raise InferenceError(path, f"{DAMAGED} ({type(exc).__name__}: {str(exc).strip()[:160]})") from None
    if not extra[META_FILE]:
        raise _missing(path, "a TorchScript model")
    return model, _checked_meta(path, extra[META_FILE], "a TorchScript model")


def open_onnx(path: Path) -> tuple[Any, dict[str, Any]]:
    """(an ONNX Runtime session called like a module, its metadata)."""
    from helpers.compression.deploy import META_KEY
    from helpers.compression.quantization import OnnxRunner

    try:
        runner = OnnxRunner(path, threads=torch.get_num_threads())
    except ImportError as exc:
        raise InferenceError(path, f"an ONNX model, and onnxruntime is not installed ({exc})") from None
    except Exception as exc:  # InvalidProtobuf, Fail: a truncated or foreign file
        raise InferenceError(path, f"{DAMAGED} ({type(exc).__name__}: {str(exc).strip()[:160]})") from None
    props = runner.session.get_modelmeta().custom_metadata_map
    if META_KEY not in props:
        raise _missing(path, "an ONNX model")
    meta = _checked_meta(path, props[META_KEY], "an ONNX model")
    dims = runner.session.get_outputs()[0].shape
    if len(dims) == 2 and isinstance(dims[1], int) and dims[1] != len(meta["class_names"]):
        raise InferenceError(path, f"an ONNX model with {dims[1]} outputs but {len(meta['class_names'])} "
                                   f"class names in its metadata; {REWRITE}")
    return runner, meta


def _mentions(path: Path, text: bytes) -> bool:
    """Whether the archive's pickle holds ``text`` (read as bytes, nothing unpickled)."""
    with zipfile.ZipFile(path) as zf:
        pkl = next((n for n in zf.namelist() if n.endswith("/data.pkl")), None)
        return pkl is not None and text in zf.read(pkl)


def open_torch_file(path: Path, reason: str) -> tuple[Any, dict[str, Any], str]:
    """A ``torch.save`` archive that is not a training checkpoint (``reason``: why
    :func:`helpers.training.load_checkpoint` refused it): a pruned model or a dynamic-int8
    model with metadata, as (model, metadata, ``"pruned"`` or ``"dynamic_int8"``), or the
    explanation of what the file is and lacks."""
    from helpers.compression.deploy import META_KEY
    from helpers.compression.dynamic import DYNAMIC_FORMAT, dynamic_model_from_state
    from helpers.compression.pruning import PRUNED_FORMAT, pruned_model_from_state

    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except pickle.UnpicklingError:
        if _mentions(path, PRUNED_FORMAT.encode()):
            raise _missing(path, "a pruned model (its pickled form)") from None
        raise InferenceError(path, reason) from None
    except Exception as exc:
        raise InferenceError(path, f"{DAMAGED} ({type(exc).__name__}: {str(exc).strip()[:160]})") from None
    if isinstance(state, dict) and state.get("format") == PRUNED_FORMAT:
        if META_KEY not in state:
            raise _missing(path, "a pruned model")
        meta = _checked_meta(path, state[META_KEY], "a pruned model")
        try:
            return pruned_model_from_state(state), meta, "pruned"
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise InferenceError(path, f"a pruned model this version cannot rebuild: {exc}"[:300]) from None
    if isinstance(state, dict) and state.get("format") == DYNAMIC_FORMAT:
        meta = _checked_meta(path, state.get(META_KEY), "a dynamic-int8 model")
        try:
            return dynamic_model_from_state(state), meta, "dynamic_int8"
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise InferenceError(path, f"a dynamic-int8 model this version cannot rebuild: {exc}"[:300]) from None
    if isinstance(state, dict) and state and all(isinstance(v, torch.Tensor) for v in state.values()):
        raise MissingMetadataError(path, "only a model's weights (a state_dict): no model config, class names or "
                                         f"input shape to rebuild and run it; {REWRITE}")
    raise InferenceError(path, reason)


def read_meta(path: str | Path) -> dict[str, Any] | None:
    """The metadata a model file carries (None when it carries none or is no model
    file), read without building the model: evaluation uses its training config and
    data record to find the test split."""
    from helpers.compression.deploy import META_FILE, META_KEY

    path = Path(path)
    fmt = file_format(path)
    raw: Any = None
    if fmt == "torchscript":
        with zipfile.ZipFile(path) as zf:
            name = next((n for n in zf.namelist() if n.endswith(f"/extra/{META_FILE}")), None)
            raw = zf.read(name) if name else None
    elif fmt == "onnx":
        import onnx

        try:
            proto = onnx.load(str(path), load_external_data=False)
        except Exception:  # damaged: no metadata to read
            return None
        raw = next((p.value for p in proto.metadata_props if p.key == META_KEY), None)
    elif fmt == "torch":
        try:
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except Exception:  # pickled objects or damaged: nothing readable without running code
            return None
        raw = state.get(META_KEY) if isinstance(state, dict) else None
    if raw is None:
        return None
    try:
        meta = json.loads(raw) if isinstance(raw, (str, bytes)) else raw
    except ValueError:
        return None
    return meta if isinstance(meta, dict) else None
