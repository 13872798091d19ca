"""One table of every model the earlier notebooks left in ``models/``: the trained MoE
and multi-modal checkpoints (notebook 04), pruned / quantized / distilled / exported
variants (notebook 06) and an RL frame sampler (notebook 05) when present — each run
through the same :func:`helpers.inference.predict_video` on the same test videos,
so accuracy, frames used, latency and size are measured one way.

Discovery: every ``*.pth``, ``*.pt`` and ``*.onnx`` file, opened by the one loader
(:func:`helpers.inference.load_predictor`: training checkpoints, and notebook 06's fp32,
pruned, int8 and student files with the class names and input shape they carry).
TorchScript/ONNX files written before files carried that metadata borrow it from the
first training checkpoint (the note says so). Anything else is listed with the reason
it was skipped, never silently dropped.
Extra entries (an RL sampler wrapped as a :class:`~helpers.inference.Predictor` with
``sampler=``) can be appended by the caller.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from helpers.measure import count_parameters, file_size_mb, in_memory_size_mb
from helpers.settings import within_budget

KIND_HINTS = (("prun", "pruned"), ("quant", "quantized"), ("int8", "quantized"), ("distil", "distilled"),
              ("student", "distilled"), ("rl", "rl-sampled"), ("multimodal", "multimodal"), ("moe", "moe"))


@dataclass
class ModelEntry:
    """A model to compare: a ready :class:`~helpers.inference.Predictor` or the reason it is not."""

    name: str
    kind: str
    path: Path | None
    predictor: Any = None
    skipped: str | None = None
    size_mb: float | None = None  # weights (training checkpoints) or file size (exported models)
    notes: list[str] = field(default_factory=list)


def _kind(name: str) -> str:
    low = name.lower()
    for hint, kind in KIND_HINTS:
        if hint in low:
            return kind
    return "other"


def discover_models(models_dir: str | Path, device: str = "cpu") -> list[ModelEntry]:
    """Every model file under ``models_dir`` as a :class:`ModelEntry` (see module docstring)."""
    from helpers.inference import InferenceError, MissingMetadataError, load_predictor

    root = Path(models_dir)
    # training/fine-tuning run folders hold intermediate checkpoints, not models to compare
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".pth", ".pt", ".onnx", ".pt2")
                   and "runs" not in p.relative_to(root).parts)
    files = [f for f in files if f.suffix == ".pth"] + [f for f in files if f.suffix != ".pth"]
    stems = [f.stem for f in files]
    entries: list[ModelEntry] = []
    lacking: list[tuple[ModelEntry, MissingMetadataError]] = []
    base = None
    for path in files:
        name = path.stem if stems.count(path.stem) == 1 else path.name  # moe_int8.pt and moe_int8.onnx stay apart
        entry = ModelEntry(name, _kind(path.stem), path, size_mb=file_size_mb(path))
        entries.append(entry)
        if path.suffix == ".pt2":
            entry.skipped = f"{path.suffix} files are not evaluated here (load them with helpers.compression)"
            continue
        try:
            entry.predictor = load_predictor(path, device=device)
        except MissingMetadataError as exc:  # an older notebook-06 file: see _borrow
            lacking.append((entry, exc))
            continue
        except InferenceError as exc:
            entry.skipped = f"cannot load: {exc.reason}"
            continue
        entry.predictor.name = name  # moe_split1_best and moe_split2_best stay apart
        if entry.predictor.extra.get("file_format") == "checkpoint":
            # a training checkpoint also holds optimizer state: report the weights' size
            entry.size_mb = in_memory_size_mb(entry.predictor.model)
            base = base or entry.predictor
        entry.kind = entry.kind if entry.kind != "other" else entry.predictor.name
    for entry, exc in lacking:
        _borrow(entry, exc, base)
    return entries


def _borrow(entry: ModelEntry, exc: Exception, base: Any) -> None:
    """A TorchScript/ONNX file without metadata, run with the class names and input shape
    of ``base`` (the first training checkpoint); anything else keeps the loader's reason."""
    from helpers.inference import predictor_from_model
    from helpers.inference.model_files import file_format

    fmt = file_format(entry.path)
    if base is None or fmt not in ("torchscript", "onnx"):
        entry.skipped = f"cannot load: {getattr(exc, 'reason', exc)}"
        return
    if fmt == "torchscript":
        from helpers.compression.quantization import load_quantized

        model = load_quantized(entry.path)
    else:
        from helpers.compression.quantization import OnnxRunner

        model = OnnxRunner(entry.path)
    entry.predictor = predictor_from_model(model, base.class_names, num_frames=base.num_frames, resize=base.resize,
                                           crop=base.crop, device="cpu", name=entry.name)
    entry.notes.append(f"the file carries no class names or input shape: those of {base.name} are used")


def true_names(samples: Sequence[tuple[str | Path, int | str]], class_names: Sequence[str] | None) -> list[str | None]:
    """The class name of each sample: given as a name, or a label into ``class_names``
    (the data's list). None where only a number is known: that is then read against
    each model's own list, which is right only when every model lists classes alike."""
    out: list[str | None] = []
    for _, label in samples:
        if isinstance(label, str):
            out.append(label)
        elif class_names is not None:
            out.append(class_names[int(label)])
        else:
            out.append(None)
    return out


