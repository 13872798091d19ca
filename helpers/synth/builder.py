"""Generate the whole stand-in dataset in one of the two layouts.

Clips are rendered and encoded in worker processes (each clip is independent and
seeded by (seed, label, index), so the output bytes do not depend on the number of
workers), then packed in a fixed order.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from helpers.synth.config import SynthConfig
from helpers.synth import layouts

Layout = Literal["hmdb51", "kinetics"]
LAYOUTS: tuple[str, ...] = ("hmdb51", "kinetics")


@dataclass
class SynthResult:
    """What :func:`generate` wrote. ``paths`` lists every file, archives and index files
    first; ``clip_counts`` is per class; ``split_counts`` counts clips per split name
    (hmdb51: split 1's train/test/unused)."""

    layout: str
    out: Path
    class_names: tuple[str, ...]
    paths: list[Path]
    clip_counts: dict[str, int]
    split_counts: dict[str, int]
    seconds: float
    records: list[dict] = field(repr=False, default_factory=list)

    @property
    def num_clips(self) -> int:
        return sum(self.clip_counts.values())

    def summary(self) -> str:
        """One line for logs and the CLI."""
        splits = ", ".join(f"{k} {v}" for k, v in self.split_counts.items())
        return (f"synth: {self.layout} layout, {len(self.class_names)} classes, {self.num_clips} clips "
                f"({splits}) in {self.out} [{self.seconds:.1f} s]")


def config_dict(config: SynthConfig) -> dict:
    """The config as JSON-ready values (see :meth:`SynthConfig.to_dict`)."""
    return config.to_dict()


def _render_encoded(task: tuple[str, SynthConfig, str, int, int]) -> tuple[dict, bytes]:
    """Worker: render one clip and encode it for the layout; returns (record, file bytes)."""
    from helpers.synth.clip import render_clip
    from helpers.synth.encode import encode_video

    layout, config, class_name, label, seed = task
    kinetics = layout == "kinetics"
    clip = render_clip(class_name, config, seed, audio=kinetics)
    data = encode_video(clip.frames, config.fps, container=".mp4" if kinetics else ".avi",
                        audio=clip.audio, sample_rate=config.sample_rate,
                        options={"preset": config.x264_preset} if kinetics else None)
    record = {
        "class": class_name,
        "class_name": class_name,
        "label": label,
        "caption": clip.caption,
        "event_start": clip.event_start,
        "event_end": clip.event_end,
        "dissolve_end": clip.dissolve_end,
        "num_frames": clip.num_frames,
        "fps": config.fps,
        "seed": seed,
        "has_audio": kinetics,
        "attributes": clip.attributes,
    }
    return record, data


def _clips(layout: str, config: SynthConfig, workers: int, progress: bool) -> Iterator[tuple[dict, bytes]]:
    """(record, bytes) for every clip, in (label, index) order."""
    from tqdm.auto import tqdm

    from helpers.synth.clip import clip_seed

    tasks = [(layout, config, name, label, clip_seed(config.seed, label, index))
             for label, name in enumerate(config.class_names)
             for index in range(config.clips_per_class)]
    bar = tqdm(total=len(tasks), desc=f"synth {layout}", unit="clip", disable=not progress)
    try:
        if workers <= 1:
            for task in tasks:
                yield _render_encoded(task)
                bar.update()
        else:
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(max_workers=workers) as pool:
                for item in pool.map(_render_encoded, tasks, chunksize=2):
                    yield item
                    bar.update()
    finally:
        bar.close()


def default_workers() -> int:
    """One worker per CPU core, at most 8."""
    return max(1, min(os.cpu_count() or 1, 8))


def generate(layout: Layout, out: Path, config: SynthConfig | None = None, progress: bool = True,
             workers: int | None = None) -> SynthResult:
    """Generate the dataset in ``layout`` ("hmdb51" or "kinetics") under ``out``.

    ``config`` defaults to :meth:`SynthConfig.smoke`. Same config → same bytes.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    config = config or SynthConfig.smoke()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    workers = default_workers() if workers is None else int(workers)
    started = time.perf_counter()
    clips = _clips(layout, config, workers, progress)
    if layout == "hmdb51":
        paths, records, split_counts = _write_hmdb51(out, config, clips)
    else:
        paths, records, split_counts = _write_kinetics(out, config, clips)
    counts = {name: sum(r["class_name"] == name for r in records) for name in config.class_names}
    return SynthResult(layout=layout, out=out, class_names=config.class_names, paths=paths,
                       clip_counts=counts, split_counts=split_counts,
                       seconds=time.perf_counter() - started, records=records)


def _write_hmdb51(out: Path, config: SynthConfig, clips) -> tuple[list[Path], list[dict], dict[str, int]]:
    from helpers.rar import write_rar
    from helpers.synth.encode import write_bytes_atomic

    m = config.clips_per_class
    records: list[dict] = []
    class_rars: dict[str, Path] = {}
    staging = Path(tempfile.mkdtemp(prefix=".synth-", dir=out))
    try:
        members: list[tuple[str, bytes]] = []
        for i, (record, data) in enumerate(clips):
            name = record["class_name"]
            clip = layouts.hmdb51_clip_name(name, i % m)
            records.append({"video_path": f"{name}/{clip}", "clip": clip, **record})
            members.append((f"{name}/{clip}", data))
            if len(members) == m:  # a class is complete: pack it and let its bytes go
                class_rars[name] = write_rar(staging / f"{name}.rar", members)
                members = []
        org = write_rar(out / "hmdb51_org.rar",
                        [(f"{name}.rar", class_rars[name]) for name in sorted(class_rars)])
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    split_members = []
    for label, name in enumerate(config.class_names):
        mine = [r for r in records if r["class_name"] == name]
        tags = layouts.hmdb51_split_tags(m, config.seed, label)
        for r, *per_split in zip(mine, *tags):
            r["splits"] = per_split
        for s in range(3):
            split_members.append((f"{layouts.HMDB51_SPLITS_DIR}/{name}_test_split{s + 1}.txt",
                                  layouts.hmdb51_split_file([r["clip"] for r in mine], tags[s])))
    splits = write_rar(out / "test_train_splits.rar", sorted(split_members))
    manifest = write_bytes_atomic(out / "synth_manifest.json", layouts.manifest_json(
        "hmdb51", config_dict(config), list(config.class_names), records))
    first = [r["splits"][0] for r in records]
    split_counts = {"train": first.count(1), "test": first.count(2), "unused": first.count(0)}
    return [org, splits, manifest], records, split_counts


def _write_kinetics(out: Path, config: SynthConfig, clips) -> tuple[list[Path], list[dict], dict[str, int]]:
    from helpers.synth.encode import write_bytes_atomic

    m = config.clips_per_class
    split_names = {label: layouts.kinetics_split_names(m, config.seed, label)
                   for label in range(config.classes)}
    records: list[dict] = []
    clip_paths: list[Path] = []
    for i, (record, data) in enumerate(clips):
        name = record["class_name"]
        rel = f"{name}/{layouts.kinetics_clip_name(record['seed'], config.seconds)}"
        clip_paths.append(write_bytes_atomic(out / rel, data))
        records.append({"video_path": rel, **record, "split": split_names[record["label"]][i % m]})
    _remove_stale_clips(out, config, {p.resolve() for p in clip_paths})

    index = [
        write_bytes_atomic(out / "annotations.json", layouts.annotations_json(records)),
        write_bytes_atomic(out / "annotations.csv", layouts.annotations_csv(records)),
        *(write_bytes_atomic(out / f"{split}.txt", layouts.split_list(records, split))
          for split in ("train", "val", "test")),
        write_bytes_atomic(out / "synth_manifest.json", layouts.manifest_json(
            "kinetics", config_dict(config), list(config.class_names), records)),
    ]
    split_counts = {s: sum(r["split"] == s for r in records) for s in ("train", "val", "test")}
    return index + clip_paths, records, split_counts


def _remove_stale_clips(out: Path, config: SynthConfig, keep: set[Path]) -> None:
    """Drop ``.mp4`` files a previous run left in this run's class folders, so a
    folder-based loader sees exactly the annotated clips."""
    for name in config.class_names:
        for path in (out / name).glob("*.mp4"):
            if path.resolve() not in keep:
                path.unlink()
