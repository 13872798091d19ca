"""Notebook 08's upload widget: a person drops a video, sees its frames and metadata,
presses "Predict action" and gets the top-5 actions with confidences, the frames the
model looked at (and which ones the RL sampler picked, when one is used) and the time
it took.

The logic is the pure function :func:`handle_upload` (ipywidgets 8 ``FileUpload.value``
in, :class:`UploadResult` out, errors as text), so it is tested without a browser; the
widget (:class:`UploadWidget`, :func:`build_upload_widget`) only lays out standard
ipywidgets and images (PNG bytes), which render the same in JupyterLab, classic
Notebook, Kaggle and Voila — no custom front-end code, no matplotlib backend needed.

The RL part: :func:`build_upload_widget` finds the sampler bundle notebook 05 saves
(:mod:`helpers.inference.rl_sampler`: agent, classifier, feature settings), replays the
agent on the upload (or its preview heuristic, where the bundle records that the agent
scored below it on held-out clips of that kind; the widget says which chose and why), and
shows its picks with its classifier's answer and this model's answer from those frames
only, next to the uniform one. A checkpoint runs on ONNX
Runtime when that helps (:mod:`helpers.inference.runtime`); a note above the widget says
which model, runtime and sampler answer.

With sound: when notebook 04 trained a multi-modal model, a clip with sound goes to it
(its answer, its caption and how well sound and picture agree) and a silent clip to the
video-only model (:func:`helpers.inference.predict.model_for_clip`); the answer says which.

Uploaded bytes are written to a temporary folder under the working directory (so a
read-only home or a small /tmp does not matter, and Kaggle's /kaggle/working is used),
decoded from there, and the folder is removed before the function returns; nothing is
stored in the notebook file (FileUpload's value is not saved with widget state here).
"""
from __future__ import annotations

import html
import io
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_MAX_BYTES = 200 * 2**20  # 200 MiB: a long HD clip; Voila/Jupyter websockets carry the upload
VIDEO_SUFFIXES = (".avi", ".mp4", ".m4v", ".mkv", ".webm", ".mov", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp",
                  ".ogv", ".ts", ".mts", ".vob", ".asf")
ACCEPT = "video/*," + ",".join(VIDEO_SUFFIXES)
THUMBNAILS = 6
THUMB_HEIGHT = 72


@dataclass
class UploadResult:
    """What one upload (and optionally its prediction) gave. ``error`` is text for the
    person using the widget; when it is set, ``ok`` is False and the rest may be empty."""

    ok: bool
    name: str = ""
    size_bytes: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)
    thumbnails: np.ndarray | None = None  # uint8 (N, H, W, 3), evenly spaced over the video
    thumbnail_indices: list[int] = field(default_factory=list)
    prediction: Any = None  # helpers.inference.Prediction when a model was given
    error: str | None = None
    rl: Any = None  # helpers.inference.rl_sampler.RLPick: the RL sampler's frames and its classifier's answer
    rl_prediction: Any = None  # the model's Prediction from the RL-picked frames only
    rl_error: str | None = None  # why there is no RL result (the upload itself is fine)
    note: str = ""  # which model answered this clip and why (sound or silent)

    @property
    def top(self) -> list[tuple[str, float]]:
        return [] if self.prediction is None else list(self.prediction.top)

    @property
    def label(self) -> str | None:
        return None if self.prediction is None else self.prediction.label

    def metadata_text(self) -> str:
        m = self.metadata
        if not m:
            return ""
        audio = "with audio" if m.get("has_audio") else "no audio"
        return (f"{self.name} · {self.size_bytes / 2**20:.2f} MB · {m.get('container', '?')}/{m.get('video_codec', '?')}"
                f" · {m.get('width')}×{m.get('height')} · {m.get('num_frames')} frames at {float(m.get('fps') or 0):g} fps"
                f" · {float(m.get('duration') or 0):.2f} s · {audio}")


