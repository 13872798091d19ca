"""Shared test set-up: headless plotting, and no accidental network or GPU use."""
from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the Hugging Face hub in tests
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
