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
