"""extract_frames.py against a plain full decode, on videos encoded here whose frames show their own number.

Each extraction is checked two ways: the number drawn in every written JPEG equals the number in the frame at
the same index of a sequential PyAV decode (tests/video_utils.decode_all), and the pixels match that frame
within JPEG error. Expected indices come from the rule written out here (np.linspace(...).round()) or by
hand, never from the code under test.
"""

import codecs
import contextlib
import dataclasses
import errno
import fcntl
import json
import logging
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import pytest
from av.video.frame import PictureType
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, JpegImagePlugin
from process_utils import alive, process_tree
from video_utils import decode_all, draw_frame, encode_video, make_texture, read_frame_number, remux, truncate

import extract_frames
from extract_frames import (
    FAILURES_NAME,
    LOCK_NAME,
    MANIFEST_NAME,
    RECORD_NAME,
    WORKERS_LOCK_NAME,
    ExtractSummary,
    VideoDecodeError,
    _extract_job,
    extract_all,
    extract_video,
    find_videos,
    frames_dir_for,
    main,
    read_manifest,
    sample_indices,
    target_size,
)

JPEG_TOLERANCE = 4.0  # mean absolute difference per pixel at quality 95; neighbouring frames differ by far more


def linspace_rule(n: int, k: int) -> list:
    return [int(i) for i in np.linspace(0, n - 1, k).round()]


def assert_same_frames(record, reference: list) -> None:
    """The written JPEGs are the reference frames at linspace_rule indices, in order."""
    expected = linspace_rule(len(reference), record.num_frames)
    assert record.total_frames == len(reference)
    assert record.indices == expected
    assert len(record.frame_paths) == record.num_frames
    for path, index in zip(record.frame_paths, expected, strict=True):
        written = np.asarray(Image.open(path).convert('RGB')).astype(np.float64)
        assert read_frame_number(written) == read_frame_number(reference[index].rgb), path
        assert np.abs(written - reference[index].rgb).mean() < JPEG_TOLERANCE, path


# ---------------------------------------------------------------- the sampling rule and naming, by hand


@pytest.mark.parametrize(
    'n, k, expected',
    [
        (10, 4, [0, 3, 6, 9]),
        (6, 3, [0, 2, 5]),  # 2.5 rounds to even; int(x + 0.5) would give 3
        (4, 3, [0, 2, 3]),  # 1.5 rounds to 2
        (3, 5, [0, 0, 1, 2, 2]),  # fewer frames than asked: repeats (0.5 -> 0, 1.5 -> 2)
        (1, 3, [0, 0, 0]),
        (100, 1, [0]),
    ],
)
def test_sample_indices_by_hand(n, k, expected):
    assert sample_indices(n, k) == expected


def test_sample_indices_rejects_empty():
    with pytest.raises(ValueError, match='n=0'):
        sample_indices(0, 32)


def test_target_size_keeps_aspect_under_budget():
    assert target_size(320, 240, None) == (320, 240)
    assert target_size(320, 240, 10**6) == (320, 240)  # never scaled up
    assert target_size(320, 240, 4800) == (80, 60)  # scale exactly 1/4
    # sqrt(262144 / (1920 * 1440)) = 0.30792: 591.2 x 443.4, floored
    assert target_size(1920, 1440, 262144) == (591, 443)
    # sqrt(100 / 10000) = 0.1: 1000 x 0.1, but a side cannot go below one pixel, so the long side gives way
    assert target_size(10000, 1, 100) == (100, 1)
    assert target_size(3, 1000, 100) == (1, 100)
    assert target_size(1151, 1151, 256) == (16, 16)  # 1151 * sqrt(256 / 1151**2) is 15.99999... in floats


@given(
    st.integers(1, 20000),
    st.integers(1, 20000),
    st.integers(1, 10**8),
)
def test_target_size_never_exceeds_the_budget(width, height, max_pixels):
    new_width, new_height = target_size(width, height, max_pixels)
    if width * height <= max_pixels:
        assert (new_width, new_height) == (width, height)
        return
    assert 1 <= new_width <= width and 1 <= new_height <= height
    assert new_width * new_height <= max_pixels
    # as close under the budget as whole pixels allow: one more pixel on each side would not fit
    assert (new_width + 1) * (new_height + 1) > max_pixels
    scale = (max_pixels / (width * height)) ** 0.5
    if new_width > 1 and new_height > 1:  # aspect kept: each side is its scaled length, floored
        assert new_width == pytest.approx(width * scale, abs=1.0001)
        assert new_height == pytest.approx(height * scale, abs=1.0001)


def test_frames_dir_for_keeps_dataset_folders(tmp_path):
    videos, out = tmp_path / 'videos', tmp_path / 'frames'
    assert frames_dir_for(videos / 'scannet' / 'scene0011_00.mp4', videos, out) == out / 'scannet' / 'scene0011_00'
    assert frames_dir_for(videos / 'scene.v2.mkv', videos, out) == out / 'scene.v2'
    assert frames_dir_for(videos / 'scannet' / 'scene0011_00.mp4', None, out) == out / 'scene0011_00'
    with pytest.raises(ValueError, match='not under --video_dir'):
        frames_dir_for(tmp_path / 'elsewhere' / 'a.mp4', videos, out)


# ---------------------------------------------------------------- frames equal a full decode


VFR_TIMES = list(np.cumsum(np.random.default_rng(0).uniform(0.01, 0.12, 90)))
KINDS = {
    'constant_rate_mp4': dict(name='cfr.mp4', num_frames=100, gop=10),
    'b_frames_mkv': dict(name='bframes.mkv', num_frames=100, gop=12, bframes=3),
    'variable_rate_mp4': dict(name='vfr.mp4', num_frames=90, gop=10, bframes=2, times=VFR_TIMES),
    'variable_rate_mkv': dict(name='vfr.mkv', num_frames=90, gop=10, times=VFR_TIMES),
    'edit_list_mov': dict(name='trimmed.mov', num_frames=100, gop=10, bframes=2, trim_start=7),
    'odd_size_webm': dict(name='odd.webm', num_frames=60, gop=15, codec='libvpx-vp9', width=321, height=241),
    'odd_size_mp4': dict(name='odd.mp4', num_frames=60, gop=15, bframes=2, width=321, height=241, pix_fmt='yuv444p'),
    'mpeg4_avi': dict(name='clip.avi', num_frames=80, gop=12, codec='mpeg4', bframes=1),
    'hevc_mp4': dict(name='hevc.mp4', num_frames=60, gop=15, codec='libx265', bframes=3),
    'open_gop_mkv': dict(name='open_gop.mkv', num_frames=90, gop=15, bframes=3, open_gop=True),
    'fewer_frames_than_asked': dict(name='short.mp4', num_frames=20, gop=10, bframes=2),
}


@pytest.fixture(scope='module')
def videos(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp('videos')
    made = {}
    for kind, spec in KINDS.items():
        spec = dict(spec)
        made[kind] = encode_video(folder / spec.pop('name'), **spec)
    return made


@pytest.mark.parametrize('kind', list(KINDS))
def test_frames_equal_full_decode(videos, kind, tmp_path):
    video = videos[kind]
    reference = decode_all(video.path)
    assert len(reference) == video.num_frames - video.trimmed  # the encoder helper did what it says
    record = extract_video(video.path, tmp_path / 'frames', num_frames=32)
    assert record.method == 'index', record.note  # healthy files never need the full-decode fallback
    assert_same_frames(record, reference)
    assert (record.width, record.height) == (record.src_width, record.src_height) == (video.width, video.height)
    assert record.timestamps == pytest.approx([reference[i].time for i in record.indices], abs=1e-3)


def test_edit_list_hides_the_trimmed_frames(videos, tmp_path):
    record = extract_video(videos['edit_list_mov'].path, tmp_path / 'frames', num_frames=3)
    shown = [read_frame_number(np.asarray(Image.open(p))) for p in record.frame_paths]
    # 100 frames with the first 7 cut by the edit list: 93 shown, numbered 7..99; linspace(0, 92, 3) = 0, 46, 92
    assert record.total_frames == 93
    assert shown == [7, 53, 99]


def test_round_half_to_even_end_to_end(tmp_path):
    video = encode_video(tmp_path / 'six.mp4', num_frames=6, gop=6)
    record = extract_video(video.path, tmp_path / 'frames', num_frames=3)
    assert [read_frame_number(np.asarray(Image.open(p))) for p in record.frame_paths] == [0, 2, 5]


def test_many_frames_of_a_long_gop(tmp_path):
    # every frame wanted, long GOP, B-frames: the forward decode must not skip or repeat any
    video = encode_video(tmp_path / 'long_gop.mkv', num_frames=150, gop=75, bframes=3)
    record = extract_video(video.path, tmp_path / 'frames', num_frames=150)
    assert record.method == 'index'
    assert [read_frame_number(np.asarray(Image.open(p))) for p in record.frame_paths] == list(range(150))


def test_decodes_only_what_the_wanted_frames_need(tmp_path, monkeypatch):
    import extract_frames

    video = encode_video(tmp_path / 'long.mp4', num_frames=300, gop=30, bframes=2)
    with av.open(str(video.path)) as container:  # frame kinds from a plain decode: I/P are always references
        frames = [(frame.pts, frame.pict_type) for frame in container.decode(video=0)]
    with av.open(str(video.path)) as container:  # the frames others refer to: those FFmpeg keeps when told NONREF
        container.streams.video[0].codec_context.skip_frame = 'NONREF'
        references = {frame.pts for frame in container.decode(video=0)}
    with av.open(str(video.path)) as container:
        decode_order = [packet.pts for packet in container.demux(video=0) if packet.size]
    number = {pts: i for i, (pts, _) in enumerate(frames)}
    kinds = [kind for _, kind in frames]
    decoded, read = [], []
    seek_and_decode = extract_frames._frames_after_seek

    class CountingReads:
        def __init__(self, container):
            self.container = container

        def seek(self, *args, **kwargs):
            read.append([])
            return self.container.seek(*args, **kwargs)

        def demux(self, *args):
            for packet in self.container.demux(*args):
                if packet.size:
                    read[-1].append(packet.pts)
                yield packet

    def counting(container, *args):
        for frame in seek_and_decode(CountingReads(container), *args):
            decoded.append(number[frame.pts])
            yield frame

    monkeypatch.setattr(extract_frames, '_frames_after_seek', counting)
    record = extract_video(video.path, tmp_path / 'frames', num_frames=4)
    assert record.indices == [0, 100, 199, 299]
    # keyframes every 30 frames: each wanted frame is decoded from the keyframe before it, nothing else
    runs = [range(0, 1), range(90, 101), range(180, 200), range(270, 300)]
    needed = {i for r in runs for i in r if kinds[i] != PictureType.B} | set(record.indices)
    assert needed <= set(decoded) <= {i for r in runs for i in r}
    assert len(decoded) == len(set(decoded))
    # B-frames nothing refers to are skipped unless wanted
    assert {i for i in decoded if frames[i][0] not in references} <= set(record.indices)
    assert 300 - len(references) >= 90  # the encoder did make B-frames to skip
    # packets are read from the keyframe to the wanted one in decode order, not on to fill the reordering delay
    wanted_pts = [frames[i][0] for i in record.indices]
    expected = [
        decode_order[decode_order.index(frames[run[0]][0]) : decode_order.index(pts) + 1]
        for run, pts in zip(runs, wanted_pts, strict=True)
    ]
    assert read == expected


def test_max_pixels_keeps_aspect(videos, tmp_path):
    record = extract_video(videos['odd_size_webm'].path, tmp_path / 'frames', num_frames=4, max_pixels=20000)
    assert record.width * record.height <= 20000
    assert record.width / record.height == pytest.approx(321 / 241, rel=0.01)
    assert record.width >= 160  # shrunk to the budget, not far below it: 321 * 241 * s^2 = 20000 gives 163
    for path in record.frame_paths:
        image = Image.open(path)
        assert image.size == (record.width, record.height)
    reference = decode_all(videos['odd_size_webm'].path)
    for path, index in zip(record.frame_paths, record.indices, strict=True):
        assert read_frame_number(np.asarray(Image.open(path))) == read_frame_number(reference[index].rgb)


# ---------------------------------------------------------------- damaged files


def test_truncated_index_falls_back_to_full_decode(tmp_path):
    # moov first: the file opens and lists packets that are gone, so the index promises frames that never decode
    video = encode_video(tmp_path / 'whole.mp4', num_frames=120, gop=10, bframes=2, faststart=True)
    cut = truncate(video.path, 0.6, tmp_path / 'cut.mp4')
    reference = decode_all(cut)
    assert 0 < len(reference) < 120
    record = extract_video(cut, tmp_path / 'frames', num_frames=32)
    assert record.method == 'full_decode'
    assert 'disagreed' in record.note
    assert_same_frames(record, reference)


@pytest.mark.parametrize(
    ('suffix', 'options'),
    [
        ('mkv', {}),
        ('webm', {'codec': 'libvpx-vp9'}),
        ('mp4', {'faststart': True}),
        ('avi', {'codec': 'mpeg4'}),
        ('ts', {}),
    ],
)
def test_a_file_cut_short_is_extracted_from_what_decodes_and_said_to_be_cut(tmp_path, caplog, suffix, options):
    """A copy or download that did not finish: a Matroska or WebM file opened and decoded as a shorter video, the
    frames spread over the part that survived, with nothing said (exit 0, no note), though its header still declares
    the whole length. MPEG-TS states no length (FFmpeg estimates one), so it is not judged."""
    videos = tmp_path / 'videos'
    videos.mkdir()
    whole = encode_video(videos / f'whole.{suffix}', num_frames=300, fps=30, gop=30, **options).path
    cut = truncate(whole, 0.35, videos / f'cut.{suffix}')
    decoded = len(decode_all(cut))
    assert 0 < decoded < 200
    with caplog.at_level(logging.WARNING, logger='extract_frames'):
        summary = extract_all(tmp_path / 'frames', [whole, cut], video_dir=videos, num_frames=8, progress=False)
    records = {Path(line['video']).stem: line for line in manifest_lines(tmp_path / 'frames')}
    assert records['whole']['cut_short'] is False and records['cut']['total_frames'] == decoded
    if suffix == 'ts':
        assert (summary.cut_short, records['cut']['cut_short'], caplog.messages) == (0, False, [])
        return
    note = f'frames end at {decoded / 30:.1f} s of the 10.0 s the file declares: cut short (an unfinished copy)?'
    assert records['cut']['cut_short'] is True and records['cut']['note'].endswith(note)
    assert caplog.messages == [f'{cut}: {records["cut"]["note"]}']
    assert (summary.done, summary.failed, summary.cut_short) == (2, 0, 1)
    assert str(summary).endswith('; 1 cut short? (frames end before the length the file declares: see the log)')


@pytest.mark.parametrize('suffix', ['mp4', 'mkv'])
def test_a_last_frame_held_for_seconds_is_not_taken_for_a_cut(tmp_path, caplog, monkeypatch, suffix):
    """A screen recording's still ending: 2 s of frames, the last one shown 3 s more, a 5 s file. Counting one frame's
    time for the last frame, the check said `frames end at 2.0 s of the 5.0 s the file declares: cut short`; the last
    packet's duration says where the frames end, on both decoding paths."""
    video = encode_video(tmp_path / f'held.{suffix}', num_frames=60, fps=30, hold_last=3.0).path
    with av.open(str(video)) as container:
        assert 4.9 < container.duration / av.time_base < 5.1
    with caplog.at_level(logging.WARNING, logger='extract_frames'):
        record = extract_video(video, tmp_path / 'index', num_frames=8)
        assert (record.method, record.cut_short, record.note, caplog.messages) == ('index', False, '', [])

        def disagree(container, stream):
            raise extract_frames._IndexMismatch('as a damaged file would')

        monkeypatch.setattr(extract_frames, '_packet_index', disagree)
        record = extract_video(video, tmp_path / 'full', num_frames=8)
    assert (record.method, record.cut_short, caplog.messages) == ('full_decode', False, [])
    assert 'cut short' not in record.note


def test_corrupt_packets_fall_back_to_full_decode(tmp_path):
    video = encode_video(tmp_path / 'whole.mkv', num_frames=120, gop=10)
    with av.open(str(video.path)) as container:
        packets = [(p.pos, p.size) for p in container.demux(video=0) if p.size]
    data = bytearray(video.path.read_bytes())
    rng = np.random.default_rng(1)
    for pos, size in packets[-6], packets[-3]:  # in the last GOP, which always holds a wanted frame
        data[pos + 4 : pos + size] = rng.integers(0, 256, size - 4, dtype=np.uint8).tobytes()
    damaged = tmp_path / 'damaged.mkv'
    damaged.write_bytes(bytes(data))
    reference = decode_all(damaged)
    record = extract_video(damaged, tmp_path / 'frames', num_frames=32)
    assert record.method == 'full_decode'
    assert_same_frames(record, reference)


@pytest.mark.parametrize('codec', ['libx264', 'mpeg4'])
def test_an_mp4_cut_mid_gop_falls_back_to_full_decode(codec, tmp_path):
    """A stream copied from mid-GOP: no keyframe before its first frames, so the mp4 demuxer refuses the seek."""
    video = encode_video(tmp_path / 'whole.mp4', num_frames=90, codec=codec, gop=30)
    cut = remux(video.path, tmp_path / 'cut.mp4', lambda packets: packets[5:])  # the first keyframe and 4 more gone
    reference = decode_all(cut)
    assert 0 < len(reference) < 90
    record = extract_video(cut, tmp_path / 'frames', num_frames=8)
    assert record.method == 'full_decode' and 'cannot seek' in record.note
    assert_same_frames(record, reference)


def test_h264_with_b_frames_in_avi_is_decoded_in_full(tmp_path):
    """AVI stores no presentation times: FFmpeg numbers H.264 packets in decode order, so the index mapped positions to
    the wrong frames (23 for 22, 43 for 44), and skipping the non-reference B-frames hid the disorder from the checks.
    MPEG-4 Part 2 in AVI gets its times from FFmpeg's parser and keeps the index, with B-frames (KINDS['mpeg4_avi'])
    or without."""
    video = encode_video(tmp_path / 'clip.avi', num_frames=90, gop=12, bframes=1)
    reference = decode_all(video.path)
    record = extract_video(video.path, tmp_path / 'frames', num_frames=5)
    assert record.method == 'full_decode' and '(AVI gives h264 packets decode-order timestamps)' in record.note
    assert_same_frames(record, reference)
    video = encode_video(tmp_path / 'mpeg4.avi', num_frames=90, gop=12, codec='mpeg4')
    record = extract_video(video.path, tmp_path / 'mpeg4', num_frames=5)
    assert record.method == 'index', record.note
    assert_same_frames(record, decode_all(video.path))


def test_x264_intra_refresh_seeks_only_to_pictures_that_decode_alone(tmp_path):
    """x264's intra refresh marks the P picture starting each refresh wave as a keyframe. Decoded from the one at 80
    (where the texture wraps, a jump in content), FFmpeg showed frames 88-125 before the wave had cleaned them, and
    flagged none: wrong pixels (mean difference 23) at the right frame numbers. Only IDR or all-I pictures are seek
    points now; here that is frame 0, and every frame is exact."""
    path = tmp_path / 'refresh.mp4'
    with av.open(str(path), 'w') as container:
        stream = container.add_stream('libx264', rate=30)
        stream.width, stream.height, stream.pix_fmt = 160, 120, 'yuv420p'
        options = {'crf': '20', 'preset': 'veryfast', 'x264-params': 'intra-refresh=1:keyint=40:bframes=0'}
        stream.codec_context.options = options
        texture = make_texture(160, 120)
        for i in range(150):
            frame = av.VideoFrame.from_ndarray(draw_frame(i, 160, 120, texture), format='rgb24')
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        marked = [round(p.pts * stream.time_base * 30) for p in container.demux(stream) if p.size and p.is_keyframe]
    assert marked == [0, 40, 80, 120]  # what the container says
    reference = decode_all(path)
    for num_frames in (5, 6, 9):
        record = extract_video(path, tmp_path / f'frames{num_frames}', num_frames=num_frames)
        assert record.method == 'index', record.note
        assert_same_frames(record, reference)


def test_a_damaged_keyframe_falls_back_to_full_decode(tmp_path):
    """After a seek the decoder conceals a damaged keyframe from nothing, and the frames after it inherit that; a
    sequential decode conceals it from the frame before. The keyframe is flagged: the video goes to a full decode."""
    video = encode_video(tmp_path / 'whole.mkv', num_frames=120, gop=30, bframes=2)

    def flip_a_bit(packets):
        second_key = [i for i, packet in enumerate(packets) if packet[3]][1]  # frame 30, before wanted frame 34
        data = bytearray(packets[second_key][0])
        data[400] ^= 0x10  # in its slice data
        packets[second_key] = (bytes(data), *packets[second_key][1:])
        return packets

    damaged = remux(video.path, tmp_path / 'damaged.mkv', flip_a_bit)
    record = extract_video(damaged, tmp_path / 'frames', num_frames=8, threads=1)
    assert record.method == 'full_decode' and 'decodes with errors' in record.note
    assert_same_frames(record, decode_all(damaged, threads=1))


class _SeeksPastTheKeyframe:
    """A container whose seeks (after the first GOP) land 3 frames after the keyframe asked for, on a P-frame: what a
    demuxer with a wrong index would do."""

    def __init__(self, container, stream):
        self.container, self.shift = container, round(3 / (stream.time_base * stream.average_rate))

    def seek(self, ts, stream, backward):
        self.container.seek(ts + self.shift if ts else ts, stream=stream, backward=backward, any_frame=True)

    def demux(self, *args):
        return self.container.demux(*args)


@pytest.mark.parametrize('codec', ['libx264', 'mpeg4'])
def test_a_seek_that_lands_past_the_keyframe_decodes_from_the_start(codec, tmp_path, monkeypatch):
    """Decoding from a P-frame misses its references: h264 shows nothing until the next keyframe, but mpeg4 shows
    wrong pictures without flagging them, so the first packet after a seek must be the keyframe. When it is not, the
    wanted frames are decoded in one pass from the file start (no seeks), still checked against the index; a file
    that disagrees with its index there too is decoded in full."""
    video = encode_video(tmp_path / 'clip.mp4', num_frames=90, codec=codec, gop=30)  # wanted 38 and 64: seeks to 30, 60
    real_seek_and_decode, runs = extract_frames._frames_after_seek, []

    def seeking_past(container, stream, seek_ts, *args):
        runs.append(seek_ts)
        return real_seek_and_decode(_SeeksPastTheKeyframe(container, stream), stream, seek_ts, *args)

    monkeypatch.setattr(extract_frames, '_frames_after_seek', seeking_past)
    record = extract_video(video.path, tmp_path / 'frames', num_frames=8)
    assert record.method == 'index_from_start' and 'did not land on the keyframe at pts' in record.note
    assert runs == [0, 30 * 512, None]  # gave up at the second GOP (time base 1/15360), then one run
    assert_same_frames(record, decode_all(video.path))

    def missing_a_frame(container, stream, seek_ts, key_pts, wanted_pts):  # and the index is off too
        frames = seeking_past(container, stream, seek_ts, key_pts, wanted_pts)
        return (frame for frame in frames if seek_ts is not None or frame.pts != min(wanted_pts - {0}))

    monkeypatch.setattr(extract_frames, '_frames_after_seek', missing_a_frame)
    record = extract_video(video.path, tmp_path / 'again', num_frames=8)
    assert record.method == 'full_decode' and 'never decoded' in record.note
    assert_same_frames(record, decode_all(video.path))


@pytest.mark.parametrize('name, codec', [('clip.ts', 'libx264'), ('clip.mpg', 'mpeg2video')])
def test_mpeg_ts_and_ps_decode_once_from_the_start(name, codec, tmp_path):
    """Their demuxers seek by byte position and land past the keyframe: one pass from the start, not two full
    decodes, gives the frames of a full decode."""
    video = encode_video(tmp_path / name, num_frames=150, codec=codec, gop=30, bframes=2)
    decodes = []
    real_decode_all = extract_frames._decode_all
    extract_frames._decode_all = lambda *args: decodes.append(args) or real_decode_all(*args)
    try:
        record = extract_video(video.path, tmp_path / 'frames', num_frames=16)
    finally:
        extract_frames._decode_all = real_decode_all
    assert record.method == 'index_from_start', record.note
    assert decodes == [] and record.total_frames == 150
    assert_same_frames(record, decode_all(video.path))


def counters_going_on(first: bytes, second: bytes) -> bytes:
    """`second`'s 188-byte TS packets with continuity counters that go on from `first`'s, PID by PID: a join the
    demuxer sees no break in (a break marks the packet before it corrupt, whether one falls there depends on the
    encoded sizes)."""
    last, out = {}, bytearray(second)
    for data in (first, out):
        for i in range(0, len(data) - 187, 188):
            pid = ((data[i + 1] & 0x1F) << 8) | data[i + 2]
            if data[i + 3] & 0x10:  # the packet has a payload: its counter counts
                if data is out and pid in last:
                    out[i + 3] = (out[i + 3] & 0xF0) | (last[pid] + 1) % 16
                last[pid] = data[i + 3] & 0x0F
    return bytes(out)


def test_joined_mpeg_ts_files_whose_timestamps_interleave_are_decoded_in_full(tmp_path):
    """`cat a.ts b.ts` with b's timestamps one tick after a's: the index, in pts order, alternates a0, b0, a1, ...
    while the decoder yields a's frames first. From the start, a's frames came at every other position, which passed
    as gaps, and the wrong frames were written (found by an audit); no frame may be missing there."""
    a = encode_video(tmp_path / 'a.ts', num_frames=150, gop=30, bframes=2).path
    b0 = encode_video(tmp_path / 'b0.ts', num_frames=60, gop=30, bframes=2).path
    b = remux(b0, tmp_path / 'b.ts', lambda packets: [(d, pts + 1, dts + 1, key) for d, pts, dts, key in packets])
    joined = tmp_path / 'joined.ts'
    joined.write_bytes(a.read_bytes() + counters_going_on(a.read_bytes(), b.read_bytes()))
    record = extract_video(joined, tmp_path / 'frames', num_frames=3)
    assert record.method == 'full_decode' and 'never decoded' in record.note
    assert record.total_frames == 210
    assert [read_frame_number(np.asarray(Image.open(p))) for p in record.frame_paths] == [0, 104, 59]  # a0, a104, b59


def test_damaged_mpeg_ts_decoded_from_the_start_is_concealed_as_a_full_decode_conceals_it(tmp_path):
    """One 188-byte TS packet's payload made noise (headers intact: neither demuxer nor decoder flags it). Skipping
    the frames nothing predicts from changes how the decoder conceals the damage: frame 148 came out as frame 133
    (found by an audit). Without seeks nothing is skipped, so the one pass is the full decode's."""
    video = encode_video(tmp_path / 'clip.ts', num_frames=150, gop=30, bframes=2, open_gop=True)
    data = bytearray(video.path.read_bytes())
    rng = random.Random(0)
    data[461 * 188 + 4 : 462 * 188] = bytes([rng.randrange(256) for _ in range(184 * 116)][-184:])
    damaged = tmp_path / 'damaged.ts'
    damaged.write_bytes(bytes(data))
    record = extract_video(damaged, tmp_path / 'frames', num_frames=3, threads=1)
    # here the damage goes unflagged (index_from_start); an encoder build whose bytes differ may get it flagged instead
    assert record.method in ('index_from_start', 'full_decode'), record.note
    assert_same_frames(record, decode_all(damaged, threads=1))


@pytest.mark.parametrize('name, codec', [('clip.ts', 'libx264'), ('clip.mp4', 'libx265')])
def test_a_frame_the_decoder_drops_unflagged_is_caught_where_nothing_is_skipped(name, codec, tmp_path, monkeypatch):
    """Gaps between decoded frames are allowed only where non-reference frames are skipped (after a seek, in
    _SKIP_NONREF_CODECS): from the start of an MPEG-TS file, and for HEVC, which skips none, a frame the decoder drops
    without a flag (damaged data) made n and the chosen frames differ from a full decode's (found by an audit)."""
    video = encode_video(tmp_path / name, num_frames=60, codec=codec, gop=30, bframes=2)
    real_seek_and_decode = extract_frames._frames_after_seek

    def dropping_the_sixth(*args):  # 60 frames, 8 wanted: 0, 8, 17, 25 from the first keyframe
        for i, frame in enumerate(real_seek_and_decode(*args)):
            if i != 5:
                yield frame

    monkeypatch.setattr(extract_frames, '_frames_after_seek', dropping_the_sixth)
    record = extract_video(video.path, tmp_path / 'frames', num_frames=8)
    assert record.method == 'full_decode'
    assert (
        record.note == 'packet index disagreed with the decoder (frame 5 never decoded (frame 6 came after frame 4)): '
        'decoded in full'
    )
    assert_same_frames(record, decode_all(video.path))


@pytest.mark.parametrize(
    'fault, reason',
    [
        ('drop', 'frame 38 never decoded (frame 39 came instead)'),
        ('cut', 'the stream ended before frame 38 of 90'),
        ('repeat', 'frame 30 was followed by frame 30'),
        ('foreign_pts', 'decoded a frame with pts 15361, which no packet has'),
    ],
)
def test_frames_out_of_line_with_the_index_fall_back_to_full_decode(fault, reason, tmp_path, monkeypatch):
    """Every frame a seek yields is checked against the packet index: a decoder that drops, repeats or renumbers a
    frame (here made to, in the GOP of wanted frames 38 and 51) sends the video to a full decode, never to a wrong
    frame."""
    video = encode_video(tmp_path / 'clip.mp4', num_frames=90, gop=30, bframes=2)  # time base 1/15360: 512 a frame
    real_seek_and_decode, runs = extract_frames._frames_after_seek, []

    def faulty(container, stream, seek_ts, key_pts, wanted_pts):
        runs.append(seek_ts)
        frames = real_seek_and_decode(container, stream, seek_ts, key_pts, wanted_pts)
        if seek_ts != 30 * 512:
            yield from frames
            return
        for frame in frames:
            if frame.pts == 38 * 512 and fault == 'cut':
                return
            if frame.pts == 38 * 512 and fault == 'drop':
                continue
            if frame.pts == key_pts and fault == 'repeat':
                yield frame
            if frame.pts == key_pts and fault == 'foreign_pts':
                frame.pts += 1
            yield frame

    monkeypatch.setattr(extract_frames, '_frames_after_seek', faulty)
    record = extract_video(video.path, tmp_path / 'frames', num_frames=8)
    assert runs == [0, 30 * 512]  # the index gave up at the faulty GOP
    assert record.method == 'full_decode'
    assert record.note == f'packet index disagreed with the decoder ({reason}): decoded in full'
    assert_same_frames(record, decode_all(video.path))


def test_cover_art_is_not_a_video(tmp_path):
    """An mp4's cover art is a one-frame video stream marked as an attached picture: a recording with no video but a
    cover must fail, not give copies of the cover; with a video, the video is extracted."""

    def with_cover(path, video=None):
        with av.open(str(path), 'w') as output, contextlib.ExitStack() as stack:
            cover = output.add_stream('mjpeg', rate=1)
            cover.width, cover.height, cover.pix_fmt = 64, 48, 'yuvj420p'
            cover.disposition = av.stream.Disposition.attached_pic
            packets = []
            if video is not None:  # every stream is added before the first packet is written
                source = stack.enter_context(av.open(str(video)))
                copy = output.add_stream_from_template(source.streams.video[0])
                packets = [packet for packet in source.demux(video=0) if packet.size]
            picture = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 200, np.uint8), format='rgb24')
            for packet in cover.encode(picture.reformat(format='yuvj420p')):
                output.mux(packet)
            for packet in packets:
                packet.stream = copy
                output.mux(packet)
        return path

    with pytest.raises(VideoDecodeError, match='no video stream'):
        extract_video(with_cover(tmp_path / 'cover_only.mp4'), tmp_path / 'none', num_frames=4)
    assert not (tmp_path / 'none').exists()
    video = encode_video(tmp_path / 'clip.mp4', num_frames=30, width=64, height=48)
    record = extract_video(with_cover(tmp_path / 'covered.mp4', video.path), tmp_path / 'frames', num_frames=4)
    assert_same_frames(record, decode_all(video.path))


