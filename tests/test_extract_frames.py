"""extract_frames.py against a plain full decode, on videos encoded here whose frames show their own number.

Each extraction is checked two ways: the number drawn in every written JPEG equals the number in the frame at
the same index of a sequential PyAV decode (tests/video_utils.decode_all), and the pixels match that frame
within JPEG error. Expected indices come from the rule written out here (np.linspace(...).round()) or by
hand, never from the code under test.
"""

import json
import shutil
from pathlib import Path

import av
import numpy as np
import pytest
from av.video.frame import PictureType
from PIL import Image
from video_utils import decode_all, encode_video, read_frame_number, truncate

from extract_frames import (
    FAILURES_NAME,
    MANIFEST_NAME,
    VideoDecodeError,
    extract_all,
    extract_video,
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
    number = {pts: i for i, (pts, _) in enumerate(frames)}
    kinds = [kind for _, kind in frames]
    decoded = []
    seek_and_decode = extract_frames._frames_after_seek

    def counting(*args):
        for frame in seek_and_decode(*args):
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
    # B-frames nothing refers to are skipped unless wanted: fewer frames than the runs hold (62)
    assert len(decoded) < sum(len(r) for r in runs)
    assert kinds.count(PictureType.B) > 100  # the encoder did make B-frames to skip


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


def test_unreadable_video_raises_and_leaves_nothing(tmp_path):
    video = encode_video(tmp_path / 'whole.mp4', num_frames=30)
    cut = truncate(video.path, 0.5, tmp_path / 'cut.mp4')  # moov at the end: gone
    not_video = tmp_path / 'notes.mp4'
    not_video.write_text('not a video')
    for path in cut, not_video:
        with pytest.raises((VideoDecodeError, av.FFmpegError)):
            extract_video(path, tmp_path / 'frames', num_frames=4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['cut.mp4', 'notes.mp4', 'whole.mp4']


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
    assert sorted(p.name for p in folder.iterdir()) == [f'frame_{i:04d}.jpg' for i in range(8)]
    assert not list(out.rglob('.*partial'))

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
    assert sorted(p.name for p in unfinished.iterdir()) == [f'frame_{i:04d}.jpg' for i in range(4)]
    assert not (unfinished.parent / f'.{unfinished.name}.partial').exists()
    assert len(read_manifest(out)) == 2

    # other settings are not "complete": the folders are made again, and the newest manifest line wins
    third = extract_all(out, video_dir=video_tree, num_frames=6, workers=1, progress=False)
    assert (third.done, third.skipped) == (2, 0)
    assert {r.num_frames for r in read_manifest(out).values()} == {6}
    assert len(list(unfinished.iterdir())) == 6

    fourth = extract_all(out, video_dir=video_tree, num_frames=6, workers=1, progress=False, overwrite=True)
    assert (fourth.done, fourth.skipped) == (2, 0)

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


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(['--video_dir', str(tmp_path / 'missing'), '--output_dir', str(tmp_path / 'out')]) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'missing' in err
    (tmp_path / 'empty').mkdir()
    assert main(['--video_dir', str(tmp_path / 'empty'), '--output_dir', str(tmp_path / 'out')]) == 2
    assert 'no videos found' in capsys.readouterr().err


def test_read_manifest_names_the_bad_line(tmp_path):
    (tmp_path / MANIFEST_NAME).write_text('{"video": "a.mp4"}\n{"x": 1}\n')
    with pytest.raises(ValueError, match=f'{MANIFEST_NAME}:1'):
        read_manifest(tmp_path)


def test_decord_backend_for_comparison(videos, tmp_path):
    pytest.importorskip('decord')
    video = videos['constant_rate_mp4']
    record = extract_video(video.path, tmp_path / 'frames', num_frames=8, backend='decord')
    assert record.method == 'decord'
    assert_same_frames(record, decode_all(video.path))


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
