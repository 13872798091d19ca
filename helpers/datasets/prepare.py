"""Find the data notebook 01 left, or make the small stand-in so notebook 02 (and its
nbval run) can also start on its own.

``ensure_demo_data`` returns where the HMDB51 clips/splits and the Kinetics-style
stand-in live. When notebook 01 has not run: in smoke mode (or with
``generate_if_missing=True``) it runs the same pipeline as 01 on the generated stand-in
(generate → serve on 127.0.0.1 → download → extract); otherwise it raises
:class:`helpers.fetch_hmdb51.DatasetNotReady` saying to run notebook 01 first, because a full
download is not something a datasets notebook should start behind your back.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from helpers.settings import Settings, get_settings


@dataclass(frozen=True)
class DemoData:
    """Paths notebook 02 builds its datasets from."""

    source: str  # "hmdb51" (the real data) or "synth" (the generated stand-in)
    hmdb51_dir: Path  # <class>/<clip>.avi
    splits_dir: Path  # <class>_test_split{1,2,3}.txt
    kinetics_dir: Path  # <class>/<clip>.mp4 + annotations.json/.csv
    generated_now: bool = False

    @property
    def kinetics_annotations(self) -> Path:
        return self.kinetics_dir / "annotations.json"


def ensure_demo_data(
    settings: Settings | None = None,
    *,
    generate_if_missing: bool | None = None,
    progress: bool = False,
) -> DemoData:
    """Paths of the active HMDB51 copy and of the Kinetics-style stand-in, generating
    the stand-in when allowed (default: at the smoke and demo sizes) and nothing is there yet."""
    from helpers.fetch_hmdb51 import DatasetNotReady, active_dataset, ensure_kinetics_standin, fetch_hmdb51

    s = settings or get_settings()
    allowed = s.size != "full" if generate_if_missing is None else generate_if_missing
    generated = False
    try:
        paths = active_dataset(s)
    except DatasetNotReady as exc:
        if not allowed:
            raise DatasetNotReady(
                f"{exc}\nRun notebooks/01_download_extract.ipynb first (or set SMOKE=1 to "
                "generate the small stand-in here)."
            ) from None
        print("notebook 01 has not run here: generating the small stand-in dataset (as 01 would)")
        paths = fetch_hmdb51("synth", s, progress=progress)
        generated = True
    kinetics = ensure_kinetics_standin(s, progress=progress)
    if not (kinetics / "annotations.json").is_file():
        raise DatasetNotReady(f"{kinetics} has no annotations.json: run notebooks/01_download_extract.ipynb")
    return DemoData(
        source=str(paths.source),
        hmdb51_dir=Path(paths.videos_dir),
        splits_dir=Path(paths.splits_dir),
        kinetics_dir=Path(kinetics),
        generated_now=generated,
    )


def broken_clip_folder(dest: Path, good_clips: list[Path], class_name: str = "mixed") -> Path:
    """A class-folder dataset for demonstrating failure handling: copies of
    ``good_clips`` plus a zero-byte ``.avi`` and a text file named ``.avi``."""
    import shutil

    folder = Path(dest) / class_name
    folder.mkdir(parents=True, exist_ok=True)
    for clip in good_clips:
        target = folder / Path(clip).name
        if not target.exists():
            shutil.copyfile(clip, target)
    (folder / "zero_bytes.avi").write_bytes(b"")
    (folder / "not_a_video.avi").write_text("this text file only pretends to be a video\n")
    return Path(dest)