def test_unreadable_video_raises_and_leaves_nothing(tmp_path):
    video = encode_video(tmp_path / 'whole.mp4', num_frames=30)
    cut = truncate(video.path, 0.5, tmp_path / 'cut.mp4')  # moov at the end: gone
    not_video = tmp_path / 'notes.mp4'
    not_video.write_text('not a video')
    for path in cut, not_video:
        with pytest.raises((VideoDecodeError, av.FFmpegError)):
            extract_video(path, tmp_path / 'frames', num_frames=4)
    # a well-formed file whose every packet is noise: indexed, but not one frame decodes, in order or after a seek
    rng = np.random.default_rng(0)
    noise = remux(video.path, tmp_path / 'noise.mp4', lambda packets: [(rng.bytes(len(p[0])), *p[1:]) for p in packets])
    assert decode_all(noise) == []
    with pytest.raises(VideoDecodeError, match='^no frame decodes$'):
        extract_video(noise, tmp_path / 'frames', num_frames=4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['cut.mp4', 'noise.mp4', 'notes.mp4', 'whole.mp4']


def test_a_file_where_the_frame_folder_goes_is_left_alone(tmp_path):
    video = encode_video(tmp_path / 'scene.mp4', num_frames=10)
    squatter = tmp_path / 'frames' / 'scene'
    squatter.parent.mkdir()
    squatter.write_text('my notes')
    with pytest.raises(FileExistsError, match='exists and is not a folder'):
        extract_video(video.path, squatter, num_frames=4)
    assert squatter.read_text() == 'my notes'
    assert sorted(p.name for p in squatter.parent.iterdir()) == ['scene']  # no temporary folder left either


def test_a_folder_is_replaced_past_the_leftovers_of_a_killed_replace(tmp_path):
    """Killed between moving the old folder aside and removing it: the next extraction into that folder (called
    directly, without extract_all's clean-up) clears the leftover and replaces the folder all the same."""
    video = encode_video(tmp_path / 'scene.mp4', num_frames=10)
    out = tmp_path / 'frames' / 'scene'
    extract_video(video.path, out, num_frames=2)
    leftover = tmp_path / 'frames' / '.scene.old'
    leftover.mkdir()
    (leftover / 'frame_0000.jpg').write_bytes(b'old')
    record = extract_video(video.path, out, num_frames=3)
    assert record.indices == [0, 4, 9]
    assert sorted(p.name for p in out.iterdir()) == [RECORD_NAME] + [f'frame_{i:04d}.jpg' for i in range(3)]
    assert sorted(p.name for p in out.parent.iterdir()) == ['scene']


def test_a_still_image_named_like_a_video_fails(tmp_path, capsys):
    videos, out = tmp_path / 'videos', tmp_path / 'frames'
    videos.mkdir()
    encode_video(videos / 'clip.mp4', num_frames=10, width=64, height=48)
    image = Image.fromarray(np.zeros((48, 64, 3), np.uint8))
    image.save(videos / 'photo.mp4', format='JPEG')
    image.save(videos / 'drawing.mkv', format='PNG')
    # --workers 0 is one per core, as with no --workers
    assert main(['--video_dir', str(videos), '--output_dir', str(out), '--num_frames', '8', '--workers', '0']) == 1
    assert 'done 1, skipped 0, failed 2' in capsys.readouterr().out
    failures = [json.loads(line) for line in (out / FAILURES_NAME).read_text().splitlines()]
    assert sorted((Path(f['video']).name, f['reason']) for f in failures) == [
        ('drawing.mkv', 'VideoDecodeError: is a still image, not a video (png_pipe)'),
        ('photo.mp4', 'VideoDecodeError: is a still image, not a video (jpeg_pipe)'),
    ]
    assert sorted(read_manifest(out)) == ['clip']
    assert not (out / 'photo').exists() and not (out / 'drawing').exists()


def test_a_frame_folder_holding_other_files_is_never_replaced(tmp_path, capsys):
    # frames written beside the videos (--output_dir = --video_dir), where a folder of notes has a video's name
    videos = tmp_path / 'scannet'
    videos.mkdir()
    for name in 'scene0000_00', 'scene0001_00', 'scene0002_00', 'scene0003_00':
        encode_video(videos / f'{name}.mp4', num_frames=10, width=64, height=48)
    notes = videos / 'scene0000_00'
    (notes / 'poses').mkdir(parents=True)
    (notes / 'annotations.json').write_text('x\n')
    (notes / 'frame_0000.jpg').write_bytes(b'my own jpeg')
    (notes / 'readme.txt').write_text('mine')
    (videos / 'scene0001_00').mkdir()
    (videos / 'scene0001_00' / 'frame_0000.jpg').write_bytes(b'old jpeg')  # frames alone: an older version's
    (videos / 'scene0002_00').mkdir()  # empty
    (videos / 'scene0003_00' / 'depth').mkdir(parents=True)  # two files of someone else's: both named
    (videos / 'scene0003_00' / 'notes.txt').write_text('mine')
    assert main(['--video_dir', str(videos), '--output_dir', str(videos), '--num_frames', '2', '--no_progress']) == 1
    out = capsys.readouterr().out
    assert out.startswith('done 2, skipped 0, failed 2')
    assert out.rstrip().endswith('; 1 redone (incomplete); 1 redone (no record (older version))')
    assert (notes / 'annotations.json').read_text() == 'x\n'
    assert (notes / 'frame_0000.jpg').read_bytes() == b'my own jpeg'
    assert sorted(p.name for p in notes.iterdir()) == ['annotations.json', 'frame_0000.jpg', 'poses', 'readme.txt']
    failures = sorted((json.loads(line) for line in (videos / FAILURES_NAME).read_text().splitlines()), key=str)
    assert failures == [
        {
            'video': str(videos / 'scene0000_00.mp4'),
            'reason': f'FileExistsError: {notes} holds files extract_frames did not write (annotations.json, poses '
            'and 1 more), and the frames of scene0000_00.mp4 replace the whole folder: move them away, or choose '
            'another --output_dir',
        },
        {
            'video': str(videos / 'scene0003_00.mp4'),
            'reason': f'FileExistsError: {videos / "scene0003_00"} holds files extract_frames did not write (depth, '
            'notes.txt), and the frames of scene0003_00.mp4 replace the whole folder: move them away, or choose '
            'another --output_dir',
        },
    ]
    assert sorted(read_manifest(videos)) == ['scene0001_00', 'scene0002_00']


def test_a_name_too_long_for_the_temporary_folder_fails_alone(tmp_path, capsys):
    videos, out = tmp_path / 'videos', tmp_path / 'frames'
    videos.mkdir()
    encode_video(videos / ('z' * 246 + '.mp4'), num_frames=10, width=64, height=48)  # .<stem>.partial: 255, works
    long_name = 'y' * 247 + '.mp4'  # legal (251 bytes); its temporary folder .<stem>.partial (256) is not
    encode_video(videos / long_name, num_frames=10, width=64, height=48)
    assert main(['--video_dir', str(videos), '--output_dir', str(out), '--num_frames', '2', '--no_progress']) == 1
    assert capsys.readouterr().out.startswith('done 1, skipped 0, failed 1')
    assert [json.loads(line) for line in (out / FAILURES_NAME).read_text().splitlines()] == [
        {
            'video': str(videos / long_name),
            'reason': 'OSError: file name too long: the frames pass through a temporary folder named .<name>.partial, '
            'over the limit of 255 bytes of this file system; rename the video so that the part before its extension '
            'has at most 246 bytes',
        }
    ]
    assert sorted(read_manifest(out)) == ['z' * 246]


# ---------------------------------------------------------------- many videos: manifest, failures, resume


@pytest.fixture
def video_tree(tmp_path) -> Path:
    """VSI-Bench layout <dataset>/<scene>.mp4, plus one broken file."""
    root = tmp_path / 'videos'
    (root / 'scannet').mkdir(parents=True)
    (root / 'arkitscenes').mkdir()
    encode_video(root / 'scannet' / 'scene0011_00.mp4', num_frames=40, gop=10, bframes=2)
    encode_video(root / 'arkitscenes' / '41069025.mkv', num_frames=25, gop=10, width=176, height=144)
    whole = encode_video(tmp_path / 'whole.mp4', num_frames=30)
    truncate(whole.path, 0.5, root / 'scannet' / 'scene0999_00.mp4')
    return root


def manifest_lines(output_dir: Path) -> list:
    return [json.loads(line) for line in (output_dir / MANIFEST_NAME).read_text().splitlines()]


def test_cli_manifest_failures_and_resume(video_tree, tmp_path, capsys):
    out = tmp_path / 'frames'
    argv = ['--video_dir', str(video_tree), '--output_dir', str(out), '--num_frames', '8', '--workers', '2']
    assert main(argv) == 1  # one video failed
    assert 'done 2, skipped 0, failed 1' in capsys.readouterr().out

    failures = [json.loads(line) for line in (out / FAILURES_NAME).read_text().splitlines()]
    assert [Path(f['video']).name for f in failures] == ['scene0999_00.mp4']
    assert 'InvalidDataError' in failures[0]['reason']
    assert not (out / 'scannet' / 'scene0999_00').exists()

    lines = {row['frames_dir']: row for row in manifest_lines(out)}
    assert sorted(lines) == ['arkitscenes/41069025', 'scannet/scene0011_00']
    scene = lines['scannet/scene0011_00']
    assert scene['video'] == str(video_tree / 'scannet' / 'scene0011_00.mp4')
    assert scene['total_frames'] == 40
    assert scene['indices'] == linspace_rule(40, 8)
    assert scene['timestamps'] == pytest.approx([i / 30 for i in linspace_rule(40, 8)], abs=1e-6)
    assert scene['fps'] == pytest.approx(30)
    assert (scene['width'], scene['height']) == (160, 120)
    assert lines['arkitscenes/41069025']['width'] == 176
    folder = out / 'scannet' / 'scene0011_00'
    assert sorted(p.name for p in folder.iterdir()) == [RECORD_NAME] + [f'frame_{i:04d}.jpg' for i in range(8)]
    # the folder's record, written before it was renamed into place, is the manifest line plus the source's identity
    record = json.loads((folder / RECORD_NAME).read_text())
    source = (video_tree / 'scannet' / 'scene0011_00.mp4').stat()
    assert (record['source_size'], record['source_mtime_ns']) == (source.st_size, source.st_mtime_ns)
    assert {**record, 'frames_dir': 'scannet/scene0011_00'} == scene
    assert not list(out.rglob('.*partial'))
    assert sorted(p.name for p in out.iterdir()) == [
        LOCK_NAME,
        WORKERS_LOCK_NAME,
        'arkitscenes',
        FAILURES_NAME,
        MANIFEST_NAME,
        'scannet',
    ]

    records = read_manifest(out)
    assert Path(records['scannet/scene0011_00'].frames_dir) == frames_dir_for(
        video_tree / 'scannet' / 'scene0011_00.mp4', video_tree, out
    )
    assert records['scannet/scene0011_00'].frame_paths[0] == folder / 'frame_0000.jpg'

    # a second run skips both complete videos, retries the broken one, and adds no manifest line
    assert main(argv) == 1
    assert 'done 0, skipped 2, failed 1' in capsys.readouterr().out
    assert len(manifest_lines(out)) == 2


def test_resume_after_interruption(video_tree, tmp_path):
    out = tmp_path / 'frames'
    first = extract_all(out, video_dir=video_tree, num_frames=4, workers=1, progress=False)
    assert (first.done, first.skipped, first.failed) == (2, 0, 1)
    # killed while one video was half written and its manifest line half appended
    text = (out / MANIFEST_NAME).read_text().splitlines()
    (out / MANIFEST_NAME).write_text(text[0] + '\n' + text[1][:30])
    unfinished = out / json.loads(text[1])['frames_dir']
    shutil.rmtree(unfinished)
    (unfinished.parent / f'.{unfinished.name}.partial').mkdir()
    (unfinished.parent / f'.{unfinished.name}.partial' / 'frame_0000.jpg').write_bytes(b'half')

    second = extract_all(out, video_dir=video_tree, num_frames=4, workers=1, progress=False)
    assert (second.done, second.skipped, second.failed) == (1, 1, 1)
    assert sorted(p.name for p in unfinished.iterdir()) == [RECORD_NAME] + [f'frame_{i:04d}.jpg' for i in range(4)]
    assert not (unfinished.parent / f'.{unfinished.name}.partial').exists()
    assert len(read_manifest(out)) == 2

    # other settings are not "complete": the folders are made again, and the newest manifest line wins
    third = extract_all(out, video_dir=video_tree, num_frames=6, workers=1, progress=False)
    assert (third.done, third.skipped) == (2, 0)
    assert third.redone == {'settings changed': 2}
    assert str(third).endswith('; 2 redone (settings changed)')
    assert {r.num_frames for r in read_manifest(out).values()} == {6}
    assert len(list(unfinished.glob('frame_*.jpg'))) == 6

    fourth = extract_all(out, video_dir=video_tree, num_frames=6, workers=1, progress=False, overwrite=True)
    assert (fourth.done, fourth.skipped, fourth.redone) == (2, 0, {})

    # a complete last line that lost only its newline is kept (nothing re-extracted) and mended before appending
    manifest = out / MANIFEST_NAME
    before = manifest.read_text()
    manifest.write_text(before.rstrip('\n'))
    fifth = extract_all(out, video_dir=video_tree, num_frames=6, workers=1, progress=False)
    assert (fifth.done, fifth.skipped, fifth.failed) == (0, 2, 1)
    assert manifest.read_text() == before


def test_video_list_flat_layout(video_tree, tmp_path):
    listing = tmp_path / 'videos.txt'
    listing.write_text('# VSI-Bench subset\nvideos/scannet/scene0011_00.mp4\n\nvideos/arkitscenes/41069025.mkv\n')
    out = tmp_path / 'frames'
    argv = ['--video_list', str(listing), '--output_dir', str(out), '--num_frames', '2', '--max_pixels', '4800']
    assert main([*argv, '--no_progress']) == 0
    records = read_manifest(out)
    assert sorted(records) == ['41069025', 'scene0011_00']
    # 160x120 * 0.5 = 80x60; 176x144 * sqrt(4800 / 25344) = 76.6 x 62.7, floored
    assert (records['scene0011_00'].width, records['scene0011_00'].height) == (80, 60)
    assert (records['41069025'].width, records['41069025'].height) == (76, 62)
    assert Image.open(records['41069025'].frame_paths[1]).size == (76, 62)
    assert not (out / FAILURES_NAME).read_text()
    # as Windows Notepad saves it: a byte order mark before the first path, CRLF line ends; and a Latin-1 file name
    listing.write_bytes(codecs.BOM_UTF8 + b'videos/scannet/scene0011_00.mp4\r\nvideos/sc\xe8ne.mp4\r\n')
    first, latin1 = find_videos(video_list=listing)
    assert first == tmp_path / 'videos' / 'scannet' / 'scene0011_00.mp4'
    assert os.fsencode(latin1) == os.fsencode(tmp_path) + b'/videos/sc\xe8ne.mp4'  # the name's bytes, not UTF-8


def test_video_list_lines_that_cannot_be_videos_name_their_line(video_tree, tmp_path, capsys):
    """A NUL byte stopped the run with `embedded null byte` and no file or line; a folder failed as a missing video
    with a hint about relative paths that did not apply. Both are refused before anything is extracted."""
    listing, out = tmp_path / 'videos.txt', tmp_path / 'frames'
    listing.write_bytes(b'# subset\nvideos/scannet/scene0011_00.mp4\nb\0.mp4\n')
    assert main(['--video_list', str(listing), '--output_dir', str(out), '--no_progress']) == 2
    error = f"{listing}: line 3: 'b\\x00.mp4' holds a NUL byte, which no file name can"
    assert capsys.readouterr().err == f'extract_frames.py: error: {error}\n'
    listing.write_text('videos/scannet/scene0011_00.mp4\n\nvideos/scannet\n')
    assert main(['--video_list', str(listing), '--output_dir', str(out), '--no_progress']) == 2
    assert capsys.readouterr().err == (
        f'extract_frames.py: error: {listing}: line 3: {tmp_path}/videos/scannet is a folder, not a video file; give a '
        'folder of videos as --video_dir (searched recursively)\n'
    )
    assert not out.exists()


def test_the_console_shows_why_videos_failed(video_tree, tmp_path, capsys):
    """The first reasons are printed, and list paths written from the wrong folder get a hint."""
    listing = tmp_path / 'lists' / 'videos.txt'
    listing.parent.mkdir()
    listing.write_text('videos/scannet/scene0011_00.mp4\nvideos/arkitscenes/41069025.mkv\n')  # from tmp_path, wrong
    assert main(['--video_list', str(listing), '--output_dir', str(tmp_path / 'out'), '--no_progress']) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith('2 video(s) failed, reasons in')
    assert err[
        1
    ] == f'  {listing.parent / "videos/scannet/scene0011_00.mp4"}: FileNotFoundError: no such video file: ' + str(
        listing.parent / 'videos/scannet/scene0011_00.mp4'
    )
    assert err[3] == f'  relative paths in --video_list are read from {listing.parent}, not from the current folder'
    assert len(err) == 4
    # a video that does not decode: its reason, and no hint about lists
    argv = [
        '--video_dir',
        str(video_tree),
        '--output_dir',
        str(tmp_path / 'out2'),
        '--no_progress',
        '--num_frames',
        '2',
    ]
    assert main(argv) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and 'scene0999_00.mp4: InvalidDataError' in err[1]


def test_a_video_that_is_there_but_no_file_says_what_it_is(tmp_path, capsys):
    """A pipe, a link to a disk not mounted and a loop of links named like videos were each `no such video file`,
    though `ls` shows them, and the failure hinted at relative paths in a --video_list."""
    videos = tmp_path / 'videos'
    videos.mkdir()
    os.mkfifo(videos / 'pipe.mp4')
    (videos / 'gone.mp4').symlink_to(tmp_path / 'unmounted' / 'gone.mp4')
    (videos / 'loop.mp4').symlink_to(videos / 'loop.mp4')
    listing = tmp_path / 'videos.txt'
    listing.write_text('videos/gone.mp4\nvideos/loop.mp4\nvideos/pipe.mp4\n')
    argv = ['--video_list', str(listing), '--output_dir', str(tmp_path / 'out'), '--no_progress', '--workers', '1']
    assert main(argv) == 1
    assert capsys.readouterr().err.splitlines()[1:] == [
        f'  {videos / "gone.mp4"}: OSError: video file {videos / "gone.mp4"} is a link to '
        f'{tmp_path / "unmounted" / "gone.mp4"}, which does not exist (a disk not mounted?)',
        f'  {videos / "loop.mp4"}: OSError: video file {videos / "loop.mp4"} is a loop of symbolic links',
        f'  {videos / "pipe.mp4"}: OSError: video file {videos / "pipe.mp4"} is a pipe or a device, not a regular '
        'file: write it to a file first',
    ]
    assert not list((tmp_path / 'out').glob('*/frame_*'))


def test_a_pixel_budget_below_qwen3_vl_minimum_is_warned_about(video_tree, tmp_path, capsys):
    argv = ['--video_dir', str(video_tree / 'arkitscenes'), '--num_frames', '2', '--no_progress']
    assert main([*argv, '--output_dir', str(tmp_path / 'a'), '--max_pixels', '100']) == 0
    err = capsys.readouterr().err
    assert "--max_pixels 100 is below Qwen3-VL's smallest image (4096 px" in err
    record = read_manifest(tmp_path / 'a')['41069025']
    assert record.width * record.height <= 100
    assert main([*argv, '--output_dir', str(tmp_path / 'b'), '--max_pixels', '4096']) == 0
    assert 'warning' not in capsys.readouterr().err


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(['--video_dir', str(tmp_path / 'missing'), '--output_dir', str(tmp_path / 'out')]) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'missing' in err
    (tmp_path / 'empty').mkdir()
    assert main(['--video_dir', str(tmp_path / 'empty'), '--output_dir', str(tmp_path / 'out')]) == 2
    assert 'no videos found' in capsys.readouterr().err
    (tmp_path / 'videos').mkdir()
    (tmp_path / 'videos' / 'a.mp4').write_bytes(b'x')
    (tmp_path / 'afile').write_text('mine')
    argv = ['--video_dir', str(tmp_path / 'videos'), '--output_dir']
    assert main([*argv, str(tmp_path / 'afile')]) == 2
    assert capsys.readouterr().err == f'extract_frames.py: error: --output_dir {tmp_path / "afile"} is not a folder\n'
    assert main([*argv, str(tmp_path / 'out'), '--workers', '-2']) == 2
    assert (
        capsys.readouterr().err
        == 'extract_frames.py: error: workers must be at least 1, or 0 for one per core, got -2\n'
    )
    assert (tmp_path / 'afile').read_text() == 'mine' and not (tmp_path / 'out').exists()


def test_read_manifest_names_the_bad_line(tmp_path):
    (tmp_path / MANIFEST_NAME).write_text('{"video": "a.mp4"}\n{"x": 1}\n')
    with pytest.raises(ValueError, match=f'{MANIFEST_NAME}:1'):
        read_manifest(tmp_path)
    # every key there but one of the wrong type: refused on reading, not when the value is used
    row = old_manifest_line(tmp_path / 'a.mp4', 'a', 4)
    (tmp_path / MANIFEST_NAME).write_text(json.dumps(row) + '\n' + json.dumps({**row, 'indices': '0,9,19,29'}) + '\n')
    with pytest.raises(
        ValueError, match=f"{MANIFEST_NAME}:2: not a frame record \\(indices should be list\\[int\\], got '0,9"
    ):
        read_manifest(tmp_path)
    # nested too deep for the parser: the line is named, as for any other bad line
    (tmp_path / MANIFEST_NAME).write_text(json.dumps(row) + '\n' + '[' * 100_000 + ']' * 100_000 + '\n')
    with pytest.raises(ValueError, match=f'{MANIFEST_NAME}:2: not a frame record \\(maximum recursion depth'):
        read_manifest(tmp_path)


def test_decord_backend_for_comparison(videos, tmp_path):
    pytest.importorskip('decord')
    video = videos['constant_rate_mp4']
    record = extract_video(video.path, tmp_path / 'frames', num_frames=8, backend='decord')
    assert record.method == 'decord'
    assert_same_frames(record, decode_all(video.path))


def test_an_unknown_backend_is_refused_before_anything_is_written(videos, tmp_path):
    video = videos['constant_rate_mp4']  # decord is not what any name but 'pyav' falls to
    message = "backend must be one of ('pyav', 'decord'), got 'PyAV'"
    with pytest.raises(ValueError, match=re.escape(message)):
        extract_video(video.path, tmp_path / 'other', num_frames=8, backend='PyAV')
    with pytest.raises(ValueError, match=re.escape(message)):
        extract_all(tmp_path / 'other', videos=[video.path], num_frames=8, backend='PyAV', progress=False)
    assert not (tmp_path / 'other').exists()


@pytest.mark.slow
def test_bench_quick_run(capsys):
    """The benchmark's --quick run (one worker, one round): every method wrote the frames a full decode does."""
    pytest.importorskip('decord')
    from bench import bench_extract

    assert bench_extract.main(['--quick', '--workers', '1', '--repeats', '1']) == 0
    out = capsys.readouterr().out
    assert 'ours yes (0.00), decord yes' in out
    # 120 frames, the first 5 hidden by the edit list: linspace(0, 114, 4) = 0, 38, 76, 114 -> frames 5, 43, 81, 119
    assert 'ours shows frames [5, 43, 81, 119]' in out
    assert 'target ours >= 1.2x decord' in out


# ---------------------------------------------------------------- resume trusts only what a folder's record proves


def test_resume_restores_manifest_lines_from_the_folder_records(video_tree, tmp_path):
    out = tmp_path / 'frames'
    first = extract_all(out, video_dir=video_tree, num_frames=4, workers=1, progress=False)
    assert (first.done, first.failed) == (2, 1)
    lines_of_4 = (out / MANIFEST_NAME).read_text()
    frame = out / 'scannet' / 'scene0011_00' / 'frame_0000.jpg'
    inode = frame.stat().st_ino

    # killed after the folders were renamed into place, before the manifest lines were appended
    (out / MANIFEST_NAME).write_text('')
    second = extract_all(out, video_dir=video_tree, num_frames=4, workers=1, progress=False)
    assert (second.done, second.skipped, second.manifest_restored) == (0, 2, 2)
    assert frame.stat().st_ino == inode  # not decoded again
    assert (out / MANIFEST_NAME).read_text() == lines_of_4
    assert str(second).endswith('; 2 manifest lines restored')

    # the manifest still ends with lines of an older extraction: the frames in the folders win
    third = extract_all(out, video_dir=video_tree, num_frames=6, workers=1, progress=False)
    assert third.done == 2
    (out / MANIFEST_NAME).write_text(lines_of_4)
    fourth = extract_all(out, video_dir=video_tree, num_frames=6, workers=1, progress=False)
    assert (fourth.done, fourth.skipped, fourth.manifest_restored) == (0, 2, 2)
    records = read_manifest(out)
    assert [records[k].indices for k in sorted(records)] == [linspace_rule(25, 6), linspace_rule(40, 6)]


def test_resume_redoes_a_folder_whose_source_or_files_changed(tmp_path):
    videos, out = tmp_path / 'videos', tmp_path / 'frames'
    videos.mkdir()
    encode_video(videos / 'a.mp4', num_frames=40, gop=10)
    encode_video(videos / 'b.mp4', num_frames=30, gop=10)
    encode_video(videos / 'c.mp4', num_frames=30, gop=10)
    run = lambda: extract_all(out, video_dir=videos, num_frames=4, workers=1, progress=False)  # noqa: E731
    assert run().done == 3

    encode_video(videos / 'a.mp4', num_frames=50, gop=10)  # re-encoded at the same path
    (videos / 'b.mp4').rename(videos / 'b.mkv')  # another file for the same folder (same bytes, other name)
    (out / 'c' / 'frame_0002.jpg').write_bytes(b'')  # a frame file cut to nothing
    again = run()
    assert (again.done, again.skipped, again.failed) == (3, 0, 0)
    assert again.redone == {'source changed': 2, 'incomplete': 1}
    records = read_manifest(out)
    assert records['a'].total_frames == 50 and records['a'].indices == linspace_rule(50, 4)
    assert records['b'].video == str(videos / 'b.mkv')
    assert (out / 'c' / 'frame_0002.jpg').stat().st_size > 0

    (out / 'c' / 'frame_0009.jpg').write_bytes(b'stray')  # not a frame this extraction wrote
    os.utime(videos / 'a.mp4', ns=(0, 0))  # same bytes, other mtime: treated as another file
    last = run()
    assert last.redone == {'source changed': 1, 'incomplete': 1} and last.skipped == 1
    assert sorted(p.name for p in (out / 'c').iterdir()) == [RECORD_NAME] + [f'frame_{i:04d}.jpg' for i in range(4)]


def test_a_frame_folder_linked_from_another_disk_is_redone_in_place_of_the_link(tmp_path, caplog):
    videos, out, elsewhere = tmp_path / 'videos', tmp_path / 'frames', tmp_path / 'other_disk'
    videos.mkdir()
    elsewhere.mkdir()
    encode_video(videos / 'a.mp4', num_frames=30, gop=10)
    run = lambda k: extract_all(out, video_dir=videos, num_frames=k, workers=1, progress=False)  # noqa: E731
    assert run(3).done == 1
    (out / 'a').rename(elsewhere / 'a')  # frames moved to another disk and linked back
    (out / 'a').symlink_to(elsewhere / 'a')
    assert (run(3).skipped, run(3).failed) == (1, 0)  # the linked folder is current: kept
    (out / '.a.old').symlink_to(elsewhere / 'a')  # what an earlier version left behind: a link rmtree refused
    caplog.clear()
    again = run(4)
    assert (again.done, again.failed, again.redone) == (1, 0, {'settings changed': 1})
    # said, since the new frames land on this disk: the link was there to keep them off it
    assert f'{out / "a"} is a link to {elsewhere / "a"}: its new frames replace the link' in caplog.text
    assert (out / 'a').is_dir() and not (out / 'a').is_symlink()
    assert read_manifest(out)['a'].num_frames == 4 and len(list((out / 'a').glob('frame_*.jpg'))) == 4
    # the folder the link named is not ours to delete
    assert sorted(p.name for p in (elsewhere / 'a').iterdir()) == [RECORD_NAME] + [
        f'frame_{i:04d}.jpg' for i in range(3)
    ]
    assert not [p.name for p in out.iterdir() if p.name.startswith('.a.')]  # no temporary folder or link left
    assert (run(4).skipped, run(4).failed) == (1, 0)

    # a link to a disk that is not mounted now: the video fails and says so, the link stays (no new frames here)
    shutil.rmtree(out / 'a')
    (out / 'a').symlink_to(tmp_path / 'unmounted' / 'a')
    assert main(['--video_dir', str(videos), '--output_dir', str(out), '--num_frames', '4', '--no_progress']) == 1
    (failure,) = [json.loads(line) for line in (out / FAILURES_NAME).read_text().splitlines()]
    assert failure['reason'] == (
        f'FileNotFoundError: {out / "a"} is a link to {tmp_path / "unmounted" / "a"}, which does not exist (a disk not '
        'mounted?): mount it, or remove the link to extract a.mp4 anew'
    )
    assert os.readlink(out / 'a') == str(tmp_path / 'unmounted' / 'a')


def test_a_current_folder_with_a_stray_file_is_kept_and_never_replaced(tmp_path, capsys):
    videos, out = tmp_path / 'videos', tmp_path / 'frames'
    videos.mkdir()
    encode_video(videos / 'a.mp4', num_frames=30, gop=10)
    argv = ['--video_dir', str(videos), '--output_dir', str(out), '--no_progress', '--num_frames']
    assert main([*argv, '3']) == 0
    (out / 'a' / '.DS_Store').write_bytes(b'finder')
    capsys.readouterr()
    assert main([*argv, '3']) == 0  # the frames are current: nothing to redo, nothing fails
    assert capsys.readouterr().out.startswith('done 0, skipped 1, failed 0')
    assert main([*argv, '4']) == 1  # redoing it would replace the whole folder: refused, as for any foreign file
    assert (out / 'a' / '.DS_Store').read_bytes() == b'finder' and read_manifest(out)['a'].num_frames == 3


def test_stale_temporary_folders_of_planned_videos_are_removed(video_tree, tmp_path):
    out = tmp_path / 'frames'
    stale = [out / 'scannet' / '.scene0011_00.partial', out / 'arkitscenes' / '.41069025.old']
    unrelated = out / 'scannet' / '.notes.partial'  # no video of this run is called notes: not ours to remove
    for folder in [*stale, unrelated]:
        folder.mkdir(parents=True)
        (folder / 'frame_0000.jpg').write_bytes(b'half')
    summary = extract_all(out, video_dir=video_tree, num_frames=2, workers=1, progress=False)
    assert not any(folder.exists() for folder in stale)
    assert (unrelated / 'frame_0000.jpg').read_bytes() == b'half'
    # counted in the summary (the log line is INFO, not shown by default)
    assert summary.temp_removed == 2 and str(summary).endswith('; 2 temporary folder(s) left by killed runs removed')


def test_a_temporary_folder_another_run_is_writing_is_left_to_it(tmp_path, capsys):
    """Two runs whose output folders nest (`frames` and `frames/scannet`) lock different folders, so both could make
    one frame folder at once: each removed the other's half-written `.partial` and wrote on into it, and folders with
    frames missing or of two sizes were put in place with a record. The writer holds its `.partial` (flock), as this
    test does now: the other run leaves it alone and fails that video only."""
    videos, out = tmp_path / 'videos', tmp_path / 'frames'
    videos.mkdir()
    for name in 'a', 'b':
        encode_video(videos / f'{name}.mp4', num_frames=10, width=64, height=48)
    busy = out / '.a.partial'
    busy.mkdir(parents=True)
    (busy / 'frame_0000.jpg').write_bytes(b'half')
    writer = os.open(busy, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(writer, fcntl.LOCK_EX)
    argv = ['--video_dir', str(videos), '--output_dir', str(out), '--num_frames', '2', '--no_progress']
    try:
        assert main(argv) == 1
        assert (busy / 'frame_0000.jpg').read_bytes() == b'half' and not (out / 'a').exists()
        (failure,) = [json.loads(line) for line in (out / FAILURES_NAME).read_text().splitlines()]
        assert failure == {
            'video': str(videos / 'a.mp4'),
            'reason': f'FileExistsError: {busy} is being written by another run right now: run again once it ends',
        }
        assert sorted(read_manifest(out)) == ['b']
    finally:
        os.close(writer)  # the writer ends (or is killed): what it left is removed by the next run
    capsys.readouterr()
    assert main(argv) == 0
    assert capsys.readouterr().out.startswith('done 1, skipped 1, failed 0')
    assert not busy.exists() and sorted(p.name for p in (out / 'a').iterdir()) == [
        RECORD_NAME,
        'frame_0000.jpg',
        'frame_0001.jpg',
    ]


def test_temporary_folders_another_run_makes_or_removes_meanwhile(tmp_path, monkeypatch):
    """The races between the two runs above, each between two steps of this run."""
    partial = tmp_path / '.a.partial'
    busy = f'^{partial} is being written by another run right now'
    real_lock = extract_frames._lock_folder

    def made_again(fd):  # another run removes the folder and makes its own
        partial.rmdir()
        partial.mkdir()
        real_lock(fd)

    # made by another run between this run's clearing it and making it, or between making it and locking it
    for step, replacement in (('_remove_unheld', lambda temp: temp.mkdir() or True), ('_lock_folder', made_again)):
        with monkeypatch.context() as patch:
            patch.setattr(extract_frames, step, replacement)
            with pytest.raises(FileExistsError, match=busy):
                extract_frames._take_partial(partial)
        partial.rmdir()

    # a leftover that another run removes and replaces with its own while this run locks it: that one is left alone
    partial.mkdir()

    def replaced_by_another_run(fd):
        real_lock(fd)
        shutil.rmtree(partial)
        (partial / 'theirs').mkdir(parents=True)

    with monkeypatch.context() as patch:
        patch.setattr(extract_frames, '_lock_folder', replaced_by_another_run)
        assert extract_frames._remove_unheld(partial) is False
    assert (partial / 'theirs').is_dir()
    shutil.rmtree(partial)

    # a file or a link where the folder goes is no writer's (the folder a link names is not ours)
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    for make in (lambda: partial.write_text('x'), lambda: partial.symlink_to(elsewhere)):
        make()
        extract_frames.os.close(extract_frames._take_partial(partial))
        assert partial.is_dir() and not partial.is_symlink() and elsewhere.is_dir()
        partial.rmdir()

    # out of descriptors is not a file in its place: raised as itself (it was an IsADirectoryError from unlink)
    partial.mkdir()

    def out_of_descriptors(*args):
        raise OSError(errno.EMFILE, 'Too many open files')

    with monkeypatch.context() as patch:
        patch.setattr(extract_frames.os, 'open', out_of_descriptors)
        with pytest.raises(OSError, match='Too many open files'):
            extract_frames._remove_unheld(partial)
    assert partial.is_dir()

    # an error that is not another run's doing is raised as itself, not taken for "busy"
    def unreadable(path, fd):
        raise OSError(errno.EIO, 'Input/output error')

    with monkeypatch.context() as patch:
        patch.setattr(extract_frames, '_is_at', unreadable)
        with pytest.raises(OSError, match='Input/output error'):
            extract_frames._take_partial(partial)
    shutil.rmtree(partial)

    # another run removing the same .old at once: each entry it removed first is passed over, the rest removed
    old = tmp_path / '.a.old'
    for i in range(3):
        (old / f'd{i}').mkdir(parents=True)
        (old / f'd{i}' / 'frame_0000.jpg').write_bytes(b'x')
    real_unlink, unlinked = os.unlink, []

    def unlink(name, *args, **kwargs):
        if not unlinked:
            real_unlink(name, *args, **kwargs)  # the other run's
        unlinked.append(name)
        real_unlink(name, *args, **kwargs)

    monkeypatch.setattr(os, 'unlink', unlink)
    extract_frames._remove(old)
    assert not old.exists() and len(unlinked) == 3


@pytest.mark.parametrize('wrap', [lambda e: e, lambda e: (type(e), e, None)], ids=['onexc', 'onerror'])
def test_rmtree_passes_over_only_what_another_run_removed_or_moved_in(wrap):
    gone = FileNotFoundError(errno.ENOENT, 'No such file or directory')
    moved_in = OSError(errno.ENOTEMPTY, 'Directory not empty')
    assert extract_frames._skip_gone(os.unlink, 'x', wrap(gone)) is None
    assert extract_frames._skip_gone(os.rmdir, 'x', wrap(moved_in)) is None
    for function, error in (os.unlink, moved_in), (os.unlink, PermissionError(errno.EACCES, 'Permission denied')):
        with pytest.raises(OSError) as raised:
            extract_frames._skip_gone(function, 'x', wrap(error))
        assert raised.value is error


def test_a_temporary_folder_that_cannot_be_removed_at_the_start_fails_no_run(tmp_path, monkeypatch, caplog):
    """Out of descriptors or no permission while clearing a leftover stopped the whole run; the video's worker meets
    the folder again, and fails alone if it must."""
    videos, out = tmp_path / 'videos', tmp_path / 'frames'
    videos.mkdir()
    encode_video(videos / 'a.mp4', num_frames=10, width=64, height=48)
    (out / '.a.partial').mkdir(parents=True)

    def out_of_descriptors(temp):
        raise OSError(errno.EMFILE, 'Too many open files')

    monkeypatch.setattr(extract_frames, '_remove_unheld', out_of_descriptors)  # here; the workers are other processes
    with caplog.at_level('WARNING', logger='extract_frames'):
        summary = extract_all(out, video_dir=videos, num_frames=2, workers=1, progress=False)
    assert (summary.done, summary.failed, summary.temp_removed) == (1, 0, 0)
    assert f'could not remove the temporary folders of {out / "a"} ([Errno 24] Too many open files)' in caplog.messages
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith('.extract')) == [
        'a',
        'failures.jsonl',
        'manifest.jsonl',
    ]


def test_a_failure_after_the_rename_leaves_the_next_writers_folder_alone(tmp_path, monkeypatch):
    """Once renamed into place, `.partial` may be another run's new folder: the failure path removed it."""
    video = encode_video(tmp_path / 'scene.mp4', num_frames=10)
    out = tmp_path / 'frames' / 'scene'
    partial = tmp_path / 'frames' / '.scene.partial'
    real_replace_dir = extract_frames._replace_dir

    def replaced_then_failed(new, dest):
        real_replace_dir(new, dest)
        partial.mkdir()  # the next writer's
        (partial / 'frame_0000.jpg').write_bytes(b'theirs')
        raise OSError(errno.EIO, 'Input/output error')

    monkeypatch.setattr(extract_frames, '_replace_dir', replaced_then_failed)
    with pytest.raises(OSError, match='Input/output error'):
        extract_video(video.path, out, num_frames=2)
    assert (partial / 'frame_0000.jpg').read_bytes() == b'theirs'
    assert sorted(p.name for p in out.iterdir()) == [RECORD_NAME, 'frame_0000.jpg', 'frame_0001.jpg']


def test_frames_are_extracted_where_folders_cannot_be_locked(tmp_path, monkeypatch):
    """A file system that refuses to lock folders (Lustre mounted without flock, say): extraction goes on as before
    the temporary folders were held, a leftover one still removed."""
    real_flock = fcntl.flock

    def flock(fd, operation):
        if os.path.isdir(f'/proc/self/fd/{fd}'):
            raise OSError(errno.ENOSYS, 'Function not implemented')
        real_flock(fd, operation)

    monkeypatch.setattr(extract_frames.fcntl, 'flock', flock)
    video = encode_video(tmp_path / 'scene.mp4', num_frames=10)
    leftover = tmp_path / 'frames' / '.scene.partial'
    leftover.mkdir(parents=True)
    (leftover / 'frame_0000.jpg').write_bytes(b'half')
    record = extract_video(video.path, tmp_path / 'frames' / 'scene', num_frames=3)
    assert record.indices == [0, 4, 9]
    assert sorted(p.name for p in (tmp_path / 'frames').iterdir()) == ['scene']


def old_manifest_line(video: Path, folder: str, num_frames: int, **changes) -> dict:
    """A manifest line as the version before .record.json wrote it (git 25b634e): no source size or mtime.

    Describes a 30-frame 160x120 video at 30 fps extracted with the defaults (quality 95, pyav, full size).
    """
    indices = linspace_rule(30, num_frames)
    line = {
        'video': str(video),
        'frames_dir': folder,
        'num_frames': num_frames,
        'total_frames': 30,
        'indices': indices,
        'timestamps': [round(i / 30, 6) for i in indices],
        'width': 160,
        'height': 120,
        'src_width': 160,
        'src_height': 120,
        'fps': 30.0,
        'max_pixels': None,
        'quality': 95,
        'backend': 'pyav',
        'method': 'index',
        'note': '',
        'seconds': 0.0123,
    }
    return {**line, **changes}


def test_folders_of_the_previous_version_are_adopted_without_decoding(tmp_path):
    videos, out = tmp_path / 'videos', tmp_path / 'frames'
    (videos / 'scannet').mkdir(parents=True)
    (out / 'scannet').mkdir(parents=True)
    names = ['kept', 'other_settings', 'missing_frame', 'other_source', 'no_line', 'superseded', 'newer_source']
    lines = []
    for name in names:
        video = encode_video(videos / 'scannet' / f'{name}.mp4', num_frames=30, gop=10).path
        folder = out / 'scannet' / name
        folder.mkdir()
        for i in range(4):
            (folder / f'frame_{i:04d}.jpg').write_bytes(b'old jpeg %d' % i)
        line = old_manifest_line(video, f'scannet/{name}', 4)
        if name == 'other_settings':
            line['quality'] = 90
        elif name == 'other_source':  # the line names another file of the same name
            line['video'] = str(tmp_path / 'elsewhere' / 'scannet' / f'{name}.mp4')
        elif name == 'superseded':  # its last line is another extraction's
            lines.append(line)
            line = old_manifest_line(video, f'scannet/{name}', 8)
        if name != 'no_line':
            lines.append(line)
    (out / 'scannet' / 'missing_frame' / 'frame_0003.jpg').unlink()
    newer = videos / 'scannet' / 'newer_source.mp4'  # written after its frames: another file, the line says nothing
    os.utime(newer, ns=(time.time_ns(), time.time_ns() + 10**10))
    (out / MANIFEST_NAME).write_text(''.join(json.dumps(line) + '\n' for line in lines))
    kept = out / 'scannet' / 'kept'
    inode = (kept / 'frame_0000.jpg').stat().st_ino

    summary = extract_all(out, video_dir=videos, num_frames=4, workers=1, progress=False)
    assert (summary.done, summary.skipped, summary.failed, summary.adopted) == (6, 1, 0, 1)
    assert summary.redone == {'no record (older version)': 6}
    assert summary.manifest_restored == 0
    assert str(summary).endswith('; 6 redone (no record (older version)); 1 adopted from an older version')
    # adopted: not decoded, its record is its manifest line plus the source file as it is now
    assert (kept / 'frame_0000.jpg').stat().st_ino == inode
    assert [(kept / f'frame_{i:04d}.jpg').read_bytes() for i in range(4)] == [b'old jpeg %d' % i for i in range(4)]
    source = (videos / 'scannet' / 'kept.mp4').stat()
    identity = {'source_size': source.st_size, 'source_mtime_ns': source.st_mtime_ns}
    # rotation 0: that version wrote frames as stored; nor did it check the length (cut_short false)
    assert json.loads((kept / RECORD_NAME).read_text()) == {
        **lines[0],
        'frames_dir': str(kept),
        **identity,
        'rotation': 0,
        'cut_short': False,
    }
    # ... and the manifest gets the line with the source's identity
    assert manifest_lines(out)[len(lines)] == {**lines[0], **identity, 'rotation': 0, 'cut_short': False}
    for name in names[1:]:  # the rest were decoded again: real frames now
        assert Image.open(out / 'scannet' / name / 'frame_0003.jpg').size == (160, 120)

    again = extract_all(out, video_dir=videos, num_frames=4, workers=1, progress=False)
    assert (again.done, again.skipped, again.adopted, again.manifest_restored) == (0, 7, 0, 0)
    assert len(manifest_lines(out)) == len(lines) + 7


def test_a_malformed_record_means_the_folder_is_redone(tmp_path):
    videos, out = tmp_path / 'videos', tmp_path / 'frames'
    videos.mkdir()
    encode_video(videos / 'a.mp4', num_frames=30, gop=10)
    run = lambda: extract_all(out, video_dir=videos, num_frames=4, workers=1, progress=False)  # noqa: E731
    assert run().done == 1
    good = json.loads((out / 'a' / RECORD_NAME).read_text())
    missing_width = {key: value for key, value in good.items() if key != 'width'}
    malformed = [
        b'',
        b'{"video": "a.mp4", "num_frames"',  # cut off
        b'\xff\xfe not text',
        b'[' * 100000,  # too deeply nested for the parser
        b'[1, 2]',
        b'null',
        b'"a.mp4"',
        json.dumps({**good, 'video': None}).encode(),
        json.dumps({**good, 'num_frames': '4'}).encode(),
        json.dumps({**good, 'num_frames': True}).encode(),
        json.dumps({**good, 'indices': 'x'}).encode(),
        json.dumps({**good, 'timestamps': [None, 'a', 0.1, 0.2]}).encode(),
        json.dumps({**good, 'source_size': 1.5}).encode(),
        json.dumps(missing_width).encode(),
    ]
    for content in [*malformed, None]:
        record = out / 'a' / RECORD_NAME
        if content is None:  # a folder where the record should be
            record.unlink()
            record.mkdir()
        else:
            record.write_bytes(content)
        summary = run()
        assert (summary.done, summary.failed, summary.redone) == (1, 0, {'unreadable record': 1}), content
        assert json.loads(record.read_text()) == {**good, 'seconds': pytest.approx(good['seconds'], abs=10)}
    assert run().skipped == 1


def test_a_different_spelling_of_video_dir_restores_no_manifest_line(video_tree, tmp_path, monkeypatch):
    out = tmp_path / 'frames'
    extract_all(out, video_dir=video_tree, num_frames=2, workers=1, progress=False)
    before = (out / MANIFEST_NAME).read_text()
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'link').symlink_to(video_tree)
    for spelling in ['videos', './videos/', 'link', str(tmp_path / 'link' / 'scannet' / '..')]:
        summary = extract_all(out, video_dir=spelling, num_frames=2, workers=1, progress=False)
        assert (summary.done, summary.skipped, summary.failed, summary.manifest_restored) == (0, 2, 1, 0), spelling
        assert (out / MANIFEST_NAME).read_text() == before
    # a relative --video_dir, then the same videos from another folder: the manifest's relative path names nothing
    # from there, and 2 lines were appended as "restored"
    relative = tmp_path / 'frames_rel'
    extract_all(relative, video_dir='videos', num_frames=2, workers=1, progress=False)
    before = (relative / MANIFEST_NAME).read_text()
    (tmp_path / 'sub').mkdir()
    monkeypatch.chdir(tmp_path / 'sub')
    summary = extract_all(relative, video_dir='../videos', num_frames=2, workers=1, progress=False)
    assert (summary.done, summary.skipped, summary.manifest_restored) == (0, 2, 0)
    assert (relative / MANIFEST_NAME).read_text() == before


