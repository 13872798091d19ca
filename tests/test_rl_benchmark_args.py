"""``benchmarks/rl_sampling.py``'s dataset arguments: the event fraction names the
generated folder (so datasets and their run caches never mix) and reaches the summary."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "rl_sampling.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("rl_sampling_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_event_fraction_parses_and_names_the_dataset_folder(bench):
    assert bench.parse_fraction("1,1") == bench.parse_fraction("1") == (1.0, 1.0)
    assert bench.parse_fraction("0.12,0.2") == (0.12, 0.2)
    default = bench.dataset_name(0, bench.DEFAULT_EVENT_FRACTION)
    full = bench.dataset_name(0, (1.0, 1.0))
    assert default != full and "1.00-1.00" in full and "0.12-0.20" in default
    assert bench.dataset_name(0, (1, 1)) == full  # one folder however the fraction is written
    bigger = bench.dataset_name(0, (1, 1), clips_per_class=100)
    assert bigger != full and "100pc" in bigger and bench.dataset_name(0, (1, 1), bench.CLIPS_PER_CLASS) == full


def test_summary_fraction_comes_from_the_generated_manifest(bench, tmp_path):
    assert bench.dataset_event_fraction(tmp_path) is None
    (tmp_path / "synth_manifest.json").write_text(json.dumps({"config": {"event_fraction": [1, 1]}}))
    assert bench.dataset_event_fraction(tmp_path) == [1.0, 1.0]


def test_event_fraction_does_not_apply_to_a_given_dataset(bench, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--data", str(tmp_path), "--event-fraction", "1,1"])
    assert exit_info.value.code == 2 and "--event-fraction" in capsys.readouterr().err