def upload_value(data: bytes | str | Path, name: str | None = None, mime: str = "video/mp4") -> tuple[dict, ...]:
    """What ipywidgets 8's ``FileUpload.value`` holds after one upload of ``data`` (bytes
    or a file): for tests and for the notebook's demo of the widget without a browser."""
    import datetime as dt

    if isinstance(data, (str, Path)):
        name = name or Path(data).name
        data = Path(data).read_bytes()
    return ({"name": name or "upload", "type": mime, "size": len(data), "content": memoryview(bytes(data)),
             "last_modified": dt.datetime.now(dt.timezone.utc)},)


def _files(value: Any) -> list[Mapping[str, Any]]:
    """ipywidgets 8 value (tuple of dicts) — or 7's ``{name: {metadata, content}}`` — as a list of dicts."""
    if value is None:
        return []
    if isinstance(value, Mapping):  # ipywidgets 7
        return [{"name": k, **dict(v.get("metadata", {})), "content": v.get("content")} for k, v in value.items()]
    return [v for v in value if isinstance(v, Mapping)]


def _content(item: Mapping[str, Any]) -> bytes:
    content = item.get("content")
    if isinstance(content, memoryview):
        return content.tobytes()
    if isinstance(content, (bytes, bytearray)):
        return bytes(content)
    raise TypeError(f"upload content is {type(content).__name__}, expected bytes or memoryview")


def _safe_name(name: str) -> str:
    base = Path(str(name).replace("\\", "/")).name or "upload"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", base)[:120] or "upload"


def _looks_like_text(name: str, mime: str) -> bool:
    """A declared non-video type with a non-video suffix: say "not a video" without decoding."""
    suffix = Path(name).suffix.lower()
    return bool(mime) and not mime.startswith("video/") and suffix not in VIDEO_SUFFIXES \
        and not mime.startswith("application/octet-stream")


def handle_upload(value: Any, predictor: Any = None, *, top_k: int = 5, max_bytes: int = DEFAULT_MAX_BYTES,
                  workdir: str | Path | None = None, thumbnails: int = THUMBNAILS,
                  rl_sampler: Any = None, with_sound: Any = None) -> UploadResult:
    """Read the first uploaded file: metadata and a thumbnail strip, and — when
    ``predictor`` (a :class:`helpers.inference.Predictor`) is given — the top-``k``
    actions (from ``with_sound``, a multi-modal predictor, when the clip has sound:
    ``result.note`` says which model answered). With ``rl_sampler`` (:class:`helpers.inference.rl_sampler.RLFrameSampler`)
    also the frames notebook 05's agent picks, its classifier's answer from them, and
    the model's answer from those frames only (``result.rl``, ``result.rl_prediction``).
    Never raises for bad input: the reason is in ``result.error`` (``result.rl_error``
    for the RL part alone)."""
    from helpers.inference import InferenceError, model_for_clip, predict_video, readable_reason
    from helpers.video import VideoDecodeError, open_video
    from helpers.video.sampling import uniform_indices

    files = _files(value)
    if not files:
        return UploadResult(False, error="No file uploaded yet: choose a video file first.")
    item = files[0]
    name = str(item.get("name") or "upload")
    mime = str(item.get("type") or "")
    try:
        data = _content(item)
    except TypeError as exc:
        return UploadResult(False, name=name, error=f"Could not read the upload: {exc}.")
    size = len(data)
    if size == 0:
        return UploadResult(False, name=name, error=f"{name} is empty (0 bytes).")
    if size > max_bytes:
        return UploadResult(False, name=name, size_bytes=size,
                            error=f"{name} is too large: {size / 2**20:.1f} MB (the limit is {max_bytes / 2**20:.0f} MB).")
    if _looks_like_text(name, mime):
        return UploadResult(False, name=name, size_bytes=size,
                            error=f"{name} is not a video (type {mime}). Upload a video file such as .mp4 or .avi.")
    base = Path(workdir) if workdir is not None else Path.cwd()
    base.mkdir(parents=True, exist_ok=True)
    result = UploadResult(True, name=name, size_bytes=size)
    with tempfile.TemporaryDirectory(prefix=".upload-", dir=base) as tmp:
        path = Path(tmp) / _safe_name(name)
        path.write_bytes(data)
        try:
            with open_video(path) as reader:
                meta = reader.metadata
                if meta.num_frames < 1:
                    raise VideoDecodeError(path, "the video has no frames")
                idx = uniform_indices(int(meta.num_frames), min(thumbnails, int(meta.num_frames)))
                h = THUMB_HEIGHT
                w = max(1, int(round(meta.width * h / max(meta.height, 1))))
                result.thumbnails = np.asarray(reader.frames(idx.tolist(), size=(h, w)))
                result.thumbnail_indices = [int(i) for i in idx]
            result.metadata = meta.to_dict()
            result.metadata["path"] = name  # the temporary path means nothing to the user
            if predictor is not None:
                chosen, result.note = model_for_clip(bool(meta.has_audio), predictor, with_sound)
                result.prediction = predict_video(path, model=chosen, top_k=top_k)
                result.prediction.path = name
                if rl_sampler is not None:
                    _rl_predict(result, path, chosen, rl_sampler, top_k)
        except VideoDecodeError as exc:
            return UploadResult(False, name=name, size_bytes=size,
                                error=f"{name} could not be read as a video: {readable_reason(exc.reason)}")
        except InferenceError as exc:
            return UploadResult(False, name=name, size_bytes=size,
                                error=f"{name} could not be read as a video: {readable_reason(exc.reason)}")
    return result


