"""helpers.video readers: frame accuracy against a full decode, metadata, bad input."""
from __future__ import annotations

import json
import pickle
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from helpers.video import OpenCVReader, PyAVReader, VideoDecodeError, VideoReader, open_video
from helpers.video import probe as probe_cli
from video_factory import KINDS, MAIN_KINDS, Kind, corrupt, frame_pattern, full_decode, identify, make_video, truncate

BACKENDS = ("pyav", "opencv")
pytestmark = pytest.mark.timeout(300)  # hang guard, not a speed check


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, Path]:
    """One 48-frame, 12-frame-GOP video per container kind (audio where it has one)."""
    folder = tmp_path_factory.mktemp("videos")
    out = {}
    for name, spec in KINDS.items():
        tone = (0.5, 440.0) if spec.audio_codec and name in MAIN_KINDS else None
        out[name] = make_video(folder / f"{name}{spec.suffix}", name, audio_tone=tone)
    return out


@pytest.fixture(scope="module")
def references(videos) -> dict[str, np.ndarray]:
    return {name: full_decode(path) for name, path in videos.items()}


# ------------------------------------------------------------------ frame accuracy


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", MAIN_KINDS)
def test_frames_equal_full_decode(videos, references, kind, backend):
    ref = references[kind]
    assert len(ref) == 48
    rng = np.random.default_rng(7)
    draws = [rng.integers(0, 48, 12), np.sort(rng.integers(0, 48, 12)), np.array([40, 3, 3, 47, 0, 0, 21, 20]),
             np.arange(48), np.arange(0, 48, 5)[::-1]]
    with open_video(videos[kind], backend) as reader:
        for idx in draws:
            out = reader.frames(idx)
            assert out.dtype == np.uint8 and out.shape == (len(idx), 48, 64, 3)
            np.testing.assert_array_equal(identify(out, ref), idx)
            # same FFmpeg colour conversion in both backends: identical pixels
            assert np.abs(out.astype(int) - ref[idx]).max() <= 2


@pytest.mark.parametrize("kind", [k for k in KINDS if k not in MAIN_KINDS])
def test_more_containers_are_frame_accurate(videos, references, kind):
    """mov/mpeg4+B-frames, mpg/mpeg2 (first pts 0.54 s, no seek index), wmv2, flv1, 3gp/h263."""
    ref = references[kind]
    idx = np.array([30, 0, 47, 13, 13, 25])
    for backend in BACKENDS:
        with open_video(videos[kind], backend) as reader:
            np.testing.assert_array_equal(identify(reader.frames(idx), ref), idx)


def test_mpeg_ps_nonzero_start_and_packet_count(videos):
    with av.open(str(videos["mpg-mpeg2"])) as c:
        assert c.streams.video[0].start_time > 0  # the case the pts→index mapping must handle
    with open_video(videos["mpg-mpeg2"], "pyav") as reader:
        # no audio: FFmpeg's bitrate-guessed duration says 29 frames; packets say 48
        assert (reader.metadata.num_frames, reader.metadata.frame_count_source) == (48, "packets")


@pytest.mark.parametrize("backend", BACKENDS)
def test_resize_on_the_way_out(videos, references, backend):
    import cv2

    ref = references["avi-mpeg4"]
    with open_video(videos["avi-mpeg4"], backend) as reader:
        out = reader.frames([0, 17, 46], size=(24, 32))
    assert out.shape == (3, 24, 32, 3)
    small = np.stack([cv2.resize(f, (32, 24), interpolation=cv2.INTER_AREA) for f in ref])
    np.testing.assert_array_equal(identify(out, small), [0, 17, 46])
    assert np.abs(out.astype(int) - small[[0, 17, 46]]).mean() < 8