def class_note(model_classes: Sequence[str], names: Sequence[str | None]) -> str:
    """What a model cannot predict among the test videos' classes ('' when nothing)."""
    lacking = sorted({n for n in names if n is not None and n not in model_classes})
    if not lacking:
        return ""
    shown = ", ".join(lacking[:4]) + (", …" if len(lacking) > 4 else "")
    return f"classes differ from the data's: the model lacks {len(lacking)} ({shown}), scored as misses"


def compare_models(entries: Sequence[ModelEntry], samples: Iterable[tuple[str | Path, int | str]], *,
                   class_names: Sequence[str] | None = None, max_videos: int | None = None,
                   progress: bool = False):
    """A pandas DataFrame, one row per entry: top-1 on ``samples`` (one clip per video),
    frames decoded per video, median end-to-end and model-only latency per video,
    size and parameters. Skipped entries keep a row with the reason.

    Predictions are matched to the truth by class name: give each sample's class name
    (``TestData.named_samples``), or its label with the data's ``class_names``. A model
    whose classes differ from the data's is marked in ``note``, never an error."""
    import pandas as pd
    from tqdm.auto import tqdm

    from helpers.inference import InferenceError, predict_video

    items = list(samples)[: within_budget(max_videos)]  # the step budget caps evaluated videos too
    names = true_names(items, class_names)
    rows = []
    for entry in entries:
        row: dict[str, Any] = {"model": entry.name, "kind": entry.kind, "size_mb": entry.size_mb,
                               "file": None if entry.path is None else entry.path.name}
        if entry.predictor is None:
            rows.append({**row, "note": entry.skipped or "not loaded"})
            continue
        p = entry.predictor
        row["params_M"] = count_parameters(p.model) / 1e6 if callable(getattr(p.model, "parameters", None)) else None
        hits, frames, totals, model_ms = [], [], [], []
        notes = [*entry.notes, class_note(p.class_names, names)]
        for (path, label), name in tqdm(list(zip(items, names)), desc=entry.name, disable=not progress, leave=False):
            try:
                r = predict_video(path, model=p, top_k=1, keep_frames=False)
            except InferenceError:
                continue
            if name is None:  # a bare label: this model's own list (out of range: a miss)
                name = p.class_names[int(label)] if 0 <= int(label) < len(p.class_names) else None
            hits.append(name is not None and r.label == name)
            frames.append(len(set(r.frame_indices)))
            totals.append(r.total_ms)
            model_ms.append(r.model_ms)
        row.update(top1=float(np.mean(hits)) if hits else float("nan"), videos=len(hits),
                   frames_used=float(np.mean(frames)) if frames else float("nan"),
                   latency_ms=float(np.median(totals)) if totals else float("nan"),
                   model_ms=float(np.median(model_ms)) if model_ms else float("nan"),
                   sampler=p.sampler_name, note="; ".join(n for n in notes if n))
        rows.append(row)
    cols = ["model", "kind", "top1", "frames_used", "latency_ms", "model_ms", "size_mb", "params_M", "videos",
            "sampler", "file", "note"]
    df = pd.DataFrame(rows)
    return df[[c for c in cols if c in df.columns]].set_index("model")


def save_comparison(df, out_dir: str | Path, stem: str = "model_comparison") -> dict[str, Path]:
    """Write ``<stem>.csv`` and ``<stem>.md`` atomically; returns both paths."""
    from helpers.atomic import atomic_write_text

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out / f"{stem}.csv", "md": out / f"{stem}.md"}
    texts = {"csv": df.to_csv(float_format="%.4g"), "md": _markdown(df)}
    for key, path in paths.items():
        atomic_write_text(path, texts[key])
    return paths


def _markdown(df) -> str:
    """A GitHub table without the optional ``tabulate`` dependency of ``DataFrame.to_markdown``."""
    table = df.reset_index()
    def cell(v: Any) -> str:
        if v is None or (isinstance(v, float) and v != v):
            return ""
        return f"{v:.4g}" if isinstance(v, float) else str(v).replace("|", "\\|")
    lines = ["| " + " | ".join(map(str, table.columns)) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def plot_comparison(df, title: str = "models: accuracy vs latency (marker area ∝ size)"):
    """Scatter of top-1 against end-to-end latency per video, one labelled point per
    evaluated model, marker area proportional to its size in MB."""
    import matplotlib.pyplot as plt

    d = df.dropna(subset=["top1", "latency_ms"]) if "top1" in df else df.iloc[0:0]
    fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
    if len(d) == 0:
        ax.text(0.5, 0.5, "no model could be evaluated", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    sizes = d["size_mb"].fillna(1.0).astype(float).to_numpy()
    area = 40 + 400 * sizes / max(float(sizes.max()), 1e-9)
    ax.scatter(d["latency_ms"], d["top1"], s=area, alpha=0.6, c=range(len(d)), cmap="tab10")
    for name, row in d.iterrows():
        ax.annotate(f"{name}\n{row.get('frames_used', float('nan')):.0f} frames", (row["latency_ms"], row["top1"]),
                    textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.set_xlabel("end-to-end latency per video (ms, decode included)")
    ax.set_ylabel("top-1 accuracy")
    ax.set_ylim(-0.02, 1.05)
    ax.set_title(title)
    return fig
