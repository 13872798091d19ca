"""Video decoding for the datasets: open a file, read its metadata from the headers,
decode only the frames a sampler picked (``helpers.video.sampling``), and extract
the audio track (``helpers.video.audio``).

    from helpers.video import open_video
    with open_video(path) as reader:
        clip = reader.frames(uniform_indices(reader.metadata.num_frames, 16), size=(128, 171))
"""
from helpers.video.reader import (
    DEFAULT_MAX_PIXELS,
    OpenCVReader,
    PyAVReader,
    VideoDecodeError,
    VideoMetadata,
    VideoReader,
    open_video,
)

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "OpenCVReader",
    "PyAVReader",
    "VideoDecodeError",
    "VideoMetadata",
    "VideoReader",
    "open_video",
]