@pytest.mark.parametrize("backend", BACKENDS)
def test_thumbnails_are_the_grey_frames_scaled_down(videos, references, backend):
    import cv2

    ref = references["mp4-h264"]
    with open_video(videos["mp4-h264"], backend) as reader:
        thumbs = reader.thumbnails([46, 0, 17, 17], size=(24, 32))
        assert reader.thumbnails([], (24, 32)).shape == (0, 24, 32)
        with pytest.raises(ValueError, match="positive"):
            reader.thumbnails([0], (0, 32))
    assert thumbs.shape == (4, 24, 32) and thumbs.dtype == np.uint8
    grey = np.stack([cv2.resize(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), (32, 24), interpolation=cv2.INTER_AREA)
                     for f in ref])
    for got, want in zip(thumbs, [46, 0, 17, 17]):  # each the nearest of all frames' thumbnails, and close to it
        assert int(np.argmin(np.abs(grey.astype(int) - got).mean(axis=(1, 2)))) == want
        assert np.abs(grey[want].astype(int) - got).mean() < 4


def test_thumbnails_of_a_dct_codec_are_decoded_at_reduced_size(videos, references):
    """MPEG-4 Part 2 (HMDB51's codec) can decode at 1/2…1/8 size: thumbnails come from a
    second decoder at the smallest size that covers them, and frames() stay full size."""
    import cv2

    idx = [46, 0, 17, 17, 30]
    with PyAVReader(videos["avi-mpeg4"]) as reader:
        thumbs = reader.thumbnails(idx, size=(12, 16))
        assert reader._thumbnailer is not None and reader._thumbnailer._lowres == 2  # 64×48 → 16×12
        sizes = []
        convert = reader._thumbnailer._convert
        reader._thumbnailer._convert = lambda frame, size: sizes.append((frame.height, frame.width)) or convert(frame, size)
        np.testing.assert_array_equal(reader.thumbnails(idx, size=(12, 16)), thumbs)
        assert set(sizes) == {(12, 16)}  # decoded at a quarter of the frame size
        np.testing.assert_array_equal(identify(reader.frames(idx), references["avi-mpeg4"]), idx)
        assert reader.frames([5]).shape == (1, 48, 64, 3)
        assert reader._thumbnail_options((24, 32)) == {"lowres": "1"} and reader._thumbnail_options((25, 32)) == {}
        assert reader._thumbnailer._thumbnail_options((12, 16)) == {}  # already reduced
    grey = np.stack([cv2.resize(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), (16, 12), interpolation=cv2.INTER_AREA)
                     for f in references["avi-mpeg4"][idx]])
    assert np.abs(grey.astype(int) - thumbs).mean() < 4


@pytest.mark.parametrize("kind", ["mp4-h264", "webm-vp9"])
def test_thumbnails_of_other_codecs_come_from_the_frames_decoder(videos, kind):
    """Codecs without reduced-size decoding open no second decoder for thumbnails."""
    with PyAVReader(videos[kind]) as reader:
        assert reader._thumbnail_options((12, 16)) == {}
        assert reader.thumbnails([46, 0], size=(12, 16)).shape == (2, 12, 16)
        assert reader._thumbnailer is None


def _count_decoded(reader: PyAVReader) -> list[int]:
    """Record every frame index the PyAV reader decodes."""
    seen: list[int] = []
    original = reader._iter_frames

    def counting(*args):
        for index, frame in original(*args):
            seen.append(index)
            yield index, frame

    reader._iter_frames = counting
    return seen


def test_sparse_target_decodes_from_its_keyframe_only(videos):
    with open_video(videos["avi-mpeg4"], "pyav") as reader:
        seen = _count_decoded(reader)
        reader.frames([40])
    assert seen == [36, 37, 38, 39, 40]  # keyframes every 12 frames: 36 is the one before 40


def test_dense_targets_take_one_forward_pass(videos):
    with open_video(videos["mp4-h264"], "pyav") as reader:
        seen = _count_decoded(reader)
        reader.frames([8, 1, 2, 3, 5, 3])  # close targets, unsorted: no backward seek
    assert seen == list(range(0, 9))