# Runs extract_frames.py, except that each video's finished frames (only those of the video HELD_VIDEO names, when
# it is set) wait in their temporary folder until a file (argv[1]) exists. Patched at import, so the worker processes
# (which import this script as their main module) run it too.
HELD_RUN = """
import os
import sys
import time
from pathlib import Path

import extract_frames

go = Path(sys.argv[1])
held = os.environ.get('HELD_VIDEO')  # only this video's folder, if set
replace_dir = extract_frames._replace_dir


def replace_dir_when_told(new, dest):
    deadline = time.monotonic() + 60
    while (held is None or Path(dest).name == held) and not go.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    replace_dir(new, dest)


extract_frames._replace_dir = replace_dir_when_told
if __name__ == '__main__':
    sys.exit(extract_frames.main(sys.argv[2:]))
"""


def wait_until(condition, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f'timed out waiting for {what}'
        time.sleep(0.02)


def held_argv(tmp_path: Path, *flags: str) -> list[str]:
    """A run of tmp_path/videos into tmp_path/frames, 4 frames each."""
    videos, out = tmp_path / 'videos', tmp_path / 'frames'
    return ['--video_dir', str(videos), '--output_dir', str(out), '--num_frames', '4', *flags, '--no_progress']


def start_held_run(tmp_path: Path, go: Path, *flags: str, held_video: str | None = None, **popen) -> subprocess.Popen:
    """held_argv's run under HELD_RUN: each video's finished frames (only held_video's, if given) wait for `go`."""
    script = tmp_path / 'held_run.py'
    script.write_text(HELD_RUN)
    env = {**os.environ, 'PYTHONPATH': str(Path(extract_frames.__file__).parent)}
    if held_video is not None:
        env['HELD_VIDEO'] = held_video
    command = [sys.executable, str(script), str(go), *held_argv(tmp_path, *flags)]
    return subprocess.Popen(command, text=True, env=env, **popen)


def test_a_second_run_on_the_same_output_folder_waits_for_the_first(tmp_path):
    videos, out = tmp_path / 'videos', tmp_path / 'frames'
    videos.mkdir()
    encode_video(videos / 'a.mp4', num_frames=20, gop=10)
    go, second_err = tmp_path / 'go', tmp_path / 'second.err'
    first = start_held_run(tmp_path, go, '--workers', '1', stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    second = None
    try:
        partial = out / '.a.partial'
        wait_until(lambda: (partial / RECORD_NAME).exists(), "the first run's frames in their temporary folder")
        assert (out / LOCK_NAME).read_text() == f'{first.pid}\n'
        with open(second_err, 'w') as err:
            command = [sys.executable, extract_frames.__file__, *held_argv(tmp_path, '--workers', '1')]
            second = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err, text=True)
        wait_until(lambda: 'waiting' in second_err.read_text(), 'the second run to say it waits')
        # the second run has not touched the folder: the first run's temporary folder is still there
        assert sorted(p.name for p in partial.iterdir()) == [RECORD_NAME] + [f'frame_{i:04d}.jpg' for i in range(4)]
        assert second.poll() is None
        go.touch()
        first_out, first_err = first.communicate(timeout=60)
        second_out, _ = second.communicate(timeout=60)
    finally:
        for process in first, second:
            if process is not None and process.poll() is None:
                process.kill()
    assert (first.returncode, first_err) == (0, '')
    assert first_out.startswith('done 1, skipped 0, failed 0')
    assert second.returncode == 0
    assert second_err.read_text() == f'waiting for another extract_frames run on {out} (pid {first.pid}) to finish\n'
    assert second_out.startswith('done 0, skipped 1, failed 0')  # the first run's frames, not made again
    assert len(manifest_lines(out)) == 1
    assert (out / FAILURES_NAME).read_text() == ''


def test_pid_lock_by_hand(tmp_path):
    """A lock held elsewhere goes to on_busy with its holder's pid ('unknown' while the holder has not written it
    yet): raising refuses, returning waits until it is free. Then the file holds this process's pid alone, and stays.
    """
    path, holders, inside = tmp_path / 'lock', [], []

    def refuse(holder: str) -> None:
        holders.append(holder)
        raise TimeoutError(holder)

    def take_when_free() -> None:
        with extract_frames.pid_lock(path, holders.append):
            inside.append(path.read_text())

    with open(path, 'w') as held:  # another holder, between taking the lock and writing its pid
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(TimeoutError), extract_frames.pid_lock(path, refuse):
            pass
        held.write('1234567\n')  # longer than this process's pid: replaced, not written over in part
        held.flush()
        waiter = threading.Thread(target=take_when_free)
        waiter.start()
        wait_until(lambda: len(holders) == 2, 'the lock found held')
        time.sleep(0.2)
        assert inside == []  # still waiting
    waiter.join(timeout=10)
    assert holders == ['unknown', '1234567']
    assert inside == [f'{os.getpid()}\n']
    assert path.read_text() == f'{os.getpid()}\n'


def ctrl_c_in_job(job: tuple) -> tuple:
    """A job interrupted as by Ctrl-C (module level: the worker process unpickles it by name)."""
    raise KeyboardInterrupt


def test_failures_file_describes_the_last_finished_run(video_tree, tmp_path, monkeypatch, capsys):
    out = tmp_path / 'frames'
    argv = [
        '--video_dir',
        str(video_tree),
        '--output_dir',
        str(out),
        '--num_frames',
        '2',
        '--workers',
        '1',
        '--no_progress',
    ]
    assert main(argv) == 1
    broken = video_tree / 'scannet' / 'scene0999_00.mp4'
    assert [json.loads(line)['video'] for line in (out / FAILURES_NAME).read_text().splitlines()] == [str(broken)]

    # a video that failed before and works now leaves failures.jsonl; its manifest line is the record
    encode_video(broken, num_frames=20, gop=10)
    assert main(argv) == 0
    assert (out / FAILURES_NAME).read_text() == ''
    assert 'scannet/scene0999_00' in read_manifest(out)

    # an interrupted run (Ctrl-C) keeps the last finished run's file, and says in one line how to go on
    (out / FAILURES_NAME).write_text('{"video": "x.mp4", "reason": "from the last finished run"}\n')
    shutil.rmtree(out / 'arkitscenes')

    monkeypatch.setattr(extract_frames, '_extract_job', ctrl_c_in_job)
    capsys.readouterr()
    assert main(argv) == 130
    err = capsys.readouterr().err.splitlines()
    assert err == ['extract_frames.py: interrupted; run the same command again to resume']
    assert json.loads((out / FAILURES_NAME).read_text())['reason'] == 'from the last finished run'
    assert sorted(p.name for p in out.iterdir()) == [
        LOCK_NAME,
        WORKERS_LOCK_NAME,
        FAILURES_NAME,
        MANIFEST_NAME,
        'scannet',
    ]


# ---------------------------------------------------------------- worker processes that die or are interrupted


def extract_or_die(job: tuple) -> tuple:
    """_extract_job, logging each attempt to <tmp>/attempts.log, except that the worker process dies on two videos
    (as an OOM kill or a decoder crash would) once another video has started beside it.

    A healthy video takes a second on its first attempt, so it is still in progress when a worker dies beside it.
    """
    video, out_dir = Path(job[0]), Path(job[1])
    log = out_dir.parent.parent / 'attempts.log'
    with open(log, 'a') as f:
        f.write(f'start {video.stem}\n')
    if video.stem in ('exits', 'killed'):
        deadline = time.monotonic() + 30
        while log.read_text().count('start') < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        if video.stem == 'exits':
            os._exit(3)
        os.kill(os.getpid(), signal.SIGKILL)
    if log.read_text().count(f'start {video.stem}\n') == 1:
        time.sleep(1)
    result = _extract_job(job)
    with open(log, 'a') as f:
        f.write(f'end {video.stem}\n')
    return result


@pytest.mark.parametrize('dying, cause', [('exits', 'exit code 3'), ('killed', 'killed by SIGKILL: out of memory?')])
def test_videos_lost_with_a_dead_worker_are_retried_alone_and_only_the_culprit_fails(
    dying, cause, tmp_path, monkeypatch
):
    videos, out = tmp_path / 'videos', tmp_path / 'frames'
    videos.mkdir()
    names = ['v0', dying, 'v1', 'v2', 'v3']
    paths = [encode_video(videos / f'{name}.mp4', num_frames=30, gop=10).path for name in names]
    # the pool pickles the job function by name, so its forkserver workers run this module's extract_or_die
    monkeypatch.setattr(extract_frames, '_extract_job', extract_or_die)
    summary = extract_all(out, paths, video_dir=videos, num_frames=3, workers=2, progress=False)

    # v0 was in progress when the worker died: it is retried alone and done; the culprit dies again alone
    assert (summary.done, summary.failed) == (4, 1)
    assert summary.failures == [
        {
            'video': str(videos / f'{dying}.mp4'),
            'reason': f'WorkerDied: worker process died ({cause}) while extracting this video '
            '(retried alone after a worker died during its first attempt)',
        }
    ]
    assert sorted(read_manifest(out)) == ['v0', 'v1', 'v2', 'v3']
    assert [json.loads(line) for line in (out / FAILURES_NAME).read_text().splitlines()] == summary.failures
    events = (tmp_path / 'attempts.log').read_text().splitlines()
    # the two lost videos run again one after the other (one job in flight), in the order handed out, before the
    # others start
    assert sorted(events[:2]) == [f'start {dying}', 'start v0']
    assert events[2:5] == ['start v0', 'end v0', f'start {dying}']
    assert sorted(events[5:]) == ['end v1', 'end v2', 'end v3', 'start v1', 'start v2', 'start v3']

    # the next run (workers healthy again) extracts exactly the video that failed
    monkeypatch.setattr(extract_frames, '_extract_job', _extract_job)
    again = extract_all(out, paths, video_dir=videos, num_frames=3, workers=2, progress=False)
    assert (again.done, again.skipped, again.failed) == (1, 4, 0)


def die_after_writing_frames(job: tuple) -> tuple:
    """A worker that dies (as an OOM kill would) in the middle of writing the frames of `dies`."""
    video, out_dir = Path(job[0]), Path(job[1])
    if video.stem == 'dies':
        partial = extract_frames._temp_dirs(out_dir)[0]
        extract_frames._take_partial(partial)
        (partial / 'frame_0000.jpg').write_bytes(b'half')
        os._exit(3)
    return _extract_job(job)


@pytest.mark.parametrize('workers', [1, 2])
def test_a_finished_run_leaves_no_temporary_folder_of_a_dead_worker(workers, tmp_path, monkeypatch):
    """The video a dying worker was writing fails (also when retried alone), and its half-written .partial folder
    stayed after the run ended: the next run reported it as left by a killed run."""
    videos, out = tmp_path / 'videos', tmp_path / 'frames'
    videos.mkdir()
    paths = [encode_video(videos / f'{name}.mp4', num_frames=30, gop=10).path for name in ('v0', 'dies', 'v1')]
    monkeypatch.setattr(extract_frames, '_extract_job', die_after_writing_frames)
    summary = extract_all(out, paths, video_dir=videos, num_frames=3, workers=workers, progress=False)
    assert (summary.done, summary.failed) == (2, 1)
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ['v0', 'v1']  # no .dies.partial
    monkeypatch.setattr(extract_frames, '_extract_job', _extract_job)
    again = extract_all(out, paths, video_dir=videos, num_frames=3, workers=workers, progress=False)
    assert (again.done, again.skipped, again.failed, again.temp_removed) == (1, 2, 0, 0)


def test_one_worker_records_a_crash_and_goes_on(tmp_path, monkeypatch):
    videos, out = tmp_path / 'videos', tmp_path / 'frames'
    videos.mkdir()
    paths = [encode_video(videos / f'{name}.mp4', num_frames=30, gop=10).path for name in ('v0', 'exits', 'v1')]
    monkeypatch.setattr(extract_frames, '_extract_job', extract_or_die)
    summary = extract_all(out, paths, video_dir=videos, num_frames=3, workers=1, progress=False)
    # the jobs run in a one-process pool, not in this process: the crash is a recorded failure, tried once
    assert (summary.done, summary.failed) == (2, 1)
    assert summary.failures == [
        {
            'video': str(videos / 'exits.mp4'),
            'reason': 'WorkerDied: worker process died (exit code 3) while extracting this video',
        }
    ]
    assert (tmp_path / 'attempts.log').read_text().splitlines() == [
        'start v0',
        'end v0',
        'start exits',
        'start v1',
        'end v1',
    ]


def exit_on_a(job: str) -> tuple:
    """A job of _run_jobs that kills its worker on 'a' and succeeds on anything else."""
    if job == 'a':
        os._exit(3)
    return job, {'ok': job}, None


class SubmitsAfterADeath(extract_frames.ProcessPoolExecutor):
    """A pool whose second submission waits until the first job's worker has died and the pool knows it is broken:
    the moment a worker dies between two submissions, made certain. A third submission to a broken pool would be a
    loop that never ends, so it fails the test instead."""

    pools: list = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.submitted = 0
        SubmitsAfterADeath.pools.append(self)

    def submit(self, *args, **kwargs):
        self.submitted += 1
        if self.submitted == 2:
            deadline = time.monotonic() + 30
            while not self._broken and time.monotonic() < deadline:
                time.sleep(0.01)
            assert self._broken, 'the first worker did not die'
        assert not (self._broken and self.submitted > 2), 'submitted again to a broken pool'
        return super().submit(*args, **kwargs)


def test_a_worker_that_dies_between_two_submissions_loses_only_its_own_video(tmp_path, monkeypatch):
    """The second submission finds the pool broken (submit raises): the first video is retried alone and fails, the
    second was never handed out, so it is not lost: it runs in the next pool."""
    monkeypatch.setattr(extract_frames, 'ProcessPoolExecutor', SubmitsAfterADeath)
    monkeypatch.setattr(SubmitsAfterADeath, 'pools', [])
    results = list(extract_frames._run_jobs(['a', 'b'], 2, exit_on_a, tmp_path / 'workers.lock'))
    assert results == [
        (
            'a',
            None,
            'WorkerDied: worker process died (exit code 3) while extracting this video (retried alone after a worker '
            'died during its first attempt)',
        ),
        ('b', {'ok': 'b'}, None),
    ]
    # the broken pool, a for a alone, a new one for b
    assert [pool.submitted for pool in SubmitsAfterADeath.pools] == [2, 1, 1]


def wait_for_ctrl_c(job: tuple) -> tuple:
    """A job that says it has started, then takes far longer than the test (a long video being decoded)."""
    (Path(job[1]).parent / f'{Path(job[1]).name}.started').touch()
    time.sleep(300)
    return _extract_job(job)


def test_ctrl_c_stops_the_workers_and_exits_130_with_one_line(tmp_path, monkeypatch, capfd):
    videos, out = tmp_path / 'videos', tmp_path / 'frames'
    videos.mkdir()
    for name in 'ab':
        encode_video(videos / f'{name}.mp4', num_frames=10, gop=10)
    monkeypatch.setattr(extract_frames, '_extract_job', wait_for_ctrl_c)

    def press_ctrl_c():
        while len(list(out.glob('*.started'))) < 2:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)

    # Python raises KeyboardInterrupt only if SIGINT was not ignored at start-up, as it is for tests run in the
    # background: restore the handler a terminal run has.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    threading.Thread(target=press_ctrl_c, daemon=True).start()
    started = time.perf_counter()
    argv = ['--video_dir', str(videos), '--output_dir', str(out), '--workers', '2', '--no_progress']
    try:
        assert main(argv) == 130
    finally:
        signal.signal(signal.SIGINT, previous)
    assert time.perf_counter() - started < 60  # the workers were stopped, not waited for
    captured = capfd.readouterr()  # workers write to the same stderr: no traceback from them either
    assert captured.err.splitlines() == ['extract_frames.py: interrupted; run the same command again to resume']
    assert sorted(p.name for p in out.iterdir()) == [
        LOCK_NAME,
        WORKERS_LOCK_NAME,
        'a.started',
        'b.started',
        MANIFEST_NAME,
    ]