def _rl_predict(result: UploadResult, path: Path, predictor: Any, rl_sampler: Any, top_k: int) -> None:
    """Fill ``result.rl`` / ``rl_prediction``, or ``rl_error`` in words (an RL failure
    never hides the uniform prediction)."""
    from helpers.inference import readable_reason
    from helpers.inference.rl_sampler import predict_on_picks

    try:
        pick = rl_sampler.pick(path, top_k=top_k)
        result.rl = pick
        if not pick.frame_indices:
            result.rl_error = "the RL sampler stopped without looking at any frame"
            return
        result.rl_prediction = predict_on_picks(path, predictor, pick, top_k, getattr(rl_sampler, "name", "rl"))
        result.rl_prediction.path = result.name
    except Exception as exc:  # a sampler that does not fit this video: say so, keep the rest
        result.rl_error = readable_reason(f"RL sampler failed: {type(exc).__name__}: {exc}")


# ---------------------------------------------------------------- rendering (PNG bytes)
def png_of_frames(frames: np.ndarray, labels: Sequence[str] | None = None, height: int = THUMB_HEIGHT,
                  gap: int = 4) -> bytes:
    """A horizontal strip of uint8 (N, H, W, 3) frames as PNG bytes (labels drawn below)."""
    from PIL import Image, ImageDraw

    frames = np.asarray(frames)
    imgs = [Image.fromarray(f).resize((max(1, int(f.shape[1] * height / f.shape[0])), height)) for f in frames]
    label_h = 14 if labels else 0
    width = sum(i.width for i in imgs) + gap * max(len(imgs) - 1, 0)
    strip = Image.new("RGB", (max(width, 1), height + label_h), "white")
    x = 0
    draw = ImageDraw.Draw(strip)
    for k, img in enumerate(imgs):
        strip.paste(img, (x, 0))
        if labels:
            draw.text((x + 2, height + 1), str(labels[k]), fill="black")
        x += img.width + gap
    buf = io.BytesIO()
    strip.save(buf, format="PNG")
    return buf.getvalue()