def test_targets_in_later_gops_seek_forward(videos):
    with open_video(videos["avi-mpeg4"], "pyav") as reader:
        seen = _count_decoded(reader)
        reader.frames([2, 26, 27, 47])
    assert seen == [0, 1, 2, 24, 25, 26, 27, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47]


def _demuxed_index(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The reader's packet listing built the slow way (demuxing every packet)."""
    with PyAVReader(path) as reader:
        reader._index_from_entries = lambda: None
        pts, keys = reader._build_index()
    return pts, keys


def test_avi_listing_comes_from_its_own_index_and_matches_demuxing(videos, tmp_path):
    with PyAVReader(videos["avi-mpeg4"]) as reader:
        listed = reader._index_from_entries()
    assert listed is not None
    pts, keys = _demuxed_index(videos["avi-mpeg4"])
    np.testing.assert_array_equal(listed[0], pts)
    np.testing.assert_array_equal(listed[1], keys)
    np.testing.assert_array_equal(keys, [0, 12, 24, 36])  # 48 frames, 12-frame GOPs
    # where index entries are not presentation indices, the packets are demuxed instead
    bframes = make_video(tmp_path / "bframes.avi", Kind(".avi", "mpeg4", options=(("qscale", "2"),), bframes=2))
    for path in (videos["mp4-h264"], videos["mkv-h264"], videos["mov-mpeg4"], bframes):
        with PyAVReader(path) as reader:
            assert reader._index_from_entries() is None, path.name


def test_avi_with_b_frames_is_frame_accurate(tmp_path):
    path = make_video(tmp_path / "bframes.avi", Kind(".avi", "mpeg4", options=(("qscale", "2"),), bframes=2))
    ref = full_decode(path)
    idx = np.array([30, 0, 47, 13, 13, 25, 26])
    with open_video(path, "pyav") as reader:
        np.testing.assert_array_equal(identify(reader.frames(idx), ref), idx)


def test_resize_matches_swscale_rgb24_exactly(videos):
    """The reader scales to planar RGB and interleaves it itself (faster): the pixels
    must be those of a plain ``reformat(..., format="rgb24")`` of a full decode."""
    from av.video.reformatter import VideoReformatter

    path = videos["avi-mpeg4"]
    with av.open(str(path)) as container:
        scaler = VideoReformatter()
        ref = np.stack([scaler.reformat(f, width=35, height=26, format="rgb24", interpolation="AREA").to_ndarray()
                        for f in container.decode(video=0)])
    idx = np.array([0, 5, 17, 46, 47, 5])
    with open_video(path, "pyav") as reader:
        out = reader.frames(idx, size=(26, 35))  # odd width: padded planes
    np.testing.assert_array_equal(out, ref[idx])


def test_frame_threaded_decoder_is_drained_not_fed_past_the_target(videos, references):
    """With frame threading (the default on big frames) the decoder holds frames
    back; without reordering, each seek group ends by draining it, so no packet past
    the last target of the group is decoded."""
    ref = references["avi-mpeg4"]
    with PyAVReader(videos["avi-mpeg4"], thread_type="FRAME") as reader:
        reader._stream.codec_context.thread_count = 2
        seen = _count_decoded(reader)
        sent: list[int | None] = []  # packets given to the decoder, by frame index; None = drain
        decode_packet = reader._decode_packet
        reader._decode_packet = lambda packet: (sent.append(None if packet is None else reader._packet_rank(packet)),
                                                decode_packet(packet))[1]
        out = reader.frames([2, 26, 27, 40])
        assert reader._can_drain
    assert seen == [0, 1, 2, 24, 25, 26, 27, 36, 37, 38, 39, 40]
    assert sent == [0, 1, 2, None, 24, 25, 26, 27, None, 36, 37, 38, 39, 40, None]
    np.testing.assert_array_equal(out, ref[[2, 26, 27, 40]])
    rng = np.random.default_rng(3)
    idx = rng.integers(0, 48, 20)
    with PyAVReader(videos["avi-mpeg4"], thread_type="FRAME") as threaded, \
            PyAVReader(videos["avi-mpeg4"], thread_type="NONE") as plain:
        np.testing.assert_array_equal(threaded.frames(idx), plain.frames(idx))
    with open_video(videos["mp4-h264"], "pyav") as reader:  # B-frames: cannot drain early
        reader.frames([5])
        assert not reader._can_drain


def test_drain_that_ends_before_the_target_falls_back_to_feeding_forward(videos, references):
    """If packet timestamps misled the drain (it ends before the target), the reader
    seeks again and decodes forward without draining: same frames."""
    ref = references["avi-mpeg4"]
    idx = np.array([3, 19, 20, 40])
    with open_video(videos["avi-mpeg4"], "pyav") as reader:
        reader._packet_rank = lambda packet: 10**9  # every packet looks like the last one wanted
        out = reader.frames(idx)
        assert not reader._can_drain
    np.testing.assert_array_equal(out, ref[idx])


@pytest.mark.parametrize("kind", [*MAIN_KINDS, "mov-mpeg4", "flv-flv1"])
def test_read_split_between_two_decoders_equals_serial_read(videos, references, tmp_path, kind, monkeypatch):
    """Split reads (a second decoder in a thread takes the later seek groups) give
    the same frames as one decoder, also on a truncated and a corrupted copy."""
    from helpers.video import reader as reader_module

    monkeypatch.setattr(reader_module, "PARALLEL_MIN_PIXELS", 0)
    ref = references[kind]
    rng = np.random.default_rng(11)
    draws = [rng.integers(0, 48, 12), np.array([40, 3, 3, 47, 0, 0, 21, 20]), np.arange(0, 48, 5)]
    with PyAVReader(videos[kind], parallel=True) as split, PyAVReader(videos[kind], parallel=False) as serial:
        for idx in draws:
            out = split.frames(idx, size=(24, 32))
            np.testing.assert_array_equal(out, serial.frames(idx, size=(24, 32)))
            np.testing.assert_array_equal(identify(split.frames(idx), ref), idx)
        assert split._helper is not None and serial._helper is None
    suffix = videos[kind].suffix
    for damaged in (truncate(videos[kind], tmp_path / f"cut{suffix}", 0.5),
                    corrupt(videos[kind], tmp_path / f"bad{suffix}", 0.3)):
        results = []
        for parallel in (True, False):
            try:
                with PyAVReader(damaged, parallel=parallel) as reader:
                    results.append(reader.frames([0, 13, 25, 30, 47]))
            except VideoDecodeError as exc:
                results.append(exc.reason)
        if isinstance(results[0], str) or isinstance(results[1], str):
            assert results[0] == results[1]
        else:
            np.testing.assert_array_equal(results[0], results[1])


def test_second_decoder_that_cannot_open_leaves_the_read_to_the_first(videos, references, monkeypatch):
    from helpers.video import reader as reader_module

    monkeypatch.setattr(reader_module, "PARALLEL_MIN_PIXELS", 0)
    idx = np.array([2, 26, 27, 47])
    with PyAVReader(videos["avi-mpeg4"], parallel=True) as reader:
        def refuse():
            raise VideoDecodeError(reader.path, "cannot open: gone")

        reader._get_helper = refuse
        np.testing.assert_array_equal(identify(reader.frames(idx), references["avi-mpeg4"]), idx)


def test_read_is_split_between_seek_groups_by_decoding_cost(videos, monkeypatch):
    from helpers.video import reader as reader_module

    with PyAVReader(videos["avi-mpeg4"], parallel=True) as reader:
        reader._build_index()
        targets = [2, 26, 27, 47]  # groups [2] 3 frames, [26, 27] 4 frames, [47] 12 frames (keyframes every 12)
        assert reader._parallel_split(targets) == 0  # 19 frames: a second decoder does not pay
        monkeypatch.setattr(reader_module, "PARALLEL_MIN_PIXELS", 0)
        assert reader._parallel_split(targets) == 3  # 7 | 12 is closer than 3 | 16
        assert reader._parallel_split([5, 6, 7]) == 0  # one group: nothing to split
        monkeypatch.setattr(reader_module, "PARALLEL_MIN_PIXELS", 19 * 64 * 48)  # the read's decoded pixels
        assert reader._parallel_split(targets) == 3
        monkeypatch.setattr(reader_module, "PARALLEL_MIN_PIXELS", 19 * 64 * 48 + 1)
        assert reader._parallel_split(targets) == 0
    with PyAVReader(videos["avi-mpeg4"], parallel=True, codec_options={"lowres": "1"}) as reader:  # 32×24 frames
        reader._build_index()
        assert reader._parallel_split(targets) == 0
        monkeypatch.setattr(reader_module, "PARALLEL_MIN_PIXELS", 19 * 32 * 24)
        assert reader._parallel_split(targets) == 3
    with PyAVReader(videos["mpg-mpeg2"], parallel=True) as reader:
        reader._build_index()
        assert reader._parallel_split([2, 26, 27, 47]) == 0  # not seekable


def test_second_decoder_only_on_an_idle_core(videos, monkeypatch):
    from helpers.video import reader as reader_module

    monkeypatch.setattr(reader_module, "PARALLEL_MIN_PIXELS", 0)
    monkeypatch.setattr(reader_module.os, "cpu_count", lambda: 2)
    for load, used in ((0.4, True), (1.5, True), (1.6, False), (7.0, False)):
        monkeypatch.setattr(reader_module.os, "getloadavg", lambda load=load: (load, load, load))
        with PyAVReader(videos["avi-mpeg4"]) as reader:
            reader.frames([2, 26, 47])
            assert (reader._helper is not None) == used, load
    monkeypatch.setattr(reader_module.os, "cpu_count", lambda: 1)
    monkeypatch.setattr(reader_module.os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert not reader_module._spare_core()


def test_no_second_decoder_inside_dataloader_workers(videos, monkeypatch):
    import torch.utils.data

    from helpers.video import reader as reader_module

    assert not reader_module._in_dataloader_worker()
    monkeypatch.setattr(reader_module, "_spare_core", lambda: True)
    monkeypatch.setattr(torch.utils.data, "get_worker_info", lambda: object())  # what a worker sees
    assert reader_module._in_dataloader_worker()
    monkeypatch.setattr(reader_module, "PARALLEL_MIN_PIXELS", 0)
    monkeypatch.setattr(reader_module, "_in_dataloader_worker", lambda: True)
    with PyAVReader(videos["avi-mpeg4"]) as reader:
        reader.frames([2, 26, 47])
        assert reader._helper is None


@pytest.mark.parametrize("backend", BACKENDS)
def test_indices_past_the_end_clamp_to_last_frame(videos, references, backend):
    with open_video(videos["webm-vp9"], backend) as reader:
        out = reader.frames([47, 48, 500, 0])
        empty = reader.frames([])
        with pytest.raises(ValueError):
            reader.frames([-1])
    np.testing.assert_array_equal(identify(out, references["webm-vp9"]), [47, 47, 47, 0])
    assert empty.shape == (0, 48, 64, 3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_header_that_overcounts_frames_is_clamped_to_what_exists(tmp_path, backend):
    """mkv keeps no frame count: 48 video frames + 3 s of audio → duration says 75."""
    path = make_video(tmp_path / "long_audio.mkv", "mkv-h264", audio_tone=(0.0, 300.0), duration_s=3.0)
    ref = full_decode(path)
    with open_video(path, backend) as reader:
        claimed = reader.metadata.num_frames
        out = reader.frames([0, claimed - 1, 60, 47])
    if backend == "pyav":
        assert claimed == 75 and reader.metadata.frame_count_source == "duration"
    np.testing.assert_array_equal(identify(out, ref), [0, 47, 47, 47])


# ------------------------------------------------------------------------- metadata


@pytest.mark.parametrize("kind", MAIN_KINDS)
def test_metadata_from_headers(videos, kind):
    codec = {"avi-mpeg4": "mpeg4", "mp4-h264": "h264", "mkv-h264": "h264", "webm-vp9": "vp9"}[kind]
    with open_video(videos[kind], "pyav") as reader:
        m = reader.metadata
    assert (m.num_frames, m.fps, m.width, m.height) == (48, 25.0, 64, 48)
    assert m.duration == pytest.approx(1.92, abs=0.02)
    assert m.has_audio is True and m.video_codec == codec and m.backend == "pyav"
    assert m.container == videos[kind].suffix.lstrip(".") or kind == "mkv-h264" and m.container == "matroska"
    assert m.frame_count_source == ("container" if kind in ("avi-mpeg4", "mp4-h264") else "duration")
    assert json.loads(json.dumps(m.to_dict()))["num_frames"] == 48


def test_metadata_without_audio_and_opencv_backend(videos):
    with open_video(videos["flv-flv1"], "opencv") as reader:
        m = reader.metadata
    assert (m.num_frames, m.fps, m.width, m.height, m.has_audio, m.backend) == (48, 25.0, 64, 48, False, "opencv")
    with open_video(videos["avi-mpeg4"], "opencv") as reader:
        assert reader.metadata.has_audio is True  # asked of PyAV's header reader


def test_auto_prefers_pyav_and_falls_back_to_opencv(videos, monkeypatch):
    with open_video(videos["avi-mpeg4"]) as reader:
        assert isinstance(reader, PyAVReader)

    def refuse(self, path, **kwargs):
        raise VideoDecodeError(path, "pretend PyAV cannot open it")

    monkeypatch.setattr(PyAVReader, "__init__", refuse)
    with open_video(videos["avi-mpeg4"]) as reader:
        assert isinstance(reader, OpenCVReader)
        assert reader.frames([3]).shape == (1, 48, 64, 3)


def test_unknown_backend_is_a_value_error(videos):
    with pytest.raises(ValueError):
        open_video(videos["avi-mpeg4"], "torchcodec")


# ------------------------------------------------------------------------ bad input


@pytest.mark.parametrize("backend", (*BACKENDS, "auto"))
def test_unreadable_files_raise_typed_error(tmp_path, backend):
    zero = tmp_path / "zero.avi"
    zero.write_bytes(b"")
    text = tmp_path / "notes.avi"
    text.write_text("this is a text file, not a video\n" * 50)
    for path, reason in [(zero, "empty file"), (text, ""), (tmp_path / "missing.mp4", "no such file")]:
        with pytest.raises(VideoDecodeError) as info:
            open_video(path, backend)
        assert info.value.path == str(path) and reason in info.value.reason


def test_error_survives_pickling_from_a_worker(tmp_path):
    err = VideoDecodeError(tmp_path / "x.avi", "empty file (0 bytes)")
    back = pickle.loads(pickle.dumps(err))
    assert (back.path, back.reason, str(back)) == (err.path, err.reason, str(err))


def test_audio_only_file_has_no_video_stream(tmp_path):
    path = tmp_path / "sound.mkv"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=8000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = 8000, 0, Fraction(1, 8000)
        for packet in [*stream.encode(frame), *stream.encode()]:
            out.mux(packet)
    with pytest.raises(VideoDecodeError, match="no video stream"):
        open_video(path, "pyav")
    with pytest.raises(VideoDecodeError):
        open_video(path, "auto")


@pytest.mark.parametrize("backend", BACKENDS)
def test_truncated_mp4_without_index_is_an_error(videos, tmp_path, backend):
    cut = truncate(videos["mp4-h264"], tmp_path / "cut.mp4", 0.5)  # moov atom is at the end
    with pytest.raises(VideoDecodeError):
        open_video(cut, backend).frames([0])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["avi-mpeg4", "mkv-h264", "webm-vp9"])
def test_truncated_file_gives_decodable_frames_clamped(videos, tmp_path, kind, backend):
    cut = truncate(videos[kind], tmp_path / f"cut{videos[kind].suffix}", 0.5)
    ref = full_decode(cut)  # what FFmpeg can decode of it
    assert 5 < len(ref) < 48
    with open_video(cut, backend) as reader:
        assert reader.metadata.num_frames >= len(ref)  # the header does not know
        out = reader.frames([0, 4, 47, len(ref) - 1])
        again = reader.frames([len(ref) - 1, 2])
    last = len(ref) - 1
    np.testing.assert_array_equal(identify(out, ref), [0, 4, last, last])
    np.testing.assert_array_equal(identify(again, ref), [last, 2])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["avi-mpeg4", "mkv-h264", "webm-vp9"])
def test_corrupt_stream_gives_typed_error_or_decodable_frames(videos, tmp_path, kind, backend):
    """Random bytes over 90 % of the file: an error, or the frames FFmpeg can still
    decode (clamped), never a hang or another exception type."""
    bad = corrupt(videos[kind], tmp_path / f"bad{videos[kind].suffix}", 0.1)
    try:
        with open_video(bad, backend) as reader:
            out = reader.frames([0, 20, 47], size=(24, 32))
    except VideoDecodeError as exc:
        assert exc.path == str(bad) and exc.reason
        return
    assert out.shape == (3, 24, 32, 3) and out.dtype == np.uint8


@pytest.mark.parametrize("backend", BACKENDS)
def test_nothing_decodable_is_an_error(videos, tmp_path, backend):
    """An mkv cut inside its first frame: the header opens, no frame decodes."""
    cut = truncate(videos["mkv-h264"], tmp_path / "cut.mkv", 0.05)
    with pytest.raises(VideoDecodeError, match="no frame"):
        with open_video(cut, backend) as reader:
            reader.frames([0, 10])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["avi-mpeg4", "mp4-h264"])
