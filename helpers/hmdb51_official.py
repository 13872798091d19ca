"""Where the official HMDB51 archives live, and what their bytes must be.

Why a module of data: the download code verifies what it fetches, so the expected
sizes and checksums must be written down once, each with the public source it was
taken from. A value no source states is left ``None`` (never guessed): the
downloader then checks only what is known and records a ``.sha256`` of its own.

Sources (repository + path; all public):

* URLs: pytorch/vision ``torchvision/datasets/hmdb51.py`` (``data_url`` and
  ``splits["url"]``). The ``http://`` URLs answer ``302`` to the same path over
  ``https://``, which ``requests`` follows (seen in the wget log below).
* sha256 of both archives: pytorch/vision
  ``torchvision/prototype/datasets/_builtin/hmdb51.py`` (``HttpResource(...,
  sha256=...)``).
* md5 of ``test_train_splits.rar``: pytorch/vision ``torchvision/datasets/hmdb51.py``
  (``splits["md5"]``). No public source found states an md5 for ``hmdb51_org.rar``.
* sizes: kiyoon/PyVideoAI-examples ``01-Prepare_HMDB51.ipynb``, a recorded wget run
  (2021-06-13) against the official server: ``hmdb51_org.rar`` "saved
  [2124008126/2124008126]", ``test_train_splits.rar`` "saved [199521/199521]".
* class names: pytorch/vision ``torchvision/prototype/datasets/_builtin/hmdb51.categories``
  (51 names, generated from the split file names), which agree with the 51
  per-class RARs listed when that same notebook unpacks ``hmdb51_org.rar``.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ArchiveSource:
    """One downloadable archive: where it is and what it must hash to."""

    name: str
    url: str
    filename: str
    size: int | None
    md5: str | None
    sha256: str | None


HMDB51_HOMEPAGE = "https://serre-lab.clps.brown.edu/resource/hmdb-a-large-human-motion-database/"

HMDB51_VIDEOS = ArchiveSource(
    name="videos",
    url="http://serre-lab.clps.brown.edu/wp-content/uploads/2013/10/hmdb51_org.rar",
    filename="hmdb51_org.rar",
    size=2_124_008_126,  # kiyoon/PyVideoAI-examples 01-Prepare_HMDB51.ipynb (wget log)
    md5=None,  # not stated by any source found
    # pytorch/vision torchvision/prototype/datasets/_builtin/hmdb51.py
    sha256="9e714a0d8b76104d76e932764a7ca636f929fff66279cda3f2e326fa912a328e",
)

HMDB51_SPLITS = ArchiveSource(
    name="splits",
    url="http://serre-lab.clps.brown.edu/wp-content/uploads/2013/10/test_train_splits.rar",
    filename="test_train_splits.rar",
    size=199_521,  # kiyoon/PyVideoAI-examples 01-Prepare_HMDB51.ipynb (wget log)
    md5="15e67781e70dcfbdce2d7dbb9b3344b5",  # pytorch/vision torchvision/datasets/hmdb51.py
    # pytorch/vision torchvision/prototype/datasets/_builtin/hmdb51.py
    sha256="229c94f845720d01eb3946d39f39292ea962d50a18136484aa47c1eba251d2b7",
)

HMDB51_ARCHIVES: tuple[ArchiveSource, ...] = (HMDB51_VIDEOS, HMDB51_SPLITS)

# pytorch/vision torchvision/prototype/datasets/_builtin/hmdb51.categories (sorted).
HMDB51_CLASSES: tuple[str, ...] = (
    "brush_hair", "cartwheel", "catch", "chew", "clap", "climb", "climb_stairs",
    "dive", "draw_sword", "dribble", "drink", "eat", "fall_floor", "fencing",
    "flic_flac", "golf", "handstand", "hit", "hug", "jump", "kick", "kick_ball",
    "kiss", "laugh", "pick", "pour", "pullup", "punch", "push", "pushup",
    "ride_bike", "ride_horse", "run", "shake_hands", "shoot_ball", "shoot_bow",
    "shoot_gun", "sit", "situp", "smile", "smoke", "somersault", "stand",
    "swing_baseball", "sword", "sword_exercise", "talk", "throw", "turn", "walk",
    "wave",
)


