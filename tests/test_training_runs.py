"""The life of a run outside the straight path: Ctrl-C and resume, other data in the
models folder, split files of another dataset nearby, and two writers at once."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from helpers.training import load_or_train
from helpers.training.experiment import find_splits_dir
from training_data import make_hmdb51, tiny_config, use_tmp_settings

pytestmark = pytest.mark.timeout(300)
ROOT = Path(__file__).resolve().parents[1]
TINY = ["--smoke", "--num-frames", "4", "--crop", "16", "--no-progress"]


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    return make_hmdb51(tmp_path_factory.mktemp("hmdb"))


@pytest.fixture(scope="module")
def other_clips(tmp_path_factory):
    """Other data: two classes instead of three."""
    return make_hmdb51(tmp_path_factory.mktemp("other"), classes=2)


def env_for(tmp: Path, models: str = "models", runs: str = "runs") -> dict[str, str]:
    env = dict(os.environ, HELPERS_DATA_DIR=str(tmp / "data"), HELPERS_MODELS_DIR=str(tmp / models),
               HELPERS_RUNS_DIR=str(tmp / runs), HELPERS_DEVICE="cpu", PYTHONUNBUFFERED="1",
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def train_cmd(clips: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "helpers", "train", "--model", "moe", "--split", "1", "--data", str(clips),
            *TINY, *extra]


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def test_ctrl_c_mid_epoch_then_the_same_command_resumes_to_the_uninterrupted_weights(clips, tmp_path):
    # 16 frames a clip (the last --num-frames wins): epochs 2-4 take long enough that the
    # interrupt lands before the run can finish, even when this process reads the log late
    cmd = train_cmd(clips, "--epochs", "4", "--batch-size", "2", "--num-frames", "16")
    reference = subprocess.run(cmd, env=env_for(tmp_path / "ref"), capture_output=True, text=True, timeout=240)
    assert reference.returncode == 0, reference.stderr

    env = env_for(tmp_path / "run")
    # SIGINT answered as at a terminal even when this test runs under a shell that ignores it
    # (a background job: children inherit the ignore, and Python then never raises Ctrl-C)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    for line in proc.stdout:  # the first epoch's log line: it is saved, the second has begun
        if line.startswith("epoch 1/4"):
            proc.send_signal(signal.SIGINT)
            break
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    last_line = err.strip().splitlines()[-1]
    assert last_line.startswith("train: interrupted during epoch ") and "last.pth" in last_line, err
    saved = re.search(r"; epoch (\d+) is saved in ", last_line)
    done = int(saved.group(1)) if saved else 0
    assert 1 <= done < 4 and f"resume from epoch {done + 1}" in last_line

    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert again.returncode == 0, again.stderr
    assert f"resumed from epoch {done}" in again.stdout
    summary = last_json(again.stdout)
    assert summary["trained"] and summary["resumed"] and summary["finished"] and summary["epochs"] == 4
    history = json.loads((tmp_path / "run" / "runs" / "moe_split1" / "history.json").read_text())
    assert [r["epoch"] for r in history] == [1, 2, 3, 4]

    ref = torch.load(tmp_path / "ref" / "runs" / "moe_split1" / "last.pth", weights_only=True)
    got = torch.load(tmp_path / "run" / "runs" / "moe_split1" / "last.pth", weights_only=True)
    for key, value in ref["model"].items():
        assert torch.equal(value, got["model"][key]), key
    assert got["finished"] and torch.load(summary["checkpoint"], weights_only=True)["finished"]

    loaded = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert loaded.returncode == 0 and last_json(loaded.stdout)["trained"] is False


def test_force_keeps_the_old_checkpoint_until_the_new_run_has_finished(clips, tmp_path, monkeypatch):
    use_tmp_settings(monkeypatch, tmp_path)
    first = load_or_train("moe", 1, config=tiny_config(epochs=1), data=clips)
    kept = first.checkpoint.read_bytes()

    from helpers.training import Callback, StopTraining

    class StopAfterFirstEpoch(Callback):
        def on_epoch_end(self, trainer, record):
            raise StopTraining

    stopped = load_or_train("moe", 1, config=tiny_config(epochs=3, seed=1), data=clips, force=True,
                            callbacks=[StopAfterFirstEpoch()])
    assert not stopped.finished and first.checkpoint.read_bytes() == kept
    assert stopped.checkpoint == tmp_path / "runs" / "moe_split1" / "best.pth"
    resumed = load_or_train("moe", 1, config=tiny_config(epochs=3, seed=1), data=clips)
    assert resumed.resumed and resumed.finished and resumed.epochs == 3
    saved = torch.load(first.checkpoint, weights_only=True)
    assert saved["config"]["seed"] == 1 and saved["finished"]


def test_a_model_of_other_data_is_never_loaded_or_resumed(clips, other_clips, tmp_path, monkeypatch, capsys):
    use_tmp_settings(monkeypatch, tmp_path)
    first = load_or_train("moe", 1, config=tiny_config(epochs=1), data=clips)
    assert len(first.class_names) == 3

    second = load_or_train("moe", 1, config=tiny_config(epochs=1), data=other_clips)
    out = capsys.readouterr().out
    assert second.trained and len(second.class_names) == 2 and second.checkpoint != first.checkpoint
    assert "trained on other data" in out and str(first.checkpoint) in out
    assert second.checkpoint.name.startswith("moe_split1_") and second.checkpoint.name.endswith("_best.pth")

    again = load_or_train("moe", 1, config=tiny_config(epochs=1), data=other_clips)
    assert not again.trained and again.checkpoint == second.checkpoint
    back = load_or_train("moe", 1, config=tiny_config(epochs=1), data=clips)
    assert not back.trained and back.checkpoint == first.checkpoint and len(back.class_names) == 3
    # what predict, evaluation and the widget open by default: the model of the data in use
    from helpers.training.load import default_checkpoint

    assert default_checkpoint("moe", 1, data=other_clips) == second.checkpoint
    assert default_checkpoint("moe", 1, data=clips) == first.checkpoint

    # the best checkpoint gone, the run folder's last.pth of the 3-class data left
    first.checkpoint.unlink()
    last = tmp_path / "runs" / "moe_split1" / "last.pth"
    state = torch.load(last, weights_only=True)
    torch.save({**state, "finished": False}, last)
    second.checkpoint.unlink()
    third = load_or_train("moe", 1, config=tiny_config(epochs=1), data=other_clips)
    assert third.trained and not third.resumed and len(third.class_names) == 2


def test_split_files_are_looked_for_in_and_next_to_the_data_only(clips, tmp_path):
    found = find_splits_dir(clips)
    assert found == clips.parent / "splits" / "testTrainMulti_7030_splits"

    # clips without split files; another dataset's split files deeper under the parent
    data = tmp_path / "mine" / "videos"
    shutil.copytree(clips, data)
    stray = tmp_path / "mine" / "downloads" / "other_dataset" / "testTrainMulti_7030_splits"
    shutil.copytree(found, stray)
    with pytest.raises(FileNotFoundError, match="no testTrainMulti_7030_splits/ folder") as err:
        find_splits_dir(data)
    assert str(data.parent) in str(err.value)

    # split files next to the data, but of other classes: passed over, and said so
    beside = tmp_path / "mine" / "splits" / "testTrainMulti_7030_splits"
    beside.mkdir(parents=True)
    (beside / "brush_hair_test_split1.txt").write_text("a.avi 1\n")
    with pytest.raises(FileNotFoundError, match="brush_hair") as err:
        find_splits_dir(data)
    assert str(beside) in str(err.value)


def test_two_train_processes_on_one_folder_one_is_refused_naming_the_other(clips, tmp_path):
    env = env_for(tmp_path)
    cmd = train_cmd(clips, "--epochs", "3", "--batch-size", "4")  # ~1.5 s an epoch: time to stop it
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    owner = tmp_path / "models" / "moe_split1_best.pth.lock.owner"
    deadline = time.monotonic() + 120
    while not owner.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert owner.exists(), first.communicate()[1]
    first.send_signal(signal.SIGSTOP)  # hold it mid-run while the second one tries
    try:
        # the harness, not the lock, when the first ran to its end before it was stopped
        assert first.poll() is None and owner.exists(), "the first run ended before it could be held"
        second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        other_models = subprocess.run(cmd + ["--models-dir", str(tmp_path / "models2")], env=env,
                                      capture_output=True, text=True, timeout=120)
    finally:
        first.send_signal(signal.SIGCONT)
    out, err = first.communicate(timeout=240)
    assert first.returncode == 0, err
    assert second.returncode == 1 and f"process {first.pid}" in second.stderr, (second.stdout, second.stderr)
    assert "moe_split1_best.pth is being written" in second.stderr
    assert other_models.returncode == 1 and f"process {first.pid}" in other_models.stderr  # the shared run folder
    assert "runs/moe_split1 is being written" in other_models.stderr
    summary = last_json(out)
    saved = torch.load(summary["checkpoint"], weights_only=True)
    assert saved["best_metric"] == pytest.approx(summary["best_val_acc"], abs=1e-6)
    assert not owner.exists()


def test_data_as_synth_download_and_fetch_leave_it_or_the_command_that_makes_it_usable(clips, tmp_path,
                                                                                          monkeypatch, capsys):
    from helpers.training.cli import main as train_main
    from helpers.training.experiment import find_annotations, usable_data_dir

    use_tmp_settings(monkeypatch, tmp_path)
    archives = clips.parent / "origin"  # what `python -m helpers synth --layout hmdb51` wrote
    assert (archives / "hmdb51_org.rar").is_file()
    assert train_main(["--model", "moe", "--data", str(archives), "--smoke"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds the HMDB51 archives" in err[0]
    assert f"python -m helpers extract {archives / 'hmdb51_org.rar'}" in err[0]

    assert usable_data_dir("moe", clips.parent) == clips  # fetch-hmdb51's root: videos/ and splits/

    kinetics = tmp_path / "kinetics"
    (kinetics / "grow").mkdir(parents=True)
    (kinetics / "grow" / "a.mp4").write_bytes(b"")
    (kinetics / "annotations.json").write_text("[]")
    with pytest.raises(FileNotFoundError, match="needs the HMDB51 layout .*use --model multimodal"):
        find_splits_dir(kinetics)
    with pytest.raises(FileNotFoundError, match="annotations.json and annotations.csv.*use --model moe"):
        find_annotations(clips)