def test_one_frame_video_repeats_it(tmp_path, kind, backend):
    path = make_video(tmp_path / f"one{KINDS[kind].suffix}", kind, num_frames=1)
    with open_video(path, backend) as reader:
        assert reader.metadata.num_frames == 1
        out = reader.frames([0, 3, 15])
        again = reader.frames([0])
    expected = frame_pattern(0, 64, 48)
    for frame in [*out, *again]:
        assert np.abs(frame.astype(int) - expected).mean() < 6
    assert np.array_equal(out[0], out[2])


@pytest.mark.parametrize("backend", BACKENDS)
def test_huge_resolution_is_refused_above_max_pixels(tmp_path, backend):
    path = make_video(tmp_path / "big.avi", "avi-mpeg4", num_frames=2, size=(640, 480))
    with pytest.raises(VideoDecodeError, match="max_pixels"):
        open_video(path, backend, max_pixels=640 * 480 - 1)
    with open_video(path, backend, max_pixels=640 * 480) as reader:
        assert reader.frames([1], size=(48, 64)).shape == (1, 48, 64, 3)


def test_short_clip_asked_for_more_frames_repeats(videos, references):
    from helpers.video.sampling import uniform_indices

    with open_video(videos["avi-mpeg4"]) as reader:
        idx = uniform_indices(reader.metadata.num_frames, 64)  # 64 > 48 frames
        out = reader.frames(idx)
    assert out.shape[0] == 64
    np.testing.assert_array_equal(identify(out, references["avi-mpeg4"]), idx)


# ---------------------------------------------------------------------------- probe


def test_probe_prints_metadata_and_decoded_indices(videos, capsys):
    assert probe_cli.main([str(videos["mkv-h264"]), "--frames", "4", "--size", "24x32"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["metadata"]["num_frames"] == 48 and report["backend"] == "pyav"
    assert report["indices"] == [0, 15, 31, 47] and report["shape"] == [4, 24, 32, 3]
    assert report["decode_ms"] >= 0


def test_probe_reports_one_line_error(tmp_path, capsys):
    bad = tmp_path / "clip.avi"
    bad.write_text("not a video")
    assert probe_cli.main([str(bad)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"probe: {bad}:") and "\n" not in err
