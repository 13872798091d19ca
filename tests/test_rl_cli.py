"""`python -m helpers rl`: notebook 05 from a shell, end to end on tiny generated clips."""
from __future__ import annotations

import json

from training_data import make_kinetics, use_tmp_settings


def test_rl_cli_trains_saves_a_replayable_sampler_and_prints_the_summary(tmp_path, monkeypatch, capsys):
    from helpers.inference.rl_sampler import load_rl_sampler
    from helpers.rl.cli import main

    use_tmp_settings(monkeypatch, tmp_path)
    monkeypatch.setenv("SMOKE", "1")
    data = make_kinetics(tmp_path / "clips", classes=3, clips_per_class=6)
    out = tmp_path / "sampler.pt"
    rc = main(["--data", str(data), "--episodes", "30", "--num-positions", "6", "--head-epochs", "2",
               "--max-frames", "3", "--out", str(out), "--json", "--no-progress",
               "--checkpoint", str(tmp_path / "no_such_checkpoint.pth")])  # smoke: optical-flow features
    assert rc == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert "DQN" not in captured.err and "features train" not in captured.err  # no progress bars
    assert summary["benchmark"] == "rl_sampling" and summary["sampler"] == str(out)
    assert 0.0 <= summary["agent_accuracy"] <= 1.0
    assert 1.0 <= summary["agent_mean_frames"] <= 3.0  # never past --max-frames
    sampler = load_rl_sampler(out)  # the bundle notebook 08 replays, not just the agent's weights
    assert sampler.num_positions == 6 and len(sampler.classes) == 3
    assert sampler.encoder == "flow" and sampler.env_config.max_frames == 3


def test_rl_cli_rejects_impossible_settings(capsys):
    from helpers.rl.cli import main

    assert main(["--episodes", "0"]) == 2
    assert "--episodes" in capsys.readouterr().err


def test_rl_cli_defaults_follow_the_size():
    from helpers.rl.cli import build_parser

    episodes = {size: build_parser(size).parse_args([]).episodes for size in ("smoke", "demo", "full")}
    assert episodes["smoke"] < episodes["demo"] < episodes["full"]