@pytest.mark.parametrize(
    ('stop', 'group'),
    [(signal.SIGKILL, False), (signal.SIGTERM, False), (signal.SIGTERM, True)],
    ids=['SIGKILL', 'SIGTERM', 'SIGTERM to the group'],
)
def test_the_workers_end_with_a_killed_or_terminated_run(stop, group, tmp_path):
    """A SIGTERM to the whole process group (a scheduler's cancel, `kill -- -PGID`) killed the forkserver too: the
    pool's shutdown returned while the workers still held their folders, which stayed (helper-143: about half the
    time)."""
    videos, out = tmp_path / 'videos', tmp_path / 'frames'
    videos.mkdir()
    paths = [encode_video(videos / f'{name}.mp4', num_frames=20, width=64, height=48).path for name in 'ab']
    # stderr to a file, not a pipe: the old code's orphan workers held a pipe open, so reading it to the end hung
    err = tmp_path / 'first.err'
    with open(err, 'w') as err_file:  # the workers hold their finished frames until a file that is never made
        first = start_held_run(
            tmp_path,
            tmp_path / 'never',
            '--workers',
            '2',
            stdout=subprocess.DEVNULL,
            stderr=err_file,
            start_new_session=group,
        )
    below = []
    try:
        for name in 'ab':
            wait_until(lambda name=name: (out / f'.{name}.partial' / RECORD_NAME).exists(), f'video {name} in progress')
        below = process_tree(first.pid)
        assert len(below) >= 3  # the forkserver and two workers at least
        with open(out / WORKERS_LOCK_NAME) as workers_lock:  # held shared by the workers while they live
            with pytest.raises(BlockingIOError):
                fcntl.flock(workers_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.killpg(first.pid, stop) if group else first.send_signal(stop)
            first.wait(timeout=30)
            wait_until(lambda: not any(map(alive, below)), 'the workers to end', timeout=5)
            fcntl.flock(workers_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # and free once they have ended
    finally:
        first.kill()
        for pid in filter(alive, below):  # the old code's orphans: not left behind by the test
            os.kill(pid, signal.SIGKILL)
    if stop == signal.SIGTERM:  # stopped as Ctrl-C stops it: workers stopped, their temporary folders removed
        assert first.returncode == 143
        assert err.read_text() == 'extract_frames.py: terminated; run the same command again to resume\n'
        assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME, WORKERS_LOCK_NAME, MANIFEST_NAME]
    else:
        assert first.returncode == -signal.SIGKILL

    # run again at once: nothing left running to race with, and the frames are right
    again = subprocess.run(
        [sys.executable, extract_frames.__file__, *held_argv(tmp_path, '--workers', '2')],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (again.returncode, again.stderr) == (0, '')
    assert again.stdout.startswith('done 2, skipped 0, failed 0')
    records = read_manifest(out)
    for path in paths:
        assert_same_frames(records[path.stem], decode_all(path))
    assert sorted(p.name for p in out.iterdir()) == [
        LOCK_NAME,
        WORKERS_LOCK_NAME,
        'a',
        'b',
        FAILURES_NAME,
        MANIFEST_NAME,
    ]


def test_ctrl_c_that_reaches_the_workers_is_left_to_the_main_process(tmp_path):
    """A terminal's Ctrl-C sends SIGINT to every process of the run, and a worker can see it first: the workers ignore
    it (the main process stops them), so one that got it alone goes on with its video and the run ends well."""
    videos, out = tmp_path / 'videos', tmp_path / 'frames'
    videos.mkdir()
    encode_video(videos / 'a.mp4', num_frames=20, width=64, height=48)
    go = tmp_path / 'go'
    # SIGINT raises KeyboardInterrupt in the run and its workers, as at a terminal, even when the tests run in the
    # background with SIGINT ignored (which the run would inherit)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        run = start_held_run(tmp_path, go, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        wait_until(lambda: (out / '.a.partial' / RECORD_NAME).exists(), 'video a in progress')
        for pid in process_tree(run.pid):  # the forkserver and the worker (and the resource tracker), not the run
            os.kill(pid, signal.SIGINT)
        time.sleep(0.5)
        go.touch()
        stdout, stderr = run.communicate(timeout=60)
    finally:
        run.kill()
    assert (run.returncode, stderr) == (0, '')
    assert stdout.startswith('done 1, skipped 0, failed 0')
    assert_same_frames(read_manifest(out)['a'], decode_all(videos / 'a.mp4'))


def test_a_free_worker_takes_the_next_video_while_another_is_still_in_progress(tmp_path):
    """Each worker that finishes gets the next video at once: b and c are done while a, handed out first, is held."""
    videos, out = tmp_path / 'videos', tmp_path / 'frames'
    videos.mkdir()
    for name in 'abc':
        encode_video(videos / f'{name}.mp4', num_frames=20, width=64, height=48)
    go = tmp_path / 'go'
    run = start_held_run(tmp_path, go, '--workers', '2', held_video='a', stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: (out / 'b').is_dir() and (out / 'c').is_dir(), 'b and c done while a is held', timeout=30)
        assert not (out / 'a').exists()
        go.touch()
        stdout, stderr = run.communicate(timeout=60)
    finally:
        run.kill()
    assert (run.returncode, stderr) == (0, '')
    assert stdout.startswith('done 3, skipped 0, failed 0')
    assert sorted(read_manifest(out)) == ['a', 'b', 'c']


def test_a_full_disk_while_writing_the_manifest_says_where_and_the_run_resumes(tmp_path, monkeypatch, capsys):
    """It said `extract_frames.py: error: [Errno 28] No space left on device`, naming no file."""
    videos, out = tmp_path / 'videos', tmp_path / 'frames'
    videos.mkdir()
    encode_video(videos / 'a.mp4', num_frames=10, width=64, height=48)
    real_open = open

    class FullManifest:
        def __init__(self, file):
            self.file = file

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.file.close()

        def writelines(self, lines):
            self.file.writelines(lines)

        def flush(self):
            self.file.flush()

        def write(self, text):
            raise OSError(errno.ENOSPC, 'No space left on device')

    def full_open(path, *args, **kwargs):
        file = real_open(path, *args, **kwargs)
        return FullManifest(file) if Path(path).name == MANIFEST_NAME else file

    argv = ['--video_dir', str(videos), '--output_dir', str(out), '--num_frames', '2', '--no_progress']
    with monkeypatch.context() as patch:
        patch.setattr(extract_frames, 'open', full_open, raising=False)  # the workers (other processes) write frames
        assert main(argv) == 2
    assert capsys.readouterr().err == (
        f'extract_frames.py: error: [Errno 28] No space left on device while writing {MANIFEST_NAME} or '
        f'{FAILURES_NAME} in {out}; the frame folders made so far are kept: make room and run the same command again\n'
    )
    assert main(argv) == 0
    out_text = capsys.readouterr().out
    assert out_text.startswith('done 0, skipped 1, failed 0') and out_text.endswith('; 1 manifest lines restored\n')
    assert sorted(read_manifest(out)) == ['a']


def test_a_run_waits_for_the_workers_of_a_killed_run(tmp_path):
    videos, out = tmp_path / 'videos', tmp_path / 'frames'
    videos.mkdir()
    out.mkdir()
    encode_video(videos / 'a.mp4', num_frames=10, width=64, height=48)
    # a worker of a killed run that is still finishing its video holds this lock shared, as this test does now
    orphan = os.open(out / WORKERS_LOCK_NAME, os.O_WRONLY | os.O_CREAT)
    fcntl.flock(orphan, fcntl.LOCK_SH)
    argv = ['--video_dir', str(videos), '--output_dir', str(out), '--num_frames', '2', '--no_progress']
    run = subprocess.Popen(
        [sys.executable, extract_frames.__file__, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_until(lambda: (out / LOCK_NAME).exists() and (out / LOCK_NAME).read_text() == f'{run.pid}\n', 'the lock')
        time.sleep(1)
        assert run.poll() is None  # waiting: nothing written
        assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME, WORKERS_LOCK_NAME]
        os.close(orphan)  # the orphan ends
        assert run.wait(timeout=60) == 0
    finally:
        run.kill()
    assert run.stdout.read().startswith('done 1, skipped 0, failed 0')
    # and said so while it waited (it used to say nothing)
    assert f'waiting for the worker processes of a killed run on {out} to end' in run.stderr.read()


# ---------------------------------------------------------------- which videos, and which folders


def test_find_videos_follows_folder_links_but_not_cycles(tmp_path):
    elsewhere, root = tmp_path / 'disk2' / 'arkitscenes', tmp_path / 'videos'
    elsewhere.mkdir(parents=True)
    (root / 'scannet').mkdir(parents=True)
    for path in elsewhere / '41069025.mov', root / 'scannet' / 'scene0011_00.mp4', root / 'scannet' / 'notes.txt':
        path.write_bytes(b'x')
    (root / 'arkitscenes').symlink_to(elsewhere)  # a dataset folder assembled from a link
    (root / 'scannet' / 'loop').symlink_to(root)  # a link back up: searched once
    (root / 'scannet' / 'gone.mkv').symlink_to(tmp_path / 'missing.mkv')  # broken: kept, so it fails visibly
    assert find_videos(root) == [
        root / 'arkitscenes' / '41069025.mov',
        root / 'scannet' / 'gone.mkv',
        root / 'scannet' / 'scene0011_00.mp4',
    ]


def test_videos_of_other_kinds_in_the_folder_are_counted_not_passed_over_in_silence(tmp_path, caplog):
    """Camcorder .mts and broadcast .ts files are videos the issue's five suffixes leave out: a --video_dir search
    skipped them without a word."""
    root = tmp_path / 'videos'
    (root / 'cam').mkdir(parents=True)
    for name in 'scene.mp4', 'cam/a.MTS', 'cam/b.mts', 'cam/c.ts', 'notes.txt':
        (root / name).write_bytes(b'x')
    with caplog.at_level('WARNING', logger='extract_frames'):
        assert find_videos(root) == [root / 'scene.mp4']
    assert caplog.messages == [
        f'3 file(s) under {root} are videos of other kinds (.mts 2, .ts 1), not searched for: name them in a '
        '--video_list to extract them (decoded from the start where their container cannot seek, as MPEG-TS)'
    ]
    caplog.clear()
    for name in 'a.MTS', 'b.mts', 'c.ts':
        (root / 'cam' / name).unlink()
    assert find_videos(root) == [root / 'scene.mp4'] and caplog.messages == []


def test_frame_folders_that_clash_are_refused_before_anything_is_written(tmp_path, capsys):
    videos, out = tmp_path / 'videos', tmp_path / 'frames'
    (videos / 'scannet').mkdir(parents=True)
    for name in 'scannet.mp4', 'scannet/scene1.mp4', 'manifest.jsonl.mp4', 'a.mp4', 'a.mkv':
        (videos / name).write_bytes(b'x')
    assert main(['--video_dir', str(videos), '--output_dir', str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and err.startswith('extract_frames.py: error: 3 clash(es) between frame folders')
    assert f'{videos}/a.mkv and {videos}/a.mp4 differ only in extension, so both would write {out}/a' in err
    assert f"{out}/manifest.jsonl, which is the run's own manifest.jsonl" in err
    assert f'{videos}/scannet/scene1.mp4 would write its frames inside the frame folder of {videos}/scannet.mp4' in err
    assert not out.exists()

    # without --video_dir folders are named by file stem: the same name in two folders needs --video_dir
    listing = tmp_path / 'list.txt'
    listing.write_text('videos/a.mp4\nvideos/scannet/a.mp4\n')
    (videos / 'scannet' / 'a.mp4').write_bytes(b'x')
    assert main(['--video_list', str(listing), '--output_dir', str(out)]) == 2
    err = capsys.readouterr().err
    assert f'{videos}/a.mp4 and {videos}/scannet/a.mp4 would both write {out}/a: give --video_dir' in err


def test_duplicate_list_entries_are_extracted_once(video_tree, tmp_path):
    listing = tmp_path / 'videos.txt'
    listing.write_text('scannet/scene0011_00.mp4\nscannet/../scannet/scene0011_00.mp4\nscannet/scene0011_00.mp4\n')
    out = tmp_path / 'frames'
    summary = extract_all(out, find_videos(video_tree, listing), video_dir=video_tree, num_frames=2, progress=False)
    assert (summary.done, summary.duplicates) == (1, 2)
    assert str(summary).endswith('; 2 duplicate entries extracted once')
    assert len(manifest_lines(out)) == 1


def test_a_tilde_in_the_path_flags_is_the_home_folder(video_tree, tmp_path, monkeypatch):
    """bash leaves `~` unexpanded after `=` and in quotes: `--output_dir=~/x` made a folder named `~` here."""
    (tmp_path / 'videos.txt').write_text('videos/scannet/scene0011_00.mp4\n')
    (tmp_path / 'cwd').mkdir()
    monkeypatch.setenv('HOME', str(tmp_path))
    monkeypatch.chdir(tmp_path / 'cwd')
    assert main(['--video_list=~/videos.txt', '--output_dir=~/listed', '--num_frames', '2', '--no_progress']) == 0
    assert list(read_manifest(tmp_path / 'listed')) == ['scene0011_00']
    assert (
        main(['--video_dir', '~/videos/arkitscenes', '--output_dir=~/found', '--num_frames', '2', '--no_progress']) == 0
    )
    assert list(read_manifest(tmp_path / 'found')) == ['41069025']
    assert list((tmp_path / 'cwd').iterdir()) == []


# ---------------------------------------------------------------- bookkeeping, by hand


def test_sample_indices_rejects_taking_no_frames():
    with pytest.raises(ValueError, match='num_frames=0'):
        sample_indices(5, 0)


def test_frames_dir_for_takes_plain_strings():
    assert frames_dir_for('videos/scannet/scene0011_00.mp4', None, 'frames') == Path('frames/scene0011_00')
    assert frames_dir_for('videos/scannet/scene0011_00.mp4', 'videos', 'frames') == Path('frames/scannet/scene0011_00')


@pytest.mark.parametrize(
    'summary, expected',
    [
        (ExtractSummary(), 'done 0, skipped 0, failed 0 in 0.0 s: 0.0 frames/s, 0.0 videos/min'),
        # 96 frames / 12 s = 8 frames/s; 60 * 3 videos / 12 s = 15 videos/min
        (
            ExtractSummary(done=3, skipped=1, failed=2, frames=96, seconds=12.0),
            'done 3, skipped 1, failed 2 in 12.0 s: 8.0 frames/s, 15.0 videos/min',
        ),
        (
            ExtractSummary(
                done=4,
                frames=12,
                seconds=8.0,
                redone=Counter({'source changed': 1, 'incomplete': 2}),
                duplicates=1,
                manifest_restored=2,
                adopted=3,
            ),
            'done 4, skipped 0, failed 0 in 8.0 s: 1.5 frames/s, 30.0 videos/min; 2 redone (incomplete); '
            '1 redone (source changed); 1 duplicate entries extracted once; 2 manifest lines restored; '
            '3 adopted from an older version',
        ),
    ],
)
def test_summary_line(summary, expected):
    assert str(summary) == expected


@pytest.mark.parametrize(
    'times, average_rate, guessed_rate, expected',
    [
        ([0.0, 0.5, 1.0, 2.0], 99, 99, 1.5),  # 3 intervals in 2 s: the container's rate is not asked
        ([None, 1.0, None, 3.0], 99, 99, 0.5),  # frames without a timestamp are left out: 1 interval in 2 s
        ([0.25, 0.75], 99, 99, 2.0),  # two timestamps are enough
        ([1.0], Fraction(30000, 1001), 99, 30000 / 1001),  # one frame: the container's mean rate
        ([2.0, 2.0], None, Fraction(25), 25.0),  # no time between them: the guessed rate, without a mean one
        ([3.0, 1.0], Fraction(24), None, 24.0),  # time running backwards
        ([None, None], None, None, 0.0),  # nothing known
    ],
)
def test_mean_fps_by_hand(times, average_rate, guessed_rate, expected):
    stream = SimpleNamespace(average_rate=average_rate, guessed_rate=guessed_rate)
    assert extract_frames._mean_fps(times, stream) == pytest.approx(expected, rel=1e-12)


def test_a_manifest_cut_off_mid_line_is_read_and_repaired(tmp_path, caplog):
    first, second = (json.dumps(old_manifest_line(tmp_path / f'{name}.mp4', name, 4)) for name in 'ab')
    manifest = tmp_path / MANIFEST_NAME
    whole = f'{first}\n\n  \n{second}\n'.encode()
    manifest.write_bytes(whole + b'{"video": "c.m')
    assert list(read_manifest(tmp_path)) == ['a', 'b']  # blank lines skipped, the cut-off line ignored
    assert [number for number, _ in extract_frames.read_jsonl_log(str(manifest), dict, 'a row')] == [1, 4]
    (tmp_path / 'rows.jsonl').write_text('{"a": 1}\n[1, 2]\n')  # whatever `parse` does with it, not an object
    with pytest.raises(ValueError, match=r'^\S+rows.jsonl:2: not a row \(expected an object, got list\); fix or'):
        extract_frames.read_jsonl_log(tmp_path / 'rows.jsonl', dict, 'a row')
    assert 'ignoring the cut-off last line (14 bytes)' in caplog.text
    assert manifest.read_bytes() == whole + b'{"video": "c.m'  # read only
    assert list(read_manifest(tmp_path, repair=True)) == ['a', 'b']
    assert manifest.read_bytes() == whole  # cut back to the last whole line
    # a whole last line that lost only its newline keeps its record and gets the newline back
    manifest.write_bytes(whole + second.encode())
    assert list(read_manifest(str(tmp_path))) == ['a', 'b']
    assert manifest.read_bytes() == whole + second.encode()
    assert list(read_manifest(tmp_path, repair=True)) == ['a', 'b']
    assert manifest.read_bytes() == whole + second.encode() + b'\n'
    assert list(read_manifest(tmp_path, repair=True)) == ['a', 'b']
    assert manifest.read_bytes() == whole + second.encode() + b'\n'  # nothing to repair
    # only the last line can be a cut-off write: one before it is an error
    manifest.write_bytes(b'{"video": "c.m\n' + whole)
    with pytest.raises(ValueError, match=f'{MANIFEST_NAME}:1: not a frame record'):
        read_manifest(tmp_path, repair=True)
    assert manifest.read_bytes() == b'{"video": "c.m\n' + whole


@pytest.mark.parametrize(
    'row, error',
    [
        ([1, 2], 'expected an object, got list'),
        ('a.mp4', 'expected an object, got str'),
        ({'num_frames': '4'}, "num_frames should be int, got '4'"),
        ({'num_frames': True}, 'num_frames should be int, got True'),
        ({'fps': '30'}, "fps should be float, got '30'"),
        ({'indices': [0, '9']}, "indices should be list\\[int\\], got \\[0, '9'\\]"),
        ({'indices': (0, 9)}, 'indices should be list\\[int\\], got \\(0, 9\\)'),
        ({'max_pixels': 1.5}, 'max_pixels should be int \\| None, got 1.5'),
        ({'timestamps': [0.0, 'a']}, "timestamps should be list\\[float \\| None\\], got \\[0.0, 'a'\\]"),
    ],
)
def test_frame_record_refuses_rows_of_the_wrong_shape(tmp_path, row, error):
    if isinstance(row, dict):
        row = {**old_manifest_line(tmp_path / 'a.mp4', 'a', 4), **row}
    with pytest.raises(TypeError, match=f'^{error}$'):
        extract_frames._frame_record(row)


def test_frame_record_takes_whole_numbers_as_floats_and_ignores_unknown_keys(tmp_path):
    row = old_manifest_line(tmp_path / 'a.mp4', 'a', 4, fps=30, timestamps=[0, None, 1, 0.5], max_pixels=None)
    record = extract_frames._frame_record({**row, 'written_by': 'a newer version'})
    assert (record.fps, record.timestamps, record.max_pixels, record.source_size) == (30, [0, None, 1, 0.5], None, None)


def test_find_videos_needs_a_folder_or_a_list(tmp_path):
    with pytest.raises(ValueError, match='^give --video_dir or --video_list$'):
        find_videos()
    with pytest.raises(FileNotFoundError, match=f'^--video_dir {tmp_path / "missing"} is not a folder$'):
        find_videos(tmp_path / 'missing')


def test_a_missing_relative_video_dir_or_list_says_where_relative_paths_start(tmp_path, capsys, monkeypatch):
    """Run from another folder, `--video_dir data/videos is not a folder` named the path as typed, which looks
    right; a missing --video_list gave only Python's `No such file or directory`."""
    monkeypatch.chdir(tmp_path)
    where = f'(relative paths start at {tmp_path})'
    for argv, error in (
        (['--video_dir', 'data/videos'], f'--video_dir data/videos is not a folder {where}'),
        (['--video_list', 'videos.txt'], f'--video_list videos.txt does not exist {where}'),
        (['--video_list', str(tmp_path / 'videos.txt')], f'--video_list {tmp_path / "videos.txt"} does not exist'),
    ):
        assert main([*argv, '--output_dir', 'out']) == 2
        assert capsys.readouterr().err == f'extract_frames.py: error: {error}\n'
    (tmp_path / 'listing').mkdir()
    assert main(['--video_list', 'listing', '--output_dir', 'out']) == 2
    assert capsys.readouterr().err == (
        'extract_frames.py: error: --video_list listing is a folder; give a folder of videos as --video_dir\n'
    )
    (tmp_path / 'afile').write_text('x')  # it exists: the folder it was read from is not the problem
    with pytest.raises(FileNotFoundError, match='^--video_dir afile is not a folder$'):
        find_videos('afile')
    assert not (tmp_path / 'out').exists()


def test_find_videos_reads_list_lines_stripped_and_comments_skipped(tmp_path):
    listing = tmp_path / 'videos.txt'
    listing.write_text('  a.mp4  \n\t# b.mp4\n   \n/data/c.MKV\n')
    assert find_videos(video_list=listing) == [tmp_path / 'a.mp4', Path('/data/c.MKV')]
    assert find_videos(tmp_path / 'videos', str(listing)) == [tmp_path / 'videos' / 'a.mp4', Path('/data/c.MKV')]
    # names that start with # or a space, written as README and --help say
    listing.write_text('./#01 take.mkv\n./ lead.mkv\n')
    assert find_videos(video_list=listing) == [tmp_path / '#01 take.mkv', tmp_path / ' lead.mkv']


def test_find_videos_splits_list_lines_only_at_line_ends(tmp_path):
    """LF, CRLF and CR end a line; the other separators str.splitlines knows (U+2028, U+0085, form feed) may be part
    of a file name, which used to be cut in two at them."""
    names = ['a\u2028b.mp4', 'c\x85d.mp4', 'e\x0cf.mp4', 'g.mp4', 'h.mp4', 'i.mp4']
    listing = tmp_path / 'videos.txt'
    listing.write_bytes('{}\n{}\r\n{}\r{}\n\n{}\r\n{}'.format(*names).encode())
    assert find_videos(video_list=listing) == [tmp_path / name for name in names]
    listing.write_bytes(b'x/\n\n')  # a line's number counts every line end: the folder is on line 1
    (tmp_path / 'x').mkdir()
    with pytest.raises(ValueError, match=f'^{listing}: line 1: '):
        find_videos(video_list=listing)


def test_find_videos_raises_on_a_folder_it_cannot_read(tmp_path, monkeypatch):
    (tmp_path / 'scannet').mkdir()
    (tmp_path / 'a.MOV').write_bytes(b'x')
    (tmp_path / 'a.mp4.txt').write_bytes(b'x')
    assert find_videos(tmp_path) == [tmp_path / 'a.MOV']
    scandir = os.scandir

    def denied(path='.'):
        if os.fspath(path) == str(tmp_path / 'scannet'):
            raise PermissionError(13, 'Permission denied', os.fspath(path))
        return scandir(path)

    monkeypatch.setattr(os, 'scandir', denied)
    with pytest.raises(PermissionError, match='scannet'):
        find_videos(tmp_path)


def test_find_videos_says_when_a_link_leads_back_up(tmp_path, caplog):
    (tmp_path / 'scannet').mkdir()
    (tmp_path / 'scannet' / 'loop').symlink_to(tmp_path)
    (tmp_path / 'top.mp4').write_bytes(b'x')
    assert find_videos(tmp_path) == [tmp_path / 'top.mp4']  # not again as scannet/loop/top.mp4
    assert f'{tmp_path / "scannet" / "loop"} links back to {tmp_path}, a folder above it: not searched again' in (
        caplog.text
    )


@pytest.mark.parametrize(
    'code, words',
    [
        (1, 'exit code 1'),
        (3, 'exit code 3'),
        (-9, 'killed by SIGKILL: out of memory?'),
        (-11, 'killed by SIGSEGV: decoder crash?'),
        (-15, 'killed by SIGTERM'),
        (-200, 'killed by signal 200'),  # no signal of that number
    ],
)
def test_exit_status_in_words(code, words):
    assert extract_frames._exit_status(code) == words


@pytest.mark.parametrize(
    'exit_codes, cause',
    [
        ([], 'worker process died'),
        ([None, 0], 'worker process died'),  # still running, or ended well: no cause known
        ([-15, -9, None], 'worker process died (killed by SIGKILL: out of memory?)'),  # SIGTERM: the pool's own stop
        ([-15, -15], 'worker process died (killed by SIGTERM)'),  # unless every worker ended so
        ([3, -11, 1, 3], 'worker process died (killed by SIGSEGV: decoder crash?, exit code 1, exit code 3)'),
    ],
)
def test_death_cause_names_how_the_workers_ended(exit_codes, cause):
    assert extract_frames._death_cause([SimpleNamespace(exitcode=code) for code in exit_codes]) == cause


def test_plan_lists_every_clash_and_shows_the_first_five(tmp_path):
    videos, out = tmp_path / 'videos', tmp_path / 'frames'
    pairs = lambda count: [videos / f'v{i}.{suffix}' for i in range(count) for suffix in ('mp4', 'mkv')]  # noqa: E731
    clash = 'videos/v{0}.mp4 and videos/v{0}.mkv differ only in extension, so both would write frames/v{0}: rename one'
    clashes = [clash.format(i).replace('videos/', f'{videos}/').replace('frames/', f'{out}/') for i in range(7)]
    for count, shown in (
        (1, clashes[0]),
        (5, '; '.join(clashes[:5])),
        (6, '; '.join(clashes[:5]) + '; and 1 more'),
        (7, '; '.join(clashes[:5]) + '; and 2 more'),
    ):
        with pytest.raises(ValueError) as error:
            extract_frames._plan(pairs(count), videos, out)
        assert str(error.value) == f'{count} clash(es) between frame folders, nothing extracted: {shown}'


def test_plan_refuses_folders_on_the_names_the_run_writes(tmp_path):
    videos, out = tmp_path / 'videos', tmp_path / 'frames'
    # .a.partial is where the frames of a.mp4 are written before they are renamed into place
    with pytest.raises(ValueError) as error:
        extract_frames._plan([videos / 'a.mp4', videos / '.a.partial.mp4'], videos, out)
    assert str(error.value) == (
        f'1 clash(es) between frame folders, nothing extracted: {videos}/.a.partial.mp4 would write its frames to '
        f'{out}/.a.partial, which is a temporary folder of {videos}/a.mp4: rename it'
    )
    with pytest.raises(ValueError) as error:
        extract_frames._plan([videos / 'b.mp4', videos / 'failures.jsonl' / 'x.mp4'], videos, out)
    assert str(error.value) == (
        f'1 clash(es) between frame folders, nothing extracted: {videos}/failures.jsonl/x.mp4 would write its frames '
        f"inside {out}/failures.jsonl, which is the run's own failures.jsonl: rename it"
    )
    # the same file twice (also through another spelling) is planned once
    assert extract_frames._plan([videos / 'a.mp4', videos / 'x' / '..' / 'a.mp4', videos / 'b.mp4'], videos, out) == (
        {out / 'a': videos / 'a.mp4', out / 'b': videos / 'b.mp4'},
        1,
    )


def test_plan_refuses_folders_named_like_temporary_folders(tmp_path):
    """`.a.old.mp4`'s frame folder `.a.old` was written, and the next run planning a.mp4 removed it as a temporary
    folder a killed run left (its manifest line stayed). Refused inside a folder of that name too."""
    videos, out = tmp_path / 'videos', tmp_path / 'frames'
    for video, folder, name in (
        (videos / '.a.old.mp4', out / '.a.old', 'a'),
        (videos / 'scannet' / '.b.partial' / 'c.mp4', out / 'scannet' / '.b.partial' / 'c', 'b'),
    ):
        with pytest.raises(ValueError) as error:
            extract_frames._plan([video], videos, out)
        temp = folder.name if name == 'a' else '.b.partial'
        assert str(error.value) == (
            f'1 clash(es) between frame folders, nothing extracted: {video} would write its frames to {folder}, '
            f'which a run extracting a video named {name} there would remove as its temporary folder {temp}: rename it'
        )
    # hidden names that are not of that form are folders like any other
    hidden = [videos / '.a.mp4', videos / '.old.mp4', videos / 'a.old.mp4']
    assert extract_frames._plan(hidden, videos, out) == ({out / v.stem: v for v in hidden}, 0)


def test_parse_args_defaults_and_description(monkeypatch, capsys):
    args = extract_frames.parse_args(['--output_dir', 'frames'])
    assert vars(args) == {
        'video_dir': None,
        'video_list': None,
        'output_dir': 'frames',
        'num_frames': 32,
        'workers': None,
        'max_pixels': None,
        'quality': 95,
        'backend': 'pyav',
        'overwrite': False,
        'no_progress': False,
    }
    monkeypatch.setenv('COLUMNS', '300')  # no wrapping
    with pytest.raises(SystemExit):
        extract_frames.parse_args(['--help'])
    help_text = capsys.readouterr().out
    assert (
        '\n\nExtract uniformly sampled frames from videos as JPEG folders, the first stage of the VSI-Bench '
        in help_text
    )


@pytest.mark.parametrize(
    'argv, error',
    [
        ([], 'the following arguments are required: --output_dir'),
        (
            ['--output_dir', 'f', '--backend', 'ffmpeg'],
            "argument --backend: invalid choice: 'ffmpeg' (choose from 'pyav', 'decord')",
        ),
        (['--output_dir', 'f', '--num_frames', 'all'], "argument --num_frames: invalid int value: 'all'"),
    ],
)
def test_parse_args_refuses_with_a_usage_error(argv, error, capsys):
    with pytest.raises(SystemExit) as stop:
        extract_frames.parse_args(argv)
    assert stop.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(f': error: {error}')


def test_main_checks_its_arguments_and_restores_sigterm(tmp_path, capsys, request):
    (tmp_path / 'videos').mkdir()
    (tmp_path / 'videos' / 'a.mp4').write_bytes(b'x')
    argv = ['--video_dir', str(tmp_path / 'videos'), '--output_dir', str(tmp_path / 'out')]

    def handler(signum, frame):  # the caller's own, not the default: main puts back the one it found
        pass

    previous = signal.signal(signal.SIGTERM, handler)
    request.addfinalizer(lambda: signal.signal(signal.SIGTERM, previous))
    # 0 is refused as an error, not warned about as a budget below Qwen3-VL's smallest image
    assert main([*argv, '--max_pixels', '0']) == 2
    assert capsys.readouterr().err == 'extract_frames.py: error: max_pixels must be positive, got 0\n'
    assert main([*argv, '--num_frames', '0']) == 2
    assert capsys.readouterr().err == 'extract_frames.py: error: num_frames must be at least 1, got 0\n'
    assert main([*argv, '--quality', '101']) == 2
    assert capsys.readouterr().err == 'extract_frames.py: error: quality must be in 1..100, got 101\n'
    assert signal.getsignal(signal.SIGTERM) == handler
    # the smallest budget is warned about, before the run stops on another argument
    assert main([*argv, '--max_pixels', '1', '--num_frames', '0']) == 2
    assert capsys.readouterr().err == (
        "extract_frames.py: warning: --max_pixels 1 is below Qwen3-VL's smallest image (4096 px, 4 visual tokens), to "
        'which such frames are scaled up again\n'
        'extract_frames.py: error: num_frames must be at least 1, got 0\n'
    )
    assert main(['--output_dir', str(tmp_path / 'out')]) == 2
    assert capsys.readouterr().err == 'extract_frames.py: error: give --video_dir or --video_list\n'
    (tmp_path / 'empty').mkdir()
    assert main(['--video_dir', str(tmp_path / 'empty'), '--output_dir', str(tmp_path / 'out')]) == 2
    assert capsys.readouterr().err == f'extract_frames.py: error: no videos found in {tmp_path / "empty"}\n'
    (tmp_path / 'videos.txt').write_text('# none yet\n')
    assert main(['--video_list', str(tmp_path / 'videos.txt'), '--output_dir', str(tmp_path / 'out')]) == 2
    assert capsys.readouterr().err == f'extract_frames.py: error: no videos found in {tmp_path / "videos.txt"}\n'
    assert not (tmp_path / 'out').exists()
    # the limits themselves are taken: the run goes on, and fails on the broken video (1, not a usage error's 2)
    argv[-1] = str(tmp_path / 'run')
    for limits in (['--num_frames', '1', '--max_pixels', '1', '--quality', '1'], ['--quality', '100']):
        assert main([*argv, *limits, '--no_progress']) == 1
        assert 'extract_frames.py: error' not in capsys.readouterr().err
    assert len((tmp_path / 'run' / FAILURES_NAME).read_text().splitlines()) == 1


def write_folder(source: Path, out_dir: Path, **changes) -> None:
    """A frame folder of 4 frames of `source` as extract_video leaves it (one-byte frames), with its .record.json."""
    out_dir.mkdir(parents=True)
    for i in range(4):
        (out_dir / f'frame_{i:04d}.jpg').write_bytes(b'j')
    stat = source.stat()
    row = old_manifest_line(source, str(out_dir), 4, source_size=stat.st_size, source_mtime_ns=stat.st_mtime_ns)
    (out_dir / RECORD_NAME).write_text(json.dumps({**row, **changes}))


SETTINGS = {'num_frames': 4, 'max_pixels': None, 'quality': 95, 'backend': 'pyav'}


@pytest.mark.parametrize(
    'change, why, has_record',
    [
        (lambda video, out: None, None, True),
        (lambda video, out: (out / 'notes.txt').write_text('mine'), None, True),  # somebody's file: frames complete
        (lambda video, out: shutil.rmtree(out), 'new', False),
        (lambda video, out: (shutil.rmtree(out), out.write_text('x')), 'incomplete', False),  # a file, not a folder
        (lambda video, out: (out / RECORD_NAME).unlink(), 'no record (older version)', False),
        (lambda video, out: [path.unlink() for path in out.iterdir()], 'incomplete', False),  # empty folder
        (
            lambda video, out: ((out / RECORD_NAME).unlink(), (out / 'notes.txt').write_text('mine')),
            'incomplete',
            False,
        ),
        (lambda video, out: (out / RECORD_NAME).write_text('{"video": '), 'unreadable record', False),
        (lambda video, out: video.unlink(), 'source changed', True),
        (lambda video, out: video.write_bytes(b'xy'), 'source changed', True),  # another size
        (lambda video, out: os.utime(video, ns=(0, 10**18)), 'source changed', True),  # another mtime
        (lambda video, out: video.rename(video.with_suffix('.mkv')), 'source changed', True),  # another file name
        (lambda video, out: (out / 'frame_0002.jpg').unlink(), 'incomplete', True),
        (lambda video, out: (out / 'frame_0002.jpg').write_bytes(b''), 'incomplete', True),  # a disk that filled up
        (lambda video, out: (out / 'frame_0004.jpg').write_bytes(b'j'), 'incomplete', True),
    ],
)
def test_folder_state_by_hand(change, why, has_record, tmp_path):
    """Which frame folders a run keeps, and why it makes the others again."""
    video, out = tmp_path / 'a.mp4', tmp_path / 'frames' / 'a'
    video.write_bytes(b'x')
    write_folder(video, out)
    change(video, out)
    state, record = extract_frames._folder_state(out, video, SETTINGS)
    assert (state, record is not None) == (why, has_record)
    if has_record:
        assert (record.video, record.num_frames, record.source_size) == (str(video), 4, 1)


@pytest.mark.parametrize(
    'changes, why',
    [
        ({'quality': 90}, 'settings changed'),
        ({'max_pixels': 4096}, 'settings changed'),
        ({'num_frames': 5}, 'settings changed'),
        ({'indices': [0, 9, 19]}, 'incomplete'),  # the record lists 3 frames of 4
        ({'video': '/elsewhere/a.mp4'}, None),  # a moved dataset folder keeps its frames
    ],
)
def test_folder_state_compares_the_record(changes, why, tmp_path):
    video, out = tmp_path / 'a.mp4', tmp_path / 'frames' / 'a'
    video.write_bytes(b'x')
    write_folder(video, out, **changes)
    assert extract_frames._folder_state(out, video, SETTINGS)[0] == why


def packet(pts, dts=None, key=False, discard=False, corrupt=False, size=100, duration=0) -> SimpleNamespace:
    return SimpleNamespace(
        pts=pts, dts=dts, is_keyframe=key, is_discard=discard, is_corrupt=corrupt, size=size, duration=duration
    )


def packet_index(packets: list) -> extract_frames._PacketIndex:
    """_packet_index of a demuxer that yields `packets` and then the empty flush packet PyAV adds."""
    container = SimpleNamespace(
        demux=lambda stream: iter([*packets, packet(None, size=0)]), format=SimpleNamespace(name='mp4')
    )
    stream = SimpleNamespace(codec_context=SimpleNamespace(name='mpeg4', extradata=None))  # no NAL units to check
    return extract_frames._packet_index(container, stream)


def test_nal_unit_lengths_by_hand():
    """An H.264/HEVC packet of mp4/mov/mkv is a row of NAL units, each after its length (avcC/hvcC say its bytes)."""
    avcc, hvcc = b'\x01\x64\x00\x0b\xff', b'\x01' + bytes(20) + b'\xf1'  # 4-byte and 2-byte lengths
    streams = {
        ('h264', avcc): 4,
        ('hevc', hvcc): 2,
        ('h264', b'\x00\x00\x00\x01\x67'): None,  # Annex B: start codes, no lengths
        ('mpeg4', avcc): None,
        ('h264', None): None,
    }
    for (name, extra), size in streams.items():
        stream = SimpleNamespace(codec_context=SimpleNamespace(name=name, extradata=extra))
        assert extract_frames._nal_length_size(stream) == size, (name, extra)
    problem = extract_frames._nal_problem
    assert problem(memoryview(b'\x00\x00\x00\x02\x65\x01\x00\x00\x00\x01\x06'), 4) is None
    assert problem(memoryview(b'\x00\x02\x40\x01'), 2) is None
    assert (
        problem(memoryview(b'\x00\x00\x00\x03\x65\x01'), 4)
        == 'NAL unit length 3 at byte 0 does not fit the packet (6 bytes)'
    )
    assert problem(memoryview(b'\x00\x00\x00\x01\x65\x00\x00\x00\x00'), 4) == (
        'NAL unit length 0 at byte 5 does not fit the packet (9 bytes)'
    )
    assert problem(memoryview(b'\x00\x00\x00\x01\x65\x00\x00'), 4) == (  # a length cut short: read as what is there
        'NAL unit length 0 at byte 5 does not fit the packet (7 bytes)'
    )
    assert problem(memoryview(b'\x00\x01\xe5'), 2) == 'NAL unit at byte 0 has its forbidden bit set'


def test_h264_slice_types_by_hand():
    """A keyframe is a seek point if its slices are IDR or I: first_mb_in_slice and slice_type are the first two
    Exp-Golomb codes of the slice header (0x88: first_mb 0, slice_type 7 = I; 0x98: slice_type 5 = P)."""
    types = extract_frames._h264_slice_types
    assert list(types(memoryview(b'\x00\x00\x00\x02\x65\x88'), 4)) == [(5, 7)]  # length-prefixed IDR
    annex_b = b'\x00\x00\x00\x01\x67\x42\x00\x00\x01\x06\x05' + b'\x00\x00\x01\x41\x98'  # SPS, SEI, P slice
    assert list(types(memoryview(annex_b), None)) == [(1, 5)]
    assert list(types(memoryview(b'\x00\x00\x01\x41\x00\x00\x03\x01'), None)) == [(1, None)]  # cut short
    clean = extract_frames._h264_starts_clean
    assert clean(memoryview(b'\x00\x00\x00\x02\x65\x88'), 4)  # IDR
    assert clean(memoryview(b'\x00\x00\x00\x02\x65\x88\x00\x00\x00\x02\x41\x98'), 4)  # IDR field, then a P one
    assert clean(memoryview(b'\x00\x00\x00\x02\x41\x88'), 4)  # I slice, not IDR: an open GOP's recovery point
    assert not clean(memoryview(b'\x00\x00\x00\x02\x41\x98'), 4)  # P: the start of an intra-refresh wave
    assert not clean(memoryview(b'\x00\x00\x00\x02\x41\x88\x00\x00\x00\x02\x41\x98'), 4)  # I and P slices
    assert clean(memoryview(b'\x00\x00\x00\x02\x06\x05'), 4)  # no slice found: as the container marks it
    # Annex B is searched for slices in its first 4096 bytes: one starting there is read whole, one past them is not
    filler = b'\x00\x00\x01\x0c' + b'\xff' * (extract_frames.SLICE_SEARCH_BYTES - 4 - 4)
    assert list(types(memoryview(filler + b'\x00\x00\x01\x41\x98' + b'\xff' * 20), None)) == [(1, 5)]
    assert list(types(memoryview(filler + b'\xff\xff\xff\xff\x00\x00\x01\x41\x98'), None)) == []


def test_a_damaged_nal_length_the_demuxer_does_not_flag_sends_the_video_to_a_full_decode(tmp_path):
    """A full decode drops the frame of a packet whose NAL length is damaged, without a flag, while the packet index
    counted it: in a GOP no wanted frame needs it is never decoded, so n was one too high and every chosen frame after
    it one off (found by an audit). The lengths are checked while the index is built."""
    video = encode_video(tmp_path / 'clip.mp4', num_frames=150, gop=30, bframes=2)  # wanted 0, 21, 43, ...
    with av.open(str(video.path)) as container:
        stream = container.streams.video[0]
        frame_25 = next(p for p in container.demux(stream) if p.pts is not None and p.pts * stream.time_base * 30 == 25)
        where = frame_25.pos
    data = bytearray(video.path.read_bytes())
    data[where : where + 4] = b'\xff\xff\xff\xff'
    video.path.write_bytes(bytes(data))
    record = extract_video(video.path, tmp_path / 'frames', num_frames=8)
    assert record.method == 'full_decode'
    assert f'does not fit the packet ({frame_25.size} bytes)' in record.note
    assert_same_frames(record, decode_all(video.path))


def test_packet_index_by_hand():
    index = packet_index(
        [  # decode order, as demuxed
            packet(10),  # shown before the first keyframe, no dts: seeking for it starts at the lowest timestamp
            packet(20, 5, key=True),  # (a dts, as decoding starts before the first frame is shown)
            packet(40, 13),
            packet(30, 14, discard=True),  # hidden by an edit list: not counted
            packet(50, 15, key=True, duration=10),
            packet(70, 17, discard=True, duration=10),  # the end an edit list cuts off
            packet(60, 16, duration=7),
        ]
    )
    assert index.pts == [10, 20, 40, 50, 60]
    assert index.gop == [-1, 0, 0, 1, 1]
    assert index.key_pts == [None, 20, 20, 50, 50]
    assert index.seek_ts == [5, 20, 20, 50, 50]
    assert index.end == 67  # the last frame shown, its own duration
    assert packet_index([packet(0, 0, key=True, duration=5), packet(1, 1)]).end is None  # the last states none


@pytest.mark.parametrize(
    'packets, error, message',
    [
        ([], VideoDecodeError, 'no video packets'),
        ([packet(0, 0, key=True), packet(None, 1)], extract_frames._IndexMismatch, 'packets without pts'),
        (
            [packet(0, 0, key=True), packet(1, 1, corrupt=True)],
            extract_frames._IndexMismatch,
            'packet at pts 1 is marked corrupt',
        ),
        ([packet(0, 0, key=True), packet(0, 1)], extract_frames._IndexMismatch, 'duplicate pts'),
        ([packet(0, 0, key=True, discard=True)], VideoDecodeError, 'the edit list hides every frame'),
    ],
)
def test_packet_index_refuses_what_it_cannot_index(packets, error, message):
    with pytest.raises(error, match=f'^{message}$'):
        packet_index(packets)


def test_triage_keeps_adopts_and_redoes_folders_by_hand(tmp_path):
    """_triage on folders made here without decoding: what is made again, and which manifest lines are appended."""
    videos, out = tmp_path / 'videos', tmp_path / 'frames'
    videos.mkdir()
    for name in 'abcde':
        (videos / f'{name}.mp4').write_bytes(b'x')
    write_folder(videos / 'a.mp4', out / 'a')  # complete, its manifest line there
    write_folder(videos / 'b.mp4', out / 'b')  # complete, its manifest line missing (a killed run)
    write_folder(videos / 'c.mp4', out / 'c')  # made before records: the manifest line vouches for it
    (out / 'c' / RECORD_NAME).unlink()
    write_folder(videos / 'd.mp4', out / 'd')  # made before records, no manifest line: redone
    (out / 'd' / RECORD_NAME).unlink()
    manifest_records = {
        'a': extract_frames._frame_record(json.loads((out / 'a' / RECORD_NAME).read_text())),
        'c': extract_frames._frame_record(old_manifest_line(videos / 'c.mp4', 'c', 4)),
    }
    targets = {out / name: videos / f'{name}.mp4' for name in 'abcde'}
    summary = ExtractSummary()
    todo, lines = extract_frames._triage(targets, out, SETTINGS, False, manifest_records, summary)
    assert todo == {
        str(videos / 'd.mp4'): (videos / 'd.mp4', out / 'd', 'no record (older version)'),
        str(videos / 'e.mp4'): (videos / 'e.mp4', out / 'e', 'new'),
    }
    assert [(line.video, line.frames_dir, line.source_size) for line in lines] == [
        (str(videos / 'b.mp4'), 'b', 1),
        (str(videos / 'c.mp4'), 'c', 1),  # the adopted line gains the source's size and mtime
    ]
    assert (summary.skipped, summary.adopted, summary.manifest_restored) == (3, 1, 1)
    assert json.loads((out / 'c' / RECORD_NAME).read_text())['source_size'] == 1

    (out / 'c' / RECORD_NAME).unlink()
    summary = ExtractSummary()
    todo, lines = extract_frames._triage(targets, out, SETTINGS, True, manifest_records, summary)
    assert {video: why for video, (_, _, why) in todo.items()} == {
        str(videos / 'a.mp4'): None,  # complete, made again for --overwrite
        str(videos / 'b.mp4'): None,
        str(videos / 'c.mp4'): 'no record (older version)',  # --overwrite adopts nothing
        str(videos / 'd.mp4'): 'no record (older version)',
        str(videos / 'e.mp4'): 'new',
    }
    assert lines == [] and summary == ExtractSummary()
    assert not (out / 'c' / RECORD_NAME).exists()


def test_triage_leaves_a_folder_it_cannot_check_to_its_video_alone(tmp_path, caplog):
    """An OSError while checking one folder (a dangling frame link, a name over the file system's limit from a list
    file) left extract_all with a bare errno message before anything was extracted. Now that folder is made again,
    and the rest are triaged as ever; adopting an older folder passes over a record a killed adoption left half
    written (it redid the folder)."""
    videos, out = tmp_path / 'videos', tmp_path / 'frames'
    videos.mkdir()
    for name in 'abc':
        (videos / f'{name}.mp4').write_bytes(b'x')
    write_folder(videos / 'a.mp4', out / 'a')
    (out / 'a' / 'frame_0002.jpg').unlink()
    (out / 'a' / 'frame_0002.jpg').symlink_to(tmp_path / 'gone.jpg')
    write_folder(videos / 'b.mp4', out / 'b')  # complete
    write_folder(videos / 'c.mp4', out / 'c')  # an older version's, its adoption killed while writing the record
    (out / 'c' / RECORD_NAME).unlink()
    (out / 'c' / f'{RECORD_NAME}.partial').write_text('{"video": ')
    long_name = videos / ('x' * 300 + '.mp4')
    targets = {out / name: videos / f'{name}.mp4' for name in 'abc'} | {out / long_name.stem: long_name}
    manifest_records = {'c': extract_frames._frame_record(old_manifest_line(videos / 'c.mp4', 'c', 4))}
    summary = ExtractSummary()
    with caplog.at_level('WARNING', logger='extract_frames'):
        todo, lines = extract_frames._triage(targets, out, SETTINGS, False, manifest_records, summary)
    assert {video: why for video, (_, _, why) in todo.items()} == {
        str(videos / 'a.mp4'): 'could not be checked',
        str(long_name): 'could not be checked',  # its worker fails it: the name is over the limit
    }
    assert [line.frames_dir for line in lines] == ['b', 'c'] and (summary.skipped, summary.adopted) == (2, 1)
    assert json.loads((out / 'c' / RECORD_NAME).read_text())['source_size'] == 1
    assert caplog.records[0].getMessage() == (
        f'cannot check the frames of {videos / "a.mp4"} in {out / "a"} ([Errno 2] No such file or directory: '
        f"'{out / 'a' / 'frame_0002.jpg'}'): extracting it again"
    )
    assert '[Errno 36] File name too long' in caplog.records[1].getMessage() and len(caplog.records) == 2


def test_a_list_line_too_long_for_a_folder_name_fails_that_video_alone(tmp_path, capsys):
    videos, out = tmp_path / 'videos', tmp_path / 'frames'
    videos.mkdir()
    encode_video(videos / 'a.mp4', num_frames=10, width=64, height=48)
    listing = tmp_path / 'videos.txt'
    listing.write_text('a.mp4\n' + 'x' * 300 + '.mp4\n')
    argv = ['--video_list', str(listing), '--video_dir', str(videos), '--output_dir', str(out), '--num_frames', '2']
    assert main([*argv, '--no_progress']) == 1
    assert capsys.readouterr().out.startswith('done 1, skipped 0, failed 1')
    assert sorted(read_manifest(out)) == ['a']
    [failure] = [json.loads(line) for line in (out / FAILURES_NAME).read_text().splitlines()]
    assert failure['video'] == str(videos / ('x' * 300 + '.mp4')) and 'name too long' in failure['reason'].lower()


def test_whole_frames_by_hand(tmp_path):
    names = {f'frame_{i:04d}.jpg' for i in range(3)}
    for name in names:
        (tmp_path / name).write_bytes(b'j')
        os.utime(tmp_path / name, ns=(10**18, 10**18))
    assert extract_frames._whole_frames(tmp_path, names, 3)
    assert extract_frames._whole_frames(tmp_path, names, 3, 10**18)  # written in the nanosecond the source was
    assert not extract_frames._whole_frames(tmp_path, names, 3, 10**18 + 1)  # written before the source
    assert not extract_frames._whole_frames(tmp_path, names, 2)  # frame_0002.jpg is one too many
    assert not extract_frames._whole_frames(tmp_path, names, 4)
    assert not extract_frames._whole_frames(tmp_path, names | {'notes.txt'}, 3)
    (tmp_path / 'frame_0001.jpg').write_bytes(b'')
    assert not extract_frames._whole_frames(tmp_path, names, 3)


def test_main_passes_the_flags_on_and_prints_the_run(tmp_path, monkeypatch, capsys):
    """main around a stand-in extract_all: what it is given, and what the console shows of its summary."""
    (tmp_path / 'videos').mkdir()
    (tmp_path / 'videos' / 'a.mp4').write_bytes(b'x')
    (tmp_path / 'lists').mkdir()
    (tmp_path / 'lists' / 'videos.txt').write_text('a.mp4\n')
    calls, outcome = [], {}

    def extract_all(output_dir, videos, **kwargs):
        calls.append((output_dir, videos, kwargs, signal.getsignal(signal.SIGTERM)))
        if isinstance(outcome['summary'], BaseException):
            raise outcome['summary']
        return outcome['summary']

    monkeypatch.setattr(extract_frames, 'extract_all', extract_all)
    out = tmp_path / 'out'
    by_dir = ['--video_dir', str(tmp_path / 'videos'), '--output_dir', str(out)]
    by_list = ['--video_list', str(tmp_path / 'lists' / 'videos.txt'), '--output_dir', str(out)]

    outcome['summary'] = ExtractSummary(done=1, frames=2, seconds=1.0)
    flags = ['--num_frames', '2', '--workers', '3', '--max_pixels', '5000', '--quality', '80', '--backend', 'decord']
    assert main([*by_dir, *flags, '--overwrite', '--no_progress']) == 0
    assert calls.pop() == (
        str(out),
        [tmp_path / 'videos' / 'a.mp4'],
        dict(
            video_dir=str(tmp_path / 'videos'),
            num_frames=2,
            workers=3,
            max_pixels=5000,
            quality=80,
            backend='decord',
            overwrite=True,
            progress=False,
        ),
        extract_frames.raise_terminated,  # SIGTERM stops the run as Ctrl-C does
    )
    assert capsys.readouterr() == ('done 1, skipped 0, failed 0 in 1.0 s: 2.0 frames/s, 60.0 videos/min\n', '')
    assert main(by_dir) == 0
    assert calls.pop()[2]['progress'] is True

    failures = [
        {'video': 'v1.mp4', 'reason': 'VideoDecodeError: no frame decodes'},
        {'video': 'v2.mp4', 'reason': 'WorkerDied: worker process died'},
        {'video': 'v3.mp4', 'reason': 'InvalidDataError: [Errno 1094995529] Invalid data'},
        {'video': 'v4.mp4', 'reason': 'FileNotFoundError: no such video file: v4.mp4'},  # not shown, but hinted at
    ]
    outcome['summary'] = ExtractSummary(failed=4, failures=failures)
    shown = [
        f'4 video(s) failed, reasons in {out / FAILURES_NAME}',
        '  v1.mp4: VideoDecodeError: no frame decodes',
        '  v2.mp4: WorkerDied: worker process died',
        '  v3.mp4: InvalidDataError: [Errno 1094995529] Invalid data',
    ]
    hint = '  relative paths in --video_list are read from {}, not from the current folder'
    assert main(by_dir) == 1
    assert capsys.readouterr().err.splitlines() == shown  # no list: no hint
    assert main(by_list) == 1
    assert capsys.readouterr().err.splitlines() == [*shown, hint.format(tmp_path / 'lists')]
    assert main([*by_list, '--video_dir', str(tmp_path / 'videos')]) == 1
    assert capsys.readouterr().err.splitlines() == [*shown, hint.format(tmp_path / 'videos')]
    outcome['summary'] = ExtractSummary(failed=3, failures=failures[:3])
    assert main(by_list) == 1
    assert capsys.readouterr().err.splitlines() == [shown[0].replace('4', '3', 1), *shown[1:]]  # no missing file

    for stop, status, words in (
        (extract_frames.Terminated(), 143, 'terminated'),
        (KeyboardInterrupt(), 130, 'interrupted'),
    ):
        outcome['summary'] = stop
        assert main(by_dir) == status
        assert capsys.readouterr() == ('', f'extract_frames.py: {words}; run the same command again to resume\n')
        assert main([*by_dir, '--overwrite']) == status
        assert capsys.readouterr() == (
            '',
            f'extract_frames.py: {words}; run the same command to redo every video, or without --overwrite to keep '
            'those redone so far (and the folders already complete by their records)\n',
        )


def test_quality_sets_the_jpeg_tables_and_chroma_is_subsampled_4_2_0(tmp_path):
    """--quality reached the extractor (a mocked one) but nothing checked the JPEG it writes: the quantization tables
    must be libjpeg's standard ones scaled for the quality (IJG's formula), and chroma halved both ways (4:2:0)."""
    video = encode_video(tmp_path / 'v.mp4', num_frames=10, width=64, height=48)
    luminance = (16, 11, 10, 16, 24, 40, 51, 61)  # the first row of the IJG standard table

    def scaled(entry: int, quality: int) -> int:
        scale = 5000 // quality if quality < 50 else 200 - 2 * quality
        return max(1, min(255, (entry * scale + 50) // 100))

    sizes = {}
    for quality in (20, 95):
        out = tmp_path / f'q{quality}'
        extract_all(out, [video.path], num_frames=2, workers=1, quality=quality, progress=False)
        frame = out / 'v' / 'frame_0000.jpg'
        with Image.open(frame) as image:
            assert list(image.quantization[0])[:8] == [scaled(entry, quality) for entry in luminance]
            assert JpegImagePlugin.get_sampling(image) == 2  # 4:2:0
        sizes[quality] = frame.stat().st_size
    assert sizes[20] < sizes[95]


@pytest.mark.parametrize('turns', [1, 2, 3])
def test_a_rotated_video_is_turned_upright_as_decord_turns_it(tmp_path, turns):
    """A phone video keeps its pixels landscape and says in its display matrix how to turn them; players, ffmpeg and
    decord (which the official evaluation reads videos with) show them turned. Frames were written as stored, and
    the decord backend squashed the turned frame into the stored size."""
    from video_utils import rotate_mp4

    from extract_frames import quarter_turns

    plain = encode_video(tmp_path / 'plain.mp4', num_frames=40, width=160, height=120, gop=10, bframes=2)
    video = rotate_mp4(plain.path, tmp_path / 'phone.mp4', turns)
    reference = decode_all(video)  # as stored
    with av.open(str(video)) as container:
        assert quarter_turns(next(container.decode(video=0)).rotation) == turns  # the helper wrote what it says
    upright = (120, 160) if turns % 2 else (160, 120)
    record = extract_video(video, tmp_path / 'frames', num_frames=8)
    assert (record.rotation, record.method) == (turns * 90, 'index')
    assert (record.width, record.height) == (record.src_width, record.src_height) == upright
    assert record.indices == linspace_rule(40, 8)
    for path, index in zip(record.frame_paths, record.indices, strict=True):
        written = np.asarray(Image.open(path).convert('RGB')).astype(np.float64)
        stored = np.rot90(written, -turns)
        assert read_frame_number(stored) == read_frame_number(reference[index].rgb), path
        assert np.abs(stored - reference[index].rgb).mean() < JPEG_TOLERANCE, path

    small = extract_video(video, tmp_path / 'small', num_frames=2, max_pixels=4800)  # the budget of the turned frame
    assert small.width * small.height <= 4800 and small.width / small.height == pytest.approx(upright[0] / upright[1])
    assert Image.open(small.frame_paths[0]).size == (small.width, small.height)

    pytest.importorskip('decord')
    by_decord = extract_video(video, tmp_path / 'decord', num_frames=8, backend='decord')
    assert (by_decord.width, by_decord.height, by_decord.rotation) == (*upright, turns * 90)
    for ours, theirs in zip(record.frame_paths, by_decord.frame_paths, strict=True):
        difference = np.abs(np.asarray(Image.open(ours), np.float64) - np.asarray(Image.open(theirs), np.float64))
        assert difference.mean() < JPEG_TOLERANCE, theirs


def test_a_video_that_changes_resolution_says_so_in_its_record(tmp_path):
    """A VP9 stream may change resolution at a keyframe: each frame is written at its own size (as a full decode gives
    them); the record kept the last frame's size alone, as if all were that size."""
    from fractions import Fraction

    from video_utils import draw_frame

    path = tmp_path / 'size_change.webm'
    with av.open(str(path), 'w') as output:
        stream = output.add_stream('libvpx-vp9', rate=30)
        stream.width, stream.height, stream.time_base = 160, 120, Fraction(1, 30)
        number = 0
        for width, height in (160, 120), (320, 240):  # two encodes of 30 frames, muxed as one track
            codec = av.CodecContext.create('libvpx-vp9', 'w')
            codec.width, codec.height, codec.pix_fmt, codec.time_base = width, height, 'yuv420p', Fraction(1, 30)
            codec.options = {'g': '15', 'deadline': 'realtime', 'cpu-used': '8', 'lag-in-frames': '0'}
            frames = [
                av.VideoFrame.from_ndarray(draw_frame(number + i, width, height), format='rgb24') for i in range(30)
            ]
            for i, frame in enumerate(frames):
                frame.pts = i
            for packet in [p for frame in [*frames, None] for p in codec.encode(frame)]:
                packet.pts = packet.dts = number
                packet.time_base, packet.stream = Fraction(1, 30), stream
                output.mux(packet)
                number += 1
    reference = decode_all(path)
    assert [f.rgb.shape[:2] for f in (reference[0], reference[-1])] == [(120, 160), (240, 320)]
    record = extract_video(path, tmp_path / 'frames', num_frames=4)
    assert_same_frames(record, reference)  # frames 0, 20, 39, 59: two of each size
    assert [Image.open(p).size for p in record.frame_paths] == [(160, 120), (160, 120), (320, 240), (320, 240)]
    assert (record.width, record.height, record.src_width, record.src_height) == (160, 120, 160, 120)
    assert record.note.endswith(
        "frames differ in size (160x120, 320x240): the video changes resolution; width and height are the first frame's"
    )
    assert extract_video(path, tmp_path / 'small', num_frames=2, max_pixels=10000).note == ''  # one size: 115x86


@pytest.mark.parametrize('name, codec, table', [('clip.mp4', 'mpeg4', b'stss'), ('clip.avi', 'msmpeg4', b'idx1')])
def test_a_container_that_calls_every_packet_a_keyframe_is_not_seeked_into_p_pictures(name, codec, table, tmp_path):
    """Without its sync-sample table (mp4) or index (AVI: a recording cut off before the index was written) every
    packet is a keyframe to FFmpeg; MPEG-4 Part 2 and MS-MPEG4 decode a P picture after a seek from a grey reference
    and flag nothing: 14 of 16 frames came out as grey smears (mean difference 50-90) under method 'index'."""
    video = encode_video(tmp_path / name, num_frames=90, codec=codec, gop=45)
    data = bytearray(video.path.read_bytes())
    at = data.rfind(table)
    data[at : at + 4] = b'free' if table == b'stss' else b'JUNK'  # the box / chunk is skipped as padding
    broken = tmp_path / f'broken_{name}'
    broken.write_bytes(bytes(data))
    with av.open(str(broken)) as container:
        assert all(p.is_keyframe for p in container.demux(container.streams.video[0]) if p.size)
    record = extract_video(broken, tmp_path / 'frames', num_frames=16)
    assert record.method == 'index_from_start' and 'decodes as no keyframe' in record.note
    assert_same_frames(record, decode_all(broken))


# ----------------------------------------------------------------------------------------------------------
# Edge cases a mutation test of extract_frames.py found unpinned (helper-178)
# ----------------------------------------------------------------------------------------------------------


def test_a_bad_last_line_that_kept_its_newline_is_named_not_ignored(tmp_path):
    # only a last line *without* its newline was cut off by a killed writer; a complete bad line is an error
    (tmp_path / MANIFEST_NAME).write_text('not json\n')
    with pytest.raises(ValueError, match=f'{MANIFEST_NAME}:1'):
        read_manifest(tmp_path, repair=True)
    assert (tmp_path / MANIFEST_NAME).read_text() == 'not json\n'


def test_plan_counts_a_video_reached_through_a_folder_link_as_a_duplicate(tmp_path):
    (tmp_path / 'x').mkdir()
    (tmp_path / 'x' / 'a.mp4').write_bytes(b'')
    (tmp_path / 'y').symlink_to(tmp_path / 'x')
    targets, duplicates = extract_frames._plan(
        [tmp_path / 'x' / 'a.mp4', tmp_path / 'y' / 'a.mp4'], None, tmp_path / 'o'
    )
    assert (list(targets), duplicates) == ([tmp_path / 'o' / 'a'], 1)


def test_plan_accepts_an_output_dir_below_a_folder_named_like_a_temporary_folder(tmp_path):
    out = tmp_path / '.frames.old' / 'out'
    targets, duplicates = extract_frames._plan([tmp_path / 'a.mp4'], None, out)
    assert (list(targets), duplicates) == ([out / 'a'], 0)


def test_remove_temp_dirs_removes_and_counts_a_dangling_link_in_place_of_partial(tmp_path):
    (tmp_path / '.a.partial').symlink_to(tmp_path / 'gone')
    assert extract_frames._remove_temp_dirs([tmp_path / 'a']) == 1
    assert not os.path.lexists(tmp_path / '.a.partial')


def test_a_first_run_counts_its_frames_and_calls_nothing_redone(tmp_path):
    (tmp_path / 'videos').mkdir()
    encode_video(tmp_path / 'videos' / 'a.mp4', num_frames=12, gop=4)
    summary = extract_all(tmp_path / 'frames', video_dir=tmp_path / 'videos', num_frames=3, workers=1, progress=False)
    assert (summary.done, summary.frames, summary.redone) == (1, 3, {})
    assert 'redone' not in str(summary)


def test_triage_restores_the_line_of_a_folder_whose_manifest_line_names_another_file(tmp_path):
    videos, out = tmp_path / 'videos', tmp_path / 'frames'
    videos.mkdir()
    (videos / 'a.mp4').write_bytes(b'x')
    write_folder(videos / 'a.mp4', out / 'a')
    record = extract_frames._frame_record(json.loads((out / 'a' / RECORD_NAME).read_text()))
    # the line for folder 'a' is of a.mkv (same size and mtime, but another file): it is not this folder's line
    known = {'a': dataclasses.replace(record, video=str(videos / 'a.mkv'))}
    summary = ExtractSummary()
    todo, lines = extract_frames._triage({out / 'a': videos / 'a.mp4'}, out, SETTINGS, False, known, summary)
    assert todo == {}
    assert [(line.video, line.frames_dir) for line in lines] == [(str(videos / 'a.mp4'), 'a')]
    assert (summary.skipped, summary.manifest_restored) == (1, 1)


def test_a_summary_without_a_duration_has_no_rates():
    assert str(ExtractSummary(done=1, frames=3)) == 'done 1, skipped 0, failed 0 in 0.0 s: 0.0 frames/s, 0.0 videos/min'


def test_workers_0_means_one_per_core_and_is_accepted(tmp_path):
    summary = extract_all(tmp_path / 'out', videos=[], workers=0, progress=False)
    assert (summary.done, summary.failed) == (0, 0)
    with pytest.raises(ValueError, match='workers must be at least 1'):
        extract_all(tmp_path / 'out', videos=[], workers=-1, progress=False)


@pytest.mark.parametrize(('suffix', 'audio'), [('mkv', 'aac'), ('webm', 'libopus'), ('mp4', 'aac')])
def test_an_audio_track_longer_than_the_video_is_not_taken_for_a_cut(tmp_path, suffix, audio):
    """A Matroska Segment's duration covers every track: a 2 s video with 10 s of audio is whole, not cut short."""
    path = tmp_path / f'a.{suffix}'
    with av.open(str(path), 'w') as container:
        video = container.add_stream('libvpx-vp9' if suffix == 'webm' else 'libx264', rate=30)
        video.width, video.height, video.pix_fmt = 160, 120, 'yuv420p'
        sound = container.add_stream(audio, rate=48000)
        for i in range(60):
            frame = av.VideoFrame.from_ndarray(np.zeros((120, 160, 3), np.uint8), format='rgb24')
            frame.pts = i
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        for start in range(0, 480000, 960):
            samples = av.AudioFrame(format=sound.codec_context.format.name, layout='stereo', samples=960)
            for plane in samples.planes:
                plane.update(bytes(plane.buffer_size))
            samples.sample_rate, samples.pts = 48000, start
            container.mux(sound.encode(samples))
        container.mux(sound.encode(None))
    record = extract_video(path, tmp_path / 'frames', num_frames=4)
    assert (record.total_frames, record.cut_short, record.note) == (60, False, '')


@pytest.mark.parametrize(
    ('metadata', 'declared'),
    [
        ({'DURATION': '00:00:10.000000000'}, 10.0),
        ({'title': 'scan', 'DURATION-eng': '01:02:03.5'}, 3723.5),  # mkvmerge names it by the track's language
        ({}, 99.0),  # no tag: the Segment's duration
        ({'DURATION': 'soon'}, 99.0),
    ],
)
def test_a_matroska_tracks_duration_tag_is_its_declared_length(monkeypatch, metadata, declared):
    stream = SimpleNamespace(metadata=metadata, duration=None, time_base=None, start_time=None)
    container = SimpleNamespace(format=SimpleNamespace(name='matroska,webm'), duration=99_000_000)
    monkeypatch.setattr(extract_frames, '_video_stream', lambda _: stream)
    assert extract_frames._declared(container) == declared
