"""Get HMDB51 onto disk: pick where it comes from, download, extract, summarize.

Sources, in the order ``source="auto"`` tries them:

1. an extracted copy already under ``data/`` (a previous run),
2. a Kaggle dataset attached under ``/kaggle/input`` (archives or extracted clips),
3. the official archives already placed in ``data/hmdb51/archives/``,
4. the official URLs, when they answer,
5. otherwise the generated stand-in (:mod:`helpers.synth`), packed exactly like the
   official archives and served over HTTP on 127.0.0.1, so download → extract → parse
   runs the same code as on Kaggle. Smoke mode always uses the stand-in.

The result is recorded in ``data/active_dataset.json`` so later notebooks find the
clips with :func:`active_dataset` without knowing where they came from.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from helpers.atomic import atomic_write_text
from helpers.settings import Settings, find_kaggle_hmdb51, get_settings

Source = Literal["hmdb51", "synth"]
SPLITS_FOLDER = "testTrainMulti_7030_splits"
VIDEO_ARCHIVE = "hmdb51_org.rar"
SPLITS_ARCHIVE = "test_train_splits.rar"
ACTIVE_FILE = "active_dataset.json"
GENERATED_STAMP = ".generated.json"  # beside generated archives: the generator config
EXTRACTED_FROM = ".extracted_from.json"  # in a stand-in copy: the stamp of its archives
ACQUIRE_HINT = (
    "attach the HMDB51 Kaggle dataset (Add data → search 'hmdb51'), turn the notebook's "
    "internet on, or place hmdb51_org.rar and test_train_splits.rar in {archives}"
)


class DatasetNotReady(FileNotFoundError):
    """Raised when a notebook needs data that an earlier notebook produces."""


@dataclass(frozen=True)
class HMDB51Paths:
    """Where one copy of HMDB51 (real or generated) lives on disk."""

    source: Source
    root: Path  # everything for this source lives below it (except Kaggle input)
    archives_dir: Path  # downloaded archives
    videos_dir: Path  # <class>/<clip>.avi
    splits_dir: Path  # <class>_test_split{1,2,3}.txt

    def to_json(self) -> dict[str, str]:
        return {k: str(v) for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict[str, str]) -> "HMDB51Paths":
        return cls(
            source=data["source"],  # type: ignore[arg-type]
            **{k: Path(data[k]) for k in ("root", "archives_dir", "videos_dir", "splits_dir")},
        )


def paths_for(source: Source, settings: Settings | None = None) -> HMDB51Paths:
    """The folder layout for a source: ``data/hmdb51/…`` or ``<synth home>/hmdb51/…``
    (:func:`synth_home`)."""
    s = settings or get_settings()
    root = s.data_dir / "hmdb51" if source == "hmdb51" else synth_home(s) / "hmdb51"
    return HMDB51Paths(
        source=source,
        root=root,
        archives_dir=root / "archives",
        videos_dir=root / "videos",
        splits_dir=root / "splits" / SPLITS_FOLDER,
    )


def synth_home(settings: Settings | None = None) -> Path:
    """Where the notebooks' stand-in lives: ``settings.synth_dir``, or, when
    ``HELPERS_SYNTH_CLASSES``/``HELPERS_SYNTH_CLIPS`` resize it for a rehearsal,
    ``<synth_dir>/variants/<names>-<classes>x<clips>`` (kept apart, so the usual
    stand-in stays cached and a rehearsal never reads it)."""
    from helpers.synth.overrides import env_overrides

    s = settings or get_settings()
    if not env_overrides():
        return s.synth_dir
    c = synth_config(s)
    return s.synth_dir / "variants" / f"{c.names}-{c.classes}x{c.clips_per_class}"


def synth_origin_dir(settings: Settings | None = None) -> Path:
    """Where the generated archives are written before being served over HTTP."""
    return synth_home(settings) / "hmdb51_origin"


def kinetics_dir(settings: Settings | None = None) -> Path:
    """The generated Kinetics-style dataset (clips with audio, captions, annotations)."""
    return synth_home(settings) / "kinetics"


def is_extracted(paths: HMDB51Paths) -> bool:
    """True when clips and split files are both in place."""
    return (
        paths.videos_dir.is_dir()
        and any(p.is_dir() for p in paths.videos_dir.iterdir())
        and paths.splits_dir.is_dir()
        and any(paths.splits_dir.glob("*_test_split1.txt"))
    )


def official_reachable(timeout: float = 5.0) -> bool:
    """Does the official HMDB51 host answer? (HEAD, short timeout, never raises)."""
    import requests

    from helpers.hmdb51_official import HMDB51_ARCHIVES

    try:
        r = requests.head(HMDB51_ARCHIVES[0].url, timeout=timeout, allow_redirects=True)
        return r.status_code < 400
    except requests.RequestException:
        return False


@dataclass(frozen=True)
class SourceChoice:
    source: Source
    reason: str

    @property
    def banner(self) -> str:
        """One highly visible line for notebooks and `make run`."""
        if self.source == "synth":
            return (
                "=" * 78 + "\n"
                "USING THE GENERATED STAND-IN DATASET, NOT HMDB51\n"
                f"  why: {self.reason}\n"
                "  Figures in these notebooks are measured on generated motion clips.\n"
                "  For real HMDB51: attach it on Kaggle, enable internet, or put the\n"
                "  official archives in data/hmdb51/archives/.\n" + "=" * 78
            )
        return f"Using HMDB51: {self.reason}"


def choose_source(
    prefer: Literal["auto", "hmdb51", "synth"] = "auto",
    settings: Settings | None = None,
    check_network: bool = True,
) -> SourceChoice:
    """Decide between real HMDB51 and the generated stand-in, and say why."""
    s = settings or get_settings()
    if prefer == "synth":
        return SourceChoice("synth", "requested explicitly (DATA_SOURCE=synth)")
    if prefer == "auto" and s.smoke:
        return SourceChoice("synth", "smoke mode (SMOKE=1 or CI) uses the small generated dataset")
    if prefer == "auto" and s.size == "demo":
        return SourceChoice("synth", "the demo size (HELPERS_SIZE=demo, a CPU without a GPU) uses the "
                                     "generated dataset; HMDB51 needs the full size")
    real = paths_for("hmdb51", s)
    if is_extracted(real):
        return SourceChoice("hmdb51", f"already extracted in {real.videos_dir}")
    kaggle = find_kaggle_hmdb51()
    if kaggle is not None:
        return SourceChoice("hmdb51", f"Kaggle input at {kaggle}")
    if (real.archives_dir / VIDEO_ARCHIVE).exists():
        return SourceChoice("hmdb51", f"official archives found in {real.archives_dir}")
    if check_network and official_reachable():
        return SourceChoice("hmdb51", "official archives reachable online")
    if prefer == "hmdb51":
        raise DatasetNotReady(
            "HMDB51 was requested but is not available: "
            + ACQUIRE_HINT.format(archives=real.archives_dir)
        )
    return SourceChoice(
        "synth",
        "no HMDB51 at hand (no extracted copy, no Kaggle input, no local archives, "
        "official host unreachable)",
    )


def synth_config(settings: Settings | None = None):
    """The stand-in's size: smoke under SMOKE, the demo size otherwise; seeded; classes
    and clips per class as ``HELPERS_SYNTH_CLASSES``/``HELPERS_SYNTH_CLIPS`` say
    (:mod:`helpers.synth.overrides`: 13–51 classes take HMDB51's real names)."""
    from dataclasses import replace

    from helpers.synth import SynthConfig
    from helpers.synth.overrides import env_overrides

    s = settings or get_settings()
    base = SynthConfig.smoke() if s.smoke else SynthConfig.demo()
    return replace(base, seed=s.seed, **env_overrides())


def generate_synth_archives(settings: Settings | None = None, progress: bool = True) -> Path:
    """Write the stand-in's official-format archives (skipped when already there) and
    publish their checksums beside them, as a download server would."""
    s = settings or get_settings()
    origin = synth_origin_dir(s)
    _generate_once("hmdb51", origin, synth_config(s), progress)
    publish_checksums(origin)
    _drop_stale_copy(paths_for("synth", s).root, origin)
    return origin


def _drop_stale_copy(root: Path, origin: Path) -> None:
    """Delete a downloaded/extracted copy under ``root`` made from other archives than
    ``origin``'s (the generator config changed), then mark ``root`` as made from these:
    download and extraction skip a copy that is already there, so a stale one would
    otherwise be used as it is."""
    wanted = (origin / GENERATED_STAMP).read_text()
    mark = root / EXTRACTED_FROM
    if mark.is_file() and mark.read_text() == wanted:
        return
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    atomic_write_text(mark, wanted)


def ensure_kinetics_standin(settings: Settings | None = None, progress: bool = True) -> Path:
    """The Kinetics-style stand-in (clips with audio and captions): HMDB51 is silent,
    so the multi-modal notebooks use it whichever HMDB51 source is active."""
    s = settings or get_settings()
    out = kinetics_dir(s)
    _generate_once("kinetics", out, synth_config(s), progress)
    return out


@contextmanager
def archive_server(choice: "SourceChoice", settings: Settings | None = None, progress: bool = True):
    """Yield the base URL to download from: the generated archives served on
    127.0.0.1 for the stand-in, or None (official URLs) for real HMDB51."""
    if choice.source != "synth":
        yield None
        return
    from helpers.http_server import serve_directory

    origin = generate_synth_archives(settings, progress=progress)
    with serve_directory(origin) as base_url:
        yield base_url


def _generate_once(layout: str, out: Path, config, progress: bool) -> None:
    """Generate into ``out`` unless a previous run with the same config finished there."""
    from helpers.synth import generate

    stamp = out / GENERATED_STAMP
    wanted = json.dumps({"layout": layout, "config": config.to_dict()}, sort_keys=True)
    if stamp.exists() and stamp.read_text() == wanted:
        return
    if out.exists():
        shutil.rmtree(out)
    tmp = out.with_name(out.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    generate(layout, tmp, config, progress=progress)
    (tmp / GENERATED_STAMP).write_text(wanted)
    os.replace(tmp, out)


def download_archives(
    paths: HMDB51Paths, base_url: str | None = None, progress: bool = True
) -> dict[str, Path]:
    """Download both archives into ``paths.archives_dir``: from the official URLs, or
    from ``base_url`` (the local server that serves the generated archives). Nothing
    to do when the clips are already extracted (e.g. a Kaggle input of clips)."""
    from helpers.download import download
    from helpers.hmdb51_official import HMDB51_ARCHIVES

    hint = ACQUIRE_HINT.format(archives=paths.archives_dir)
    out: dict[str, Path] = {}
    if is_extracted(paths):
        return out
    for src in HMDB51_ARCHIVES:
        if (paths.archives_dir / src.filename).is_symlink():  # read-only Kaggle input
            out[src.filename] = paths.archives_dir / src.filename
            continue
        if base_url is None:
            url, size, md5, sha256 = src.url, src.size, src.md5, src.sha256
        else:  # generated archives: their own checksums, published beside them
            url = base_url.rstrip("/") + "/" + src.filename
            size, md5 = None, None
            sha256 = _published_sha256(base_url, src.filename)
        out[src.filename] = download(
            url, paths.archives_dir / src.filename, size=size, md5=md5, sha256=sha256,
            progress=progress, hint=hint,
        )
    return out


def _published_sha256(base_url: str, filename: str) -> str | None:
    """Read ``<file>.sha256`` next to an archive on a server, if it publishes one."""
    import requests

    try:
        r = requests.get(base_url.rstrip("/") + f"/{filename}.sha256", timeout=10)
    except requests.RequestException:
        return None
    if r.status_code != 200:
        return None
    return r.text.split()[0].strip() or None


def publish_checksums(folder: Path) -> None:
    """Write ``<archive>.sha256`` beside each archive a local server will publish."""
    from helpers.download import sha256_file, sidecar_path, write_sidecar

    for archive in sorted(folder.glob("*.rar")):
        sidecar = sidecar_path(archive)
        if not sidecar.exists() or sidecar.stat().st_mtime < archive.stat().st_mtime:
            write_sidecar(archive, sha256_file(archive))


def extract_archives(paths: HMDB51Paths, progress: bool = True) -> HMDB51Paths:
    """Extract the clips (nested per-class RARs) and the split files (idempotent)."""
    from helpers.archives import extract

    if is_extracted(paths):
        return paths
    extract(paths.archives_dir / VIDEO_ARCHIVE, paths.videos_dir, nested=True, progress=progress)
    extract(paths.archives_dir / SPLITS_ARCHIVE, paths.splits_dir.parent, nested=False, progress=progress)
    if not paths.splits_dir.is_dir():
        raise DatasetNotReady(
            f"{SPLITS_ARCHIVE} did not contain the expected folder {SPLITS_FOLDER}/ "
            f"(extracted to {paths.splits_dir.parent})"
        )
    return paths


def use_kaggle_input(kaggle_dir: Path, settings: Settings | None = None) -> HMDB51Paths:
    """Use a Kaggle-attached HMDB51: archives are copied nowhere (extracted from the
    read-only input), extracted clips are used in place."""
    paths = paths_for("hmdb51", settings)
    if (kaggle_dir / VIDEO_ARCHIVE).exists():
        paths.archives_dir.mkdir(parents=True, exist_ok=True)
        for name in (VIDEO_ARCHIVE, SPLITS_ARCHIVE):
            link = paths.archives_dir / name
            if (kaggle_dir / name).exists() and not link.exists():
                link.symlink_to(kaggle_dir / name)
        return paths
    splits = next(iter(sorted(kaggle_dir.parent.rglob(SPLITS_FOLDER))), None)
    return HMDB51Paths(
        source="hmdb51",
        root=paths.root,
        archives_dir=paths.archives_dir,
        videos_dir=kaggle_dir,
        splits_dir=splits if splits is not None else paths.splits_dir,
    )


def resolve_paths(choice: SourceChoice, settings: Settings | None = None) -> HMDB51Paths:
    """Where this source's archives, clips and split files go (or already are)."""
    s = settings or get_settings()
    if choice.source == "synth":
        return paths_for("synth", s)
    kaggle = find_kaggle_hmdb51()
    return use_kaggle_input(kaggle, s) if kaggle is not None else paths_for("hmdb51", s)


def fetch_hmdb51(
    source: Literal["auto", "hmdb51", "synth"] = "auto",
    settings: Settings | None = None,
    progress: bool = True,
) -> HMDB51Paths:
    """Everything notebook 01 does, in one call: choose, (generate and serve,)
    download, extract, and record the result for later notebooks."""
    s = settings or get_settings()
    choice = choose_source(source, s)
    print(choice.banner)
    paths = resolve_paths(choice, s)
    with archive_server(choice, s, progress=progress) as base_url:
        download_archives(paths, base_url=base_url, progress=progress)
    extract_archives(paths, progress=progress)
    ensure_kinetics_standin(s, progress=progress)
    record_active(paths, s)
    return paths


def record_active(paths: HMDB51Paths, settings: Settings | None = None) -> Path:
    """Remember which copy later notebooks should use (atomic write)."""
    s = settings or get_settings()
    s.data_dir.mkdir(parents=True, exist_ok=True)
    target = s.data_dir / ACTIVE_FILE
    return atomic_write_text(target, json.dumps(paths.to_json(), indent=2))


def active_dataset(settings: Settings | None = None) -> HMDB51Paths:
    """The HMDB51 copy notebook 01 prepared; a clear error when it has not run."""
    s = settings or get_settings()
    target = s.data_dir / ACTIVE_FILE
    if not target.exists():
        raise DatasetNotReady(
            f"no dataset recorded in {target}: run notebooks/01_download_extract.ipynb "
            "(or `python -m helpers fetch-hmdb51`) first"
        )
    paths = HMDB51Paths.from_json(json.loads(target.read_text()))
    if paths.source == "synth" and paths.root.resolve() != paths_for("synth", s).root.resolve():
        raise DatasetNotReady(
            f"the recorded stand-in {paths.root} is not the one these settings ask for "
            f"({paths_for('synth', s).root}; HELPERS_SYNTH_CLASSES/HELPERS_SYNTH_CLIPS differ): "
            "run notebooks/01_download_extract.ipynb again"
        )
    if not is_extracted(paths):
        raise DatasetNotReady(
            f"{paths.videos_dir} or {paths.splits_dir} is missing or empty: run "
            "notebooks/01_download_extract.ipynb again"
        )
    return paths


# --------------------------------------------------------------------------- summary


@dataclass(frozen=True)
class DatasetSummary:
    """What a person wants to know after extraction."""

    source: Source
    classes: list[str]
    clips_per_class: dict[str, int]
    split_sizes: dict[int, dict[str, int]]  # split -> {"train": n, "test": n, "unused": n}
    bytes_on_disk: int

    @property
    def num_clips(self) -> int:
        return sum(self.clips_per_class.values())

    def table(self):
        """Split sizes as a pandas DataFrame (rows: split 1–3)."""
        import pandas as pd

        return pd.DataFrame(self.split_sizes).T.rename_axis("split")

    def __str__(self) -> str:
        lines = [
            f"source: {self.source}",
            f"classes: {len(self.classes)}   clips: {self.num_clips}   "
            f"on disk: {self.bytes_on_disk / 2**20:.1f} MiB",
        ]
        for split, sizes in sorted(self.split_sizes.items()):
            lines.append(
                f"split {split}: train {sizes['train']}  test {sizes['test']}  unused {sizes['unused']}"
            )
        return "\n".join(lines)


def summarize(paths: HMDB51Paths) -> DatasetSummary:
    """Classes, clips per class, split sizes and the size on disk of an extracted copy."""
    from helpers.datasets.splits import SPLITS, split_counts, total_counts

    classes = sorted(p.name for p in paths.videos_dir.iterdir() if p.is_dir())
    clips = {c: sum(1 for _ in (paths.videos_dir / c).glob("*.avi")) for c in classes}
    size = sum(f.stat().st_size for f in paths.videos_dir.rglob("*") if f.is_file())
    splits = {k: total_counts(split_counts(paths.splits_dir, k)) for k in SPLITS}
    return DatasetSummary(paths.source, classes, clips, splits, size)


def thumbnail_grid(
    paths: HMDB51Paths, classes: Sequence[str] | None = None, per_class: int = 4, seed: int = 0
):
    """A grid of middle frames: one row per class, ``per_class`` random clips each."""
    import matplotlib.pyplot as plt
    import numpy as np

    from helpers.video import open_video

    all_classes = sorted(p.name for p in paths.videos_dir.iterdir() if p.is_dir())
    rng = np.random.default_rng(seed)
    if classes is None:
        classes = list(rng.choice(all_classes, size=min(4, len(all_classes)), replace=False))
    fig, axes = plt.subplots(
        len(classes), per_class, figsize=(2.2 * per_class, 1.9 * len(classes)), squeeze=False
    )
    for row, cls in enumerate(classes):
        clips = sorted((paths.videos_dir / cls).glob("*.avi"))
        picks = rng.choice(len(clips), size=min(per_class, len(clips)), replace=False)
        for col in range(per_class):
            ax = axes[row][col]
            ax.axis("off")
            if col >= len(picks):
                continue
            clip = clips[picks[col]]
            with open_video(clip) as reader:
                middle = reader.metadata.num_frames // 2
                frame = reader.frames([middle])[0]
            ax.imshow(frame)
            ax.set_title(f"{cls}\nframe {middle}", fontsize=8)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m helpers fetch-hmdb51 [--source auto|hmdb51|synth]``."""
    parser = argparse.ArgumentParser(
        prog="python -m helpers fetch-hmdb51",
        description="Download and extract HMDB51, or the generated stand-in when it is not reachable.",
    )
    parser.add_argument("--source", choices=["auto", "hmdb51", "synth"], default="auto")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    try:
        paths = fetch_hmdb51(args.source, progress=not args.no_progress)
    except Exception as exc:  # CLI: one line, non-zero exit
        print(f"fetch-hmdb51: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(summarize(paths))
    return 0
