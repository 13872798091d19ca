"""helpers.widget: the pure upload handler and the ipywidgets layer driven headlessly
(FileUpload state set with real video bytes, ``Button.click()``)."""
from __future__ import annotations

import datetime as dt

import pytest



@pytest.fixture(scope="session")
def mp4_bytes(smoke_model):
    from helpers.synth.encode import encode_video

    return encode_video(smoke_model.best_frames, smoke_model.fps, container=".mp4")


def _value(name: str, data: bytes, mime: str = "video/mp4") -> tuple[dict, ...]:
    """What ipywidgets 8's FileUpload.value holds after an upload."""
    return ({"name": name, "type": mime, "size": len(data), "content": memoryview(data),
             "last_modified": dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)},)


def test_handle_upload_reads_and_predicts(smoke_model, predictor, mp4_bytes, tmp_path):
    from helpers.widget import handle_upload

    r = handle_upload(_value("my clip.mp4", mp4_bytes), workdir=tmp_path)
    assert r.ok and r.error is None and r.prediction is None
    assert r.metadata["num_frames"] == len(smoke_model.best_frames) and r.metadata["path"] == "my clip.mp4"
    assert r.thumbnails.shape[0] == 6 and r.thumbnails.shape[1] == 72 and r.size_bytes == len(mp4_bytes)
    assert "mp4" in r.metadata_text() and "no audio" in r.metadata_text()
    r = handle_upload(_value("my clip.mp4", mp4_bytes), predictor, workdir=tmp_path)
    assert r.label == smoke_model.best_class and len(r.top) == 2 and r.prediction.path == "my clip.mp4"
    assert list(tmp_path.iterdir()) == []  # the temporary folder is gone


@pytest.mark.parametrize("case, expected", [
    ("nothing", "No file uploaded yet"),
    ("text", "is not a video"),
    ("corrupt", "could not be read as a video"),
    ("too_large", "too large"),
    ("empty", "empty (0 bytes)"),
])
def test_handle_upload_errors_are_text(case, expected, mp4_bytes, tmp_path):
    from helpers.widget import handle_upload

    value, kwargs = {
        "nothing": ((), {}),
        "text": (_value("notes.txt", b"hello\n" * 10, "text/plain"), {}),
        "corrupt": (_value("broken.mp4", mp4_bytes[:300] + bytes(2000)), {}),
        "too_large": (_value("big.mp4", mp4_bytes), {"max_bytes": 1000}),
        "empty": (_value("empty.mp4", b""), {}),
    }[case]
    r = handle_upload(value, workdir=tmp_path, **kwargs)
    assert not r.ok and expected in r.error
    assert list(tmp_path.iterdir()) == []


def test_widget_driven_headlessly(smoke_model, predictor, mp4_bytes, tmp_path):
    from helpers.widget import build_upload_widget

    w = build_upload_widget(predictor, workdir=tmp_path)
    assert w.button.disabled and w.button.description == "Predict action"
    # what the front end sends: set_state runs FileUpload's deserializer (ms timestamps)
    w.upload.set_state({"value": [{"name": "clip.mp4", "type": "video/mp4", "size": len(mp4_bytes),
                                   "content": memoryview(mp4_bytes), "last_modified": 1767225600000}]})
    assert not w.button.disabled and "clip.mp4" in w.status.value and w.thumbs.value[:4] == b"\x89PNG"
    w.button.click()
    assert f"class='predicted-label'" in w.result_html.value
    assert f">{smoke_model.best_class}</span>" in w.result_html.value
    assert "Latency:" in w.result_html.value and w.chart.value[:4] == b"\x89PNG" and w.frames.value[:4] == b"\x89PNG"
    assert w.last_result.label == smoke_model.best_class
    # a broken upload: the error is shown in words and the button is disabled again
    w.upload.set_state({"value": [{"name": "broken.avi", "type": "video/x-msvideo", "size": 5000,
                                   "content": memoryview(b"RIFF" + bytes(4996)), "last_modified": 0}]})
    assert "could not be read as a video" in w.status.value and "upload-error" in w.status.value
    assert w.button.disabled and w.result_html.value == "" and w.chart.value == b""
    w.button.click()  # a click on a disabled-looking button still only shows text
    assert "could not be read as a video" in w.result_html.value
    assert list(tmp_path.iterdir()) == []


def test_model_for_clip_sends_sound_to_the_multimodal_model():
    from types import SimpleNamespace

    from helpers.inference import model_for_clip

    video, sound = SimpleNamespace(is_multimodal=False), SimpleNamespace(is_multimodal=True)
    assert model_for_clip(True, video, sound) == (sound, "the clip has sound: the multi-modal model answered")
    chosen, note = model_for_clip(False, video, sound)
    assert chosen is video and note.startswith("the clip is silent: the video-only model")
    chosen, note = model_for_clip(False, sound)
    assert chosen is sound and "heard silence" in note
    assert model_for_clip(True, video) == (video, "")


def test_a_clip_with_sound_gets_the_caption_and_a_silent_one_the_video_model(predictor, tmp_path):
    from helpers.inference import predictor_from_model
    from helpers.models import MultiModalConfig, MultiModalVideoModel
    from helpers.widget import handle_upload, prediction_html
    from video_factory import make_video

    cfg = MultiModalConfig.smoke(3).with_captions(["a box grows", "a person moves left"])
    sound = predictor_from_model(MultiModalVideoModel(cfg).eval(), ["a", "b", "c"], num_frames=4, resize=(32, 40),
                                 crop=32)
    loud = make_video(tmp_path / "tone.mp4", "mp4-h264", num_frames=30, audio_tone=(0.4, 440.0)).read_bytes()
    quiet = make_video(tmp_path / "quiet.mp4", "mp4-h264", num_frames=30).read_bytes()
    assert sound.name != predictor.name
    work = tmp_path / "work"
    r = handle_upload(_value("tone.mp4", loud), predictor, with_sound=sound, workdir=work)
    assert r.ok and r.metadata["has_audio"] and r.prediction.model_name == sound.name
    assert set(dict(r.prediction.top)) <= {"a", "b", "c"} and isinstance(r.prediction.caption, str)
    page = prediction_html(r)
    assert "class='caption'" in page and "sync-score" in page and "multi-modal model answered" in page
    r = handle_upload(_value("quiet.mp4", quiet), predictor, with_sound=sound, workdir=work)
    assert r.ok and not r.metadata["has_audio"] and r.prediction.model_name == predictor.name
    assert r.prediction.caption is None and "the clip is silent" in prediction_html(r)
    assert list(work.iterdir()) == []


def test_widget_says_which_model_hears_clips_with_sound(predictor, tmp_path):
    from helpers.inference import predictor_from_model
    from helpers.models import MultiModalConfig, MultiModalVideoModel
    from helpers.widget import build_upload_widget

    cfg = MultiModalConfig.smoke(3).with_captions(["a box grows"])
    sound = predictor_from_model(MultiModalVideoModel(cfg).eval(), ["a", "b", "c"],
                                 num_frames=4, resize=(32, 40), crop=32)
    w = build_upload_widget(predictor, workdir=tmp_path, rl_sampler=None, with_sound=sound)
    assert w.with_sound is sound and "clips with sound" in w.note.value
    w = build_upload_widget(predictor, workdir=tmp_path, rl_sampler=None, with_sound=tmp_path / "none.pth")
    assert w.with_sound is None and "no multi-modal model at" in w.note.value
    w = build_upload_widget(predictor, workdir=tmp_path, rl_sampler=None, with_sound=predictor)
    assert w.with_sound is None and "hears nothing" in w.note.value