def png_of_top_k(top: Sequence[tuple[str, float]], title: str = "top actions") -> bytes:
    """Horizontal bar chart of ``[(label, probability), …]`` (best on top) as PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 0.45 * len(top) + 0.9), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    names = [n for n, _ in top][::-1]
    probs = [p for _, p in top][::-1]
    bars = ax.barh(names, probs, color=["tab:blue"] * (len(top) - 1) + ["tab:green"])
    for bar, p in zip(bars, probs):
        ax.text(min(p + 0.01, 0.9), bar.get_y() + bar.get_height() / 2, f"{p:.1%}", va="center", fontsize=9)
    ax.set_xlim(0, 1)
    ax.set_xlabel("confidence")
    ax.set_title(title)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return buf.getvalue()


def prediction_html(result: UploadResult) -> str:
    """The result in words: predicted label (``class="predicted-label"``, what the
    browser test reads), the top-k list and the timing."""
    p = result.prediction
    if p is None:
        return ""
    rows = "".join(f"<li>{html.escape(n)}: {v:.1%}</li>" for n, v in p.top)
    picked = "RL sampler picked" if p.sampler not in ("uniform", "") else "uniformly sampled"
    heard = ""
    if p.caption is not None:
        heard += f"<div><b>Caption:</b> <span class='caption'>{html.escape(p.caption)}</span></div>"
    if p.sync_score is not None:
        heard += (f"<div class='sync-score'>Sound and picture in step: {p.sync_score:.0%} "
                  f"(the sync head's probability that the audio belongs to these frames)</div>")
    if result.note:
        heard += f"<div class='model-note' style='color:#555'>{html.escape(result.note)}</div>"
    return (f"<div><b>Predicted action:</b> <span class='predicted-label' data-confidence='{p.confidence:.4f}'>"
            f"{html.escape(p.label)}</span> ({p.confidence:.1%})<ol>{rows}</ol>{heard}"
            f"<div>Frames the model looked at ({picked}, by {html.escape(p.sampler)}): "
            f"{', '.join(map(str, p.frame_indices))} of {p.num_video_frames}</div>"
            f"<div class='latency'>Latency: {p.total_ms:.0f} ms (decode {p.decode_ms:.0f} ms, "
            f"preprocess {p.preprocess_ms:.0f} ms, model {p.model_ms:.0f} ms) · model {html.escape(p.model_name)}"
            f" on {html.escape(getattr(p, 'runtime', 'torch'))}</div></div>")


def rl_html(result: UploadResult) -> str:
    """The RL sampler's part in words: which frames it picked (in the order it looked),
    its classifier's answer (``class="rl-label"``) and the model's answer from those
    frames only (``class="rl-model-label"``) next to the uniform one."""
    if result.rl is None and not result.rl_error:
        return ""
    if result.rl is None or not result.rl.frame_indices:
        return f"<div class='rl-error'><b>RL sampler:</b> {html.escape(result.rl_error or '')}</div>"
    r, p, q = result.rl, result.prediction, result.rl_prediction
    looked = ", ".join(f"#{r.candidate_indices[o]}" for o in r.order)
    chooser = getattr(r, "chosen_by", "agent")
    if chooser == "agent":
        head = f"looked at {len(r.order)} of {len(r.candidate_indices)} candidate frames (in this order: {looked})"
    else:
        head = (f"used the {html.escape(chooser)} ranking: its top {len(r.order)} of "
                f"{len(r.candidate_indices)} candidate frames ({looked})")
    parts = [f"<div class='rl-result'><b>RL frame sampler</b> {head} in {r.ms:.0f} ms."]
    if getattr(r, "reason", ""):
        parts.append(f"<div class='rl-chooser'>Chosen by: <b>{html.escape(chooser)}</b>, because "
                     f"{html.escape(r.reason)}.</div>")
    parts.append("<ul>")
    if r.top:
        parts.append(f"<li>its classifier from those frames: <span class='rl-label'>{html.escape(r.label)}</span>"
                     f" ({r.confidence:.1%})</li>")
    if q is not None:
        parts.append(f"<li>this model from those frames only: <span class='rl-model-label'>"
                     f"{html.escape(q.label)}</span> ({q.confidence:.1%}), model {q.model_ms:.0f} ms</li>")
    if p is not None:
        parts.append(f"<li>this model from {len(set(p.frame_indices))} uniform frames: {html.escape(p.label)}"
                     f" ({p.confidence:.1%})</li>")
    parts.append("</ul>")
    if result.rl_error:
        parts.append(f"<div class='rl-error'>{html.escape(result.rl_error)}</div>")
    return "".join(parts) + "</div>"


def error_html(text: str) -> str:
    return f"<div class='upload-error' style='color:#b00020'><b>Error:</b> {html.escape(text)}</div>"


# ---------------------------------------------------------------- the widget
class UploadWidget:
    """FileUpload → thumbnails + metadata; "Predict action" → top-k chart, frames, latency.

    ``widget`` is the ipywidgets ``VBox`` to display (the object also displays itself).
    Attributes ``upload``, ``button``, ``status``, ``result_html`` are public so tests
    and notebooks can drive it; ``last_result`` holds the latest :class:`UploadResult`.
    """

    def __init__(self, predictor: Any, *, top_k: int = 5, max_bytes: int = DEFAULT_MAX_BYTES,
                 workdir: str | Path | None = None, rl_sampler: Any = None, with_sound: Any = None,
                 note: str = "") -> None:
        import ipywidgets as w

        self.predictor = predictor
        self.with_sound = with_sound  # the multi-modal predictor for clips with sound, or None
        self.rl_sampler = rl_sampler
        self.top_k = top_k
        self.max_bytes = max_bytes
        self.workdir = workdir
        self.last_result: UploadResult | None = None
        self.upload = w.FileUpload(accept=ACCEPT, multiple=False, description="Upload video")
        self.button = w.Button(description="Predict action", button_style="primary", disabled=True,
                               icon="play")
        self.status = w.HTML("<i>Choose a video file (avi, mp4, mkv, webm, mov, …).</i>")
        self.thumbs = w.Image(format="png", layout=w.Layout(max_width="100%"))
        self.result_html = w.HTML()
        self.chart = w.Image(format="png", layout=w.Layout(max_width="520px"))
        self.frames_title = w.HTML()
        self.frames = w.Image(format="png", layout=w.Layout(max_width="100%"))
        self.rl_html = w.HTML()
        self.rl_frames = w.Image(format="png", layout=w.Layout(max_width="100%"))
        # which model, runtime and RL sampler answer (and why not, when one is missing)
        self.note = w.HTML(f"<div class='widget-note' style='color:#555;font-size:small'>{html.escape(note)}</div>"
                           if note else "")
        self.upload.observe(self._on_upload, names="value")
        self.button.on_click(self._on_predict)
        self.widget = w.VBox([w.HBox([self.upload, self.button]), self.note, self.status, self.thumbs,
                              self.result_html, self.chart, self.frames_title, self.frames, self.rl_html,
                              self.rl_frames])

    # the widget shows itself when it is the last expression of a cell
    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def _clear_result(self) -> None:
        self.result_html.value = ""
        self.chart.value = b""
        self.frames.value = b""
        self.frames_title.value = ""
        self.rl_html.value = ""
        self.rl_frames.value = b""

    def _on_upload(self, change: Any = None) -> None:
        self._clear_result()
        res = handle_upload(self.upload.value, None, max_bytes=self.max_bytes, workdir=self.workdir)
        self.last_result = res
        if not res.ok:
            self.status.value = error_html(res.error or "unknown error")
            self.thumbs.value = b""
            self.button.disabled = True
            return
        self.status.value = f"<div class='video-metadata'>{html.escape(res.metadata_text())}</div>"
        if res.thumbnails is not None and len(res.thumbnails):
            self.thumbs.value = png_of_frames(res.thumbnails, [f"#{i}" for i in res.thumbnail_indices])
        self.button.disabled = False

    def _on_predict(self, _button: Any = None) -> None:
        self.button.disabled = True
        self.result_html.value = "<i>Predicting…</i>"
        try:
            res = handle_upload(self.upload.value, self.predictor, top_k=self.top_k, max_bytes=self.max_bytes,
                                workdir=self.workdir, rl_sampler=self.rl_sampler, with_sound=self.with_sound)
            self.last_result = res
            if not res.ok:
                self._clear_result()
                self.result_html.value = error_html(res.error or "unknown error")
                return
            p = res.prediction
            self.result_html.value = prediction_html(res)
            self.chart.value = png_of_top_k(p.top, title=f"top-{len(p.top)} actions")
            if p.frames is not None and len(p.frames):
                self.frames_title.value = "<b>Frames the model looked at</b>"
                self.frames.value = png_of_frames(p.frames, [f"#{i}" for i in p.frame_indices], height=64)
            self.rl_html.value = rl_html(res)
            r = res.rl
            if r is not None and r.frames is not None and len(r.frames):
                step = {r.candidate_indices[o]: k + 1 for k, o in enumerate(r.order)}  # 1 = looked first
                self.rl_frames.value = png_of_frames(r.frames, [f"#{i} ({step[i]}.)" for i in r.frame_indices],
                                                    height=64)
        except Exception as exc:  # a model bug must not leave the button dead: show it in words
            self.result_html.value = error_html(f"prediction failed: {type(exc).__name__}: {exc}")
        finally:
            self.button.disabled = not (self.last_result is not None and self.last_result.ok)


def build_upload_widget(model: Any = None, class_names: Sequence[str] | None = None, *, runtime: str = "auto",
                        rl_sampler: Any = "auto", with_sound: Any = "auto", **kwargs: Any) -> UploadWidget:
    """The widget for ``model``: a :class:`helpers.inference.Predictor`, a checkpoint
    path, None (the default checkpoint; raises ``NoCheckpointError`` naming notebook 04
    when missing) or an ``nn.Module`` with ``class_names``. A checkpoint runs on
    ``runtime`` (:mod:`helpers.inference.runtime`; ``auto``: ONNX Runtime on the CPU).

    ``rl_sampler``: ``"auto"`` — the newest ``rl_frame_sampler*.pt`` that notebook 05
    saved (models folder, or the cache in smoke mode), when there is one; a path; an
    :class:`~helpers.inference.rl_sampler.RLFrameSampler`; or None. A file that cannot
    be used does not stop the widget: the reason is shown above it.

    ``with_sound``: the multi-modal model that answers clips with sound — ``"auto"``: the
    one notebook 04 trained (``default_checkpoint("multimodal")``) when it exists and
    ``model`` is video-only; a path; a Predictor; or None (``model`` answers every clip)."""
    from helpers.inference import Predictor, load_predictor, predictor_from_model
    from helpers.inference.predict import readable_reason, sound_predictor
    from helpers.inference.rl_sampler import NONE_SAVED, RLSamplerError, load_rl_sampler, locate_rl_sampler

    if isinstance(model, Predictor):
        predictor = model
    elif model is None or isinstance(model, (str, Path)):
        predictor = load_predictor(model, runtime=runtime)
    else:
        if not class_names:
            raise ValueError("class_names are needed with a bare model (or pass a Predictor)")
        predictor = predictor_from_model(model, class_names)
    notes = [f"model {predictor.name} on {predictor.runtime}"
             + (f" ({predictor.runtime_note})" if predictor.runtime_note else "")]
    sampler = None
    if isinstance(rl_sampler, (str, Path)):
        path = locate_rl_sampler(rl_sampler)
        if path is None:
            notes.append(f"RL frame sampler: {NONE_SAVED}")
        else:
            try:
                sampler = load_rl_sampler(path)
                notes.append(f"RL frame sampler: {path.name} ({sampler.encoder} features, "
                             f"{sampler.num_positions} candidates)")
            except RLSamplerError as exc:
                notes.append(f"RL frame sampler not used: {readable_reason(str(exc))}")
    elif rl_sampler is not None:
        sampler = rl_sampler
        notes.append(f"RL frame sampler: {getattr(sampler, 'name', 'given')}")
    sound = sound_predictor(with_sound, predictor, notes)
    return UploadWidget(predictor, rl_sampler=sampler, with_sound=sound, note=" · ".join(notes), **kwargs)
