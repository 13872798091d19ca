"""Decoder failures are described as damaged data, never as a file-permission problem."""
from __future__ import annotations

import av
import pytest

from helpers.video.reader import PyAVReader, VideoDecodeError
from video_factory import make_video


def test_a_corrupt_packet_is_not_reported_as_a_permission_problem(tmp_path):
    video = make_video(tmp_path / "clip.avi", "avi-mpeg4")
    reader = PyAVReader(video, max_decode_errors=0)

    class DamagedPacket:
        def decode(self):  # what FFmpeg's EPERM-valued error code becomes in PyAV
            raise av.error.PermissionError(1, "Operation not permitted")

    try:
        with pytest.raises(VideoDecodeError) as err:
            reader._decode_packet(DamagedPacket())
    finally:
        reader.close()
    text = str(err.value)
    assert "Permission" not in text and "not permitted" not in text
    assert "too many corrupt packets" in text and "damaged" in text and "error code 1" in text
