"""The dataset index: metadata of every clip (frame count, fps, size, audio…), kept in
one JSON file so building a dataset over 6,766 clips opens no file the second time.

Each entry is keyed by the clip's resolved path and stamped with its byte size and
mtime; an entry whose file changed is probed again, the rest is reused. Clips that
cannot be opened are recorded with their reason (also stamped), so a broken file is not
re-probed every time and the dataset can report it as a failed item without opening it.
Writes are atomic (temp file + ``os.replace``).
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from helpers.atomic import atomic_write_text

INDEX_VERSION = 1
META_FIELDS = (
    "num_frames", "fps", "duration", "width", "height", "has_audio", "video_codec", "container",
)


@dataclass(frozen=True)
class ClipInfo:
    """Index entry for one clip: its metadata, or the reason it could not be read."""

    path: str
    size: int
    mtime_ns: int
    num_frames: int = 0
    fps: float = 0.0
    duration: float = 0.0
    width: int = 0
    height: int = 0
    has_audio: bool = False
    video_codec: str = ""
    container: str = ""
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def probe_clip(path: Path) -> ClipInfo:
    """Open one clip (metadata only, no decode) and describe it; never raises for a bad
    or missing file — the error text is kept instead."""
    from helpers import video  # late: picks up test monkeypatches of open_video

    path = Path(path)
    try:
        size, mtime_ns = _stamp(path)
    except OSError as exc:
        return ClipInfo(str(path), -1, -1, error=f"{type(exc).__name__}: {exc}")
    try:
        with video.open_video(path) as reader:
            meta = reader.metadata
        values = {k: getattr(meta, k) for k in META_FIELDS}
        values["fps"] = float(values["fps"] or 0.0)
        values["duration"] = float(values["duration"] or 0.0)
        values["num_frames"] = int(values["num_frames"])
        values["has_audio"] = bool(values["has_audio"])
        values["video_codec"] = str(values["video_codec"] or "")
        values["container"] = str(values["container"] or "")
        return ClipInfo(str(path), size, mtime_ns, **values)
    except Exception as exc:  # recorded, reported by the dataset as a failed item
        reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
        return ClipInfo(str(path), size, mtime_ns, error=f"{type(exc).__name__}: {reason}")


class ClipIndex:
    """``{resolved path: ClipInfo}`` persisted in ``index_file`` (or in memory only
    when ``index_file`` is None)."""

    def __init__(self, index_file: Path | None = None) -> None:
        self.index_file = Path(index_file) if index_file is not None else None
        self.entries: dict[str, ClipInfo] = {}
        self.probed = 0  # clips opened by the last build()
        if self.index_file is not None and self.index_file.exists():
            self._load()

    def _load(self) -> None:
        assert self.index_file is not None
        try:
            data = json.loads(self.index_file.read_text())
        except (OSError, ValueError):
            return  # damaged index: rebuilt by the next build()
        if data.get("version") != INDEX_VERSION:
            return
        for raw in data.get("clips", []):
            try:
                info = ClipInfo(**raw)
            except TypeError:
                continue
            self.entries[info.path] = info

    def save(self) -> None:
        if self.index_file is None:
            return
        payload = {"version": INDEX_VERSION, "clips": [asdict(e) for e in self.entries.values()]}
        atomic_write_text(self.index_file, json.dumps(payload))

    def build(self, paths: Iterable[str | Path], *, workers: int = 4, progress: bool = False) -> dict[str, ClipInfo]:
        """Return ``{str(path): ClipInfo}`` for ``paths``, probing only clips that are new
        or whose size/mtime changed, and save the index when anything was probed."""
        resolved = [(str(p), Path(p).resolve()) for p in paths]
        out: dict[str, ClipInfo] = {}
        todo: list[tuple[str, Path]] = []
        for original, real in resolved:
            entry = self.entries.get(str(real))
            try:
                stamp = _stamp(real)
            except OSError:
                stamp = (-1, -1)
            if entry is not None and (entry.size, entry.mtime_ns) == stamp and stamp != (-1, -1):
                out[original] = entry
            else:
                todo.append((original, real))
        self.probed = len(todo)
        if todo:
            infos = self._probe_all([real for _, real in todo], workers, progress)
            for (original, real), info in zip(todo, infos):
                info = ClipInfo(**{**asdict(info), "path": str(real)})
                if info.size >= 0:  # missing files are not remembered
                    self.entries[str(real)] = info
                out[original] = info
            self.save()
        return out

    @staticmethod
    def _probe_all(paths: list[Path], workers: int, progress: bool) -> list[ClipInfo]:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(paths), desc="indexing clips", unit="clip", disable=not progress)
        try:
            if workers <= 1 or len(paths) < 8:
                infos = []
                for p in paths:
                    infos.append(probe_clip(p))
                    bar.update()
                return infos
            with ThreadPoolExecutor(max_workers=workers) as pool:  # PyAV releases the GIL
                infos = []
                for info in pool.map(probe_clip, paths):
                    infos.append(info)
                    bar.update()
                return infos
        finally:
            bar.close()


def default_index_file(root: Path, cache_dir: Path | None = None) -> Path:
    """``<cache_dir>/index/<folder name>-<hash of its path>.json``."""
    import hashlib

    if cache_dir is None:
        from helpers.settings import get_settings

        cache_dir = get_settings().cache_dir
    real = Path(root).resolve()
    digest = hashlib.sha1(str(real).encode("utf-8", "surrogateescape")).hexdigest()[:10]
    return Path(cache_dir) / "index" / f"{real.name}-{digest}.json"


def summarize_index(infos: dict[str, ClipInfo]) -> dict[str, Any]:
    """Counts a notebook can print: clips, failures, frames and fps ranges, audio."""
    good = [i for i in infos.values() if i.ok]
    frames = [i.num_frames for i in good]
    fps = [i.fps for i in good]
    return {
        "clips": len(infos),
        "unreadable": len(infos) - len(good),
        "with_audio": sum(i.has_audio for i in good),
        "frames_min": min(frames) if frames else 0,
        "frames_max": max(frames) if frames else 0,
        "fps_min": min(fps) if fps else 0.0,
        "fps_max": max(fps) if fps else 0.0,
    }
