"""The preprocessed rows load through ms-swift's own dataset loader and Qwen3-VL template, and vsi_dataset.py works.

The template is swift's real `qwen3_vl` template on the real Qwen3-VL processor classes (the tiny model of
tests/conftest.py), so these tests see the token layout a training run sees: one vision block per `<image>` tag
with as many pad tokens as the processor's grid says, and every frame of a `--media video` clip.
"""

import codecs
import dataclasses
import importlib.util
import json
import logging
import multiprocessing
import os
import re
import shutil
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image

import preprocess_vsi_data as pp

IMAGE_PAD, VIDEO_PAD, VISION_START, VISION_END = 151655, 151656, 151652, 151653
MC_ROW = {
    'id': 1,
    'dataset': 'scannet',
    'scene_name': 'scene0001_00',
    'question_type': 'object_rel_distance',
    'question': 'Which of these objects (chair, lamp) is the closest to the bed?',
    'options': ['A. chair', 'B. lamp'],
    'ground_truth': 'A',
}
NUMERIC_ROW = {
    'id': 2,
    'dataset': 'arkitscenes',
    'scene_name': '41069025',
    'question_type': 'object_size_estimation',
    'question': 'What is the length of the longest dimension of the bed, measured in centimeters?',
    'options': None,
    'ground_truth': '203',
}


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    # swift's loaders cache under MODELSCOPE_CACHE; the same pixel budget as tests/test_tiny_model.py, because
    # swift applies the Qwen image settings once per process.
    monkeypatch.setenv('MODELSCOPE_CACHE', str(tmp_path / 'ms_cache'))
    monkeypatch.setenv('MAX_PIXELS', '4096')
    from vsi_dataset import ENV_VARS  # every variable it reads (a hand-written list missed VSI_SHUFFLE and VSI_SEED)

    for name in ENV_VARS.values():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv('ROOT_IMAGE_DIR', raising=False)


@pytest.fixture(scope='module')
def template(tiny_model_dir):
    from swift.model import get_processor
    from swift.template import get_template

    # before the processor is built (see `isolated`); set for this module only: a module fixture's change to os.environ
    # outlives the per-test restore (conftest), and later modules (the demo's run) would see it as the user's
    with pytest.MonkeyPatch.context() as patch:
        if 'MAX_PIXELS' not in os.environ:
            patch.setenv('MAX_PIXELS', '4096')
        processor = get_processor(str(tiny_model_dir), model_type='qwen3_vl', download_model=False)
        yield get_template(processor)


@pytest.fixture
def data(tmp_path) -> Path:
    """Frames for two scenes (nested layout for one, flat for the other) and a question file."""
    for folder, count in (('frames/scannet/scene0001_00', 12), ('frames/41069025', 9)):
        (tmp_path / folder).mkdir(parents=True)
        for i in range(count):
            Image.new('RGB', (80, 60), (20 * i, 100, 255 - 20 * i)).save(tmp_path / folder / f'frame_{i:04d}.jpg')
    (tmp_path / 'qa.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in (MC_ROW, NUMERIC_ROW)), encoding='utf-8')
    return tmp_path


def preprocess(data: Path, output: str, **kwargs) -> Path:
    path = data / 'out' / output
    cfg = pp.PreprocessConfig(frames_dir=str(data / 'frames'), base_dir=str(path.parent), progress=False, **kwargs)
    pp.preprocess([str(data / 'qa.jsonl')], str(path), cfg)
    return path


def register_plugin():
    """vsi_dataset.py imported as `--custom_register_path` imports it (once per process); returns the module."""
    from swift.utils import import_external_file

    return import_external_file(str(Path(pp.__file__).with_name('vsi_dataset.py')))


def use_vsi_raw(monkeypatch, data: Path, qa: Path | None = None) -> None:
    """vsi_raw's variables for the `data` fixture's frames and a QA file (its qa.jsonl unless given), 4 frames each."""
    monkeypatch.setenv('VSI_RAW_QA', str(qa or data / 'qa.jsonl'))
    monkeypatch.setenv('VSI_FRAMES_DIR', str(data / 'frames'))
    monkeypatch.setenv('VSI_NUM_FRAMES', '4')


def load(dataset: str, **kwargs):
    from swift.dataset import load_dataset

    # remove_unused_columns=False is what `swift rlhf` uses, so the reward sees solution/options/...
    train, val = load_dataset(dataset, remove_unused_columns=False, **kwargs)
    assert val is None
    return [dict(row) for row in train]


def runs(ids: list, token: int) -> list:
    """Lengths of the consecutive runs of `token` in ids."""
    lengths, current = [], 0
    for i in [*ids, None]:
        if i == token:
            current += 1
        elif current:
            lengths.append(current)
            current = 0
    return lengths


def only_clip(folder: Path, stem: str) -> Path:
    """The one clip of `folder` named `<stem>_<digest of its frames>.mp4`."""
    (clip,) = folder.glob(f'{stem}_*.mp4')
    return clip


def check_image_row(template, row: dict, num_frames: int) -> None:
    encoded = template.encode(row)
    ids, grid = encoded['input_ids'], encoded['image_grid_thw']
    merge = template.processor.image_processor.merge_size**2
    assert row['messages'][0]['content'].count('<image>') == len(row['images']) == num_frames
    assert ids.count(VISION_START) == ids.count(VISION_END) == num_frames == len(grid)
    # Each image block holds exactly the tokens the processor's grid for that image stands for.
    assert runs(ids, IMAGE_PAD) == [int(g.prod()) // merge for g in grid]
    assert encoded['pixel_values'].shape[0] == int(grid.prod(-1).sum())


def test_image_rows_load_and_line_up_with_relative_paths(template, data, tmp_path, monkeypatch):
    output = preprocess(data, 'train.jsonl', num_frames=4)
    expected = [json.loads(line) for line in output.read_text().splitlines()]
    elsewhere = tmp_path / 'some' / 'other' / 'dir'  # from here `../frames/...` does not exist
    elsewhere.mkdir(parents=True)
    monkeypatch.chdir(elsewhere)
    rows = load(str(output))
    assert [r['id'] for r in rows] == ['1', '2']
    for row, want in zip(rows, expected, strict=True):
        assert row['messages'] == want['messages']
        assert [image['path'] for image in row['images']] == want['images']  # still relative
        for key in ('solution', 'question_type', 'options', 'scene_name'):
            assert row[key] == want[key]
    # swift opens relative paths from the working directory, else from ROOT_IMAGE_DIR.
    # swift reads a path that is not a file as base64 data, which PIL cannot identify (UnidentifiedImageError, an
    # OSError; FileNotFoundError in other versions): any OSError, not any crash
    with pytest.raises(OSError):
        template.encode(rows[0])
    monkeypatch.setenv('ROOT_IMAGE_DIR', str(output.parent))
    for row in rows:
        check_image_row(template, row, 4)


@pytest.mark.parametrize('num_frames', [8, 5])
def test_every_frame_of_a_clip_reaches_qwen3_vl(template, data, monkeypatch, num_frames):
    from qwen_vl_utils import vision_process

    output = preprocess(data, 'video.jsonl', num_frames=num_frames, media='video')
    monkeypatch.chdir(output.parent)  # relative clip paths open from the working directory
    rows = load(str(output))
    assert vision_process.FPS == pp.DEFAULT_VIDEO_FPS  # swift's default, which the clips are written for
    for row in rows:
        assert row['messages'][0]['content'].startswith('<video>') and len(row['videos']) == 1
        encoded = template.encode(row)
        grid = encoded['video_grid_thw']
        frames_seen = int(grid[0][0]) * template.processor.video_processor.temporal_patch_size
        assert frames_seen == num_frames + num_frames % 2
        merge = template.processor.image_processor.merge_size**2
        ids = encoded['input_ids']
        # Qwen3-VL writes one timestamped block per pair of frames.
        assert runs(ids, VIDEO_PAD) == [int(grid[0][1] * grid[0][2]) // merge] * int(grid[0][0])
        assert IMAGE_PAD not in ids


def test_settings_given_in_python_survive_a_second_import(data, tmp_path, monkeypatch):
    """`register_vsi_datasets(train_jsonl=...)`, then swift importing the file again (`--custom_register_path`):
    the second import registered the datasets anew without the settings, and loading asked for VSI_TRAIN_JSONL."""
    import vsi_dataset

    output = preprocess(data, 'train.jsonl', num_frames=4)
    monkeypatch.delenv('VSI_TRAIN_JSONL', raising=False)
    try:
        vsi_dataset.register_vsi_datasets(train_jsonl=str(output))
        # what import_external_file does the first time: the file run again as a module of another name
        spec = importlib.util.spec_from_file_location('_vsi_dataset_again', vsi_dataset.__file__)
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
        assert [r['id'] for r in load('vsi_train')] == ['1', '2']
    finally:
        vsi_dataset.register_vsi_datasets()  # the plain registration other tests expect
    with pytest.raises(ValueError, match='needs VSI_TRAIN_JSONL'):
        load('vsi_train')


def test_media_written_as_path_objects_resolve_like_paths(template, data, tmp_path, monkeypatch):
    """`{"path": "../frames/..."}` items (swift's own way to store an image) passed the media check but stayed
    relative, so the template could not open them from another working directory."""
    output = preprocess(data, 'train.jsonl', num_frames=4)
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    for row in rows:
        row['images'] = [{'path': path} for path in row['images']]
    objects = output.with_name('objects.jsonl')
    objects.write_text(''.join(json.dumps(row) + '\n' for row in rows))
    register_plugin()
    monkeypatch.setenv('VSI_TRAIN_JSONL', str(objects))
    monkeypatch.chdir(tmp_path)
    loaded = load('vsi_train')
    for row, want in zip(loaded, rows, strict=True):
        paths = [image['path'] for image in row['images']]
        assert paths == [os.path.normpath(output.parent / image['path']) for image in want['images']]
        check_image_row(template, row, 4)


def test_custom_register_path_vsi_train(template, data, tmp_path, monkeypatch):
    register_plugin()
    output = preprocess(data, 'train.jsonl', num_frames=4)
    expected = [json.loads(line) for line in output.read_text().splitlines()]
    monkeypatch.setenv('VSI_TRAIN_JSONL', str(output))
    monkeypatch.chdir(tmp_path / 'frames')  # anywhere; no ROOT_IMAGE_DIR needed
    rows = load('vsi_train')
    assert [r['messages'] for r in rows] == [r['messages'] for r in expected]
    assert [r['solution'] for r in rows] == ['A', '203']
    for row, want in zip(rows, expected, strict=True):
        paths = [image['path'] for image in row['images']]
        assert paths == [os.path.normpath(output.parent / p) for p in want['images']]
        check_image_row(template, row, 4)

    video = preprocess(data, 'video.jsonl', num_frames=6, media='video')
    monkeypatch.setenv('VSI_TRAIN_JSONL', str(video))
    video_rows = load('vsi_train')
    assert all(os.path.isabs(r['videos'][0]) and os.path.isfile(r['videos'][0]) for r in video_rows)
    assert int(template.encode(video_rows[0])['video_grid_thw'][0][0]) == 3


def test_custom_register_path_vsi_raw_converts_with_the_script_code(template, data, monkeypatch):
    register_plugin()
    monkeypatch.setenv('VSI_RAW_QA', str(data / 'qa.jsonl'))
    with pytest.raises(ValueError, match='VSI_FRAMES_DIR'):
        load('vsi_raw')
    monkeypatch.setenv('VSI_FRAMES_DIR', str(data / 'frames'))
    monkeypatch.setenv('VSI_NUM_FRAMES', '6')
    monkeypatch.setenv('VSI_PROMPT_STYLE', 'think')
    rows = load('vsi_raw')
    script = preprocess(data, 'think.jsonl', num_frames=6, prompt_style='think', path_mode='absolute')
    expected = [json.loads(line) for line in script.read_text().splitlines()]
    assert [r['messages'] for r in rows] == [r['messages'] for r in expected]
    assert [[i['path'] for i in r['images']] for r in rows] == [r['images'] for r in expected]
    assert [(r['solution'], r['options'], r['id']) for r in rows] == [('A', MC_ROW['options'], '1'), ('203', None, '2')]
    for row in rows:
        check_image_row(template, row, 6)

    exclude = data / 'test_scenes.txt'
    exclude.write_text('scene0001_00\n', encoding='utf-8')
    monkeypatch.setenv('VSI_EXCLUDE_SCENES', str(exclude))
    monkeypatch.setenv('VSI_MEDIA', 'video')
    monkeypatch.setenv('VSI_CLIPS_DIR', str(data / 'clips'))
    rows = load('vsi_raw')
    assert [r['scene_name'] for r in rows] == ['41069025']
    assert rows[0]['videos'] == [str(only_clip(data / 'clips', '41069025_k6_fps2'))]
    assert int(template.encode(rows[0])['video_grid_thw'][0][0]) == 3


def test_vsi_raw_takes_the_script_settings_and_both_datasets_take_columns(data, monkeypatch, caplog):
    """VSI_QUESTION_TYPES, VSI_MAX_PER_TYPE and VSI_VIDEO_FPS are the script's flags; swift's `--columns` applies."""
    import av

    register_plugin()
    qa = data / 'three.jsonl'
    qa.write_text(''.join(json.dumps(r) + '\n' for r in (MC_ROW, {**MC_ROW, 'id': 3}, NUMERIC_ROW)), encoding='utf-8')
    settings = {
        'VSI_RAW_QA': str(qa),
        'VSI_FRAMES_DIR': str(data / 'frames'),
        'VSI_NUM_FRAMES': '4',
        'VSI_QUESTION_TYPES': 'object_rel_distance, room_size_estimation',
        'VSI_MAX_PER_TYPE': '1',
        'VSI_MEDIA': 'video',
        'VSI_VIDEO_FPS': '4',
        'VSI_CLIPS_DIR': str(data / 'clips'),
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    with caplog.at_level(logging.WARNING, logger='preprocess_vsi_data'):
        rows = load('vsi_raw', columns={'scene_name': 'scene'})
    assert pp.NO_EXCLUSION_WARNING in caplog.messages  # VSI_EXCLUDE_SCENES is not set
    assert [r['id'] for r in rows] == ['1'] and rows[0]['scene'] == 'scene0001_00' and 'scene_name' not in rows[0]
    clip = only_clip(data / 'clips' / 'scannet', 'scene0001_00_k4_fps4')
    assert rows[0]['videos'] == [str(clip)]
    with av.open(str(clip)) as container:
        assert float(container.streams.video[0].average_rate) == 4
    (saved,) = (Path(os.environ['MODELSCOPE_CACHE']) / 'vsi_raw').glob('*.summary.json')
    summary = json.loads(saved.read_text(encoding='utf-8'))
    assert summary['dropped'] == {'question_type_not_selected': 1, 'over_max_per_type': 1}
    assert summary['settings']['video_fps'] == 4 and summary['settings']['question_types'] == [
        'object_rel_distance',
        'room_size_estimation',
    ]

    # --shuffle before the cap, as the script does: the seed decides which of the two distance questions is kept
    monkeypatch.setenv('VSI_SHUFFLE', 'yes')
    kept = {}
    for seed in range(4):
        monkeypatch.setenv('VSI_SEED', str(seed))
        kept[seed] = sorted(r['id'] for r in load('vsi_raw'))
    expected = {}
    for seed in range(4):
        config = pp.PreprocessConfig(
            frames_dir=str(data / 'frames'),
            num_frames=4,
            question_types=('object_rel_distance', 'room_size_estimation'),
            max_per_type=1,
            shuffle=True,
            seed=seed,
            progress=False,
        )
        expected[seed] = sorted(r['id'] for r in pp.convert([str(qa)], config)[0])
    assert kept == expected and {'1', '3'} <= {i for ids in kept.values() for i in ids}
    monkeypatch.delenv('VSI_SHUFFLE')
    monkeypatch.delenv('VSI_SEED')

    monkeypatch.setenv('VSI_MAX_PER_TYPE', 'one')
    with pytest.raises(ValueError, match="VSI_MAX_PER_TYPE must be an integer, got 'one'"):
        load('vsi_raw')
    monkeypatch.setenv('VSI_MAX_PER_TYPE', '1')
    # A misspelt type stops the load (the script's rule), instead of selecting nothing under an INFO line.
    monkeypatch.setenv('VSI_QUESTION_TYPES', 'object_rel_distance,route_plannin')
    with pytest.raises(ValueError, match=r"VSI_QUESTION_TYPES: unknown question type 'route_plannin' \(did you mean"):
        load('vsi_raw')

    monkeypatch.setenv('VSI_TRAIN_JSONL', str(preprocess(data, 'train.jsonl', num_frames=4)))
    rows = load('vsi_train', columns={'scene_name': 'scene'})
    assert [r['scene'] for r in rows] == ['scene0001_00', '41069025'] and 'scene_name' not in rows[0]


def test_vsi_raw_reuses_its_conversion_until_an_input_or_setting_changes(data, monkeypatch):
    """Every rank of every launch loads one file, so the `datasets` cache of it stays valid; a changed input or
    setting, or a file that is not complete, is converted (again)."""
    vsi_dataset = register_plugin()
    use_vsi_raw(monkeypatch, data)
    cache = Path(os.environ['MODELSCOPE_CACHE']) / 'vsi_raw'
    first = load('vsi_raw')
    (converted,) = cache.glob('*.jsonl')
    stamp = converted.stat().st_mtime_ns
    conversions = []
    real_preprocess = pp.preprocess

    def counting_preprocess(*args, **kwargs):
        conversions.append(args[1])
        return real_preprocess(*args, **kwargs)

    monkeypatch.setattr(pp, 'preprocess', counting_preprocess)
    said, warned = [], []
    monkeypatch.setattr(vsi_dataset.logger, 'info', lambda message, *args, **_: said.append(str(message) % args))
    monkeypatch.setattr(pp.logger, 'warning', lambda message, *args, **_: warned.append(str(message) % args))
    assert load('vsi_raw') == first and conversions == []  # reused: not converted, not rewritten
    assert warned == [pp.NO_EXCLUSION_WARNING]  # no VSI_EXCLUDE_SCENES: said by every launch, not the first only
    # the summary of the earlier conversion is labelled so, not read as a second one
    said = [line for line in said if line.startswith('vsi_raw')]
    assert said[0] == f'vsi_raw: reusing {converted} (same inputs and settings; delete it to convert again)'
    assert len(said) > 1
    assert all(line.startswith('vsi_raw (its earlier conversion): ') for line in said[1:])
    assert converted.stat().st_mtime_ns == stamp and list(cache.glob('*.jsonl')) == [converted]

    converted.write_bytes(converted.read_bytes()[:-5])  # a file its summary does not describe: converted again
    assert load('vsi_raw') == first and conversions == [str(converted)]
    assert pp.matching_summary(str(converted)) is not None

    monkeypatch.setenv('VSI_NUM_FRAMES', '6')  # another setting: a file of its own
    assert len(load('vsi_raw')[0]['images']) == 6 and len(conversions) == 2 and conversions[1] != str(converted)
    monkeypatch.setenv('VSI_NUM_FRAMES', '4')
    with open(data / 'qa.jsonl', 'a', encoding='utf-8') as f:  # an edited input: a file of its own
        f.write(json.dumps({**MC_ROW, 'id': 9}) + '\n')
    assert [r['id'] for r in load('vsi_raw')] == ['1', '2', '9'] and len(conversions) == 3
    assert len(set(conversions)) == 3 and len(list(cache.glob('*.jsonl'))) == 3
    # the frames folder re-extracted by extract_frames.py (its manifest rewritten): a file of its own
    config = vsi_dataset.VsiRawLoader.config(SimpleNamespace(settings={}, strict=False))
    before = vsi_dataset.raw_cache_path(*config)
    (data / 'frames' / 'manifest.jsonl').write_text('{}\n', encoding='utf-8')
    assert vsi_dataset.raw_cache_path(*config) != before
    before = vsi_dataset.raw_cache_path(*config)  # and one extracted per dataset (--output_dir frames/scannet)
    (data / 'frames' / 'scannet' / 'manifest.jsonl').write_text('{}\n', encoding='utf-8')
    assert vsi_dataset.raw_cache_path(*config) != before


def test_vsi_raw_conversions_racing_for_one_file_leave_a_complete_one(data):
    """Ranks that find no converted file all convert; whichever rename lands last, the file matches its summary."""
    from concurrent.futures import ThreadPoolExecutor

    path = str(data / 'cache' / 'raw.jsonl')
    config = pp.PreprocessConfig(frames_dir=str(data / 'frames'), num_frames=4, path_mode='absolute', progress=False)
    with ThreadPoolExecutor(4) as pool:
        summaries = list(pool.map(lambda _: pp.preprocess([str(data / 'qa.jsonl')], path, config), range(8)))
    assert len({s.output_sha256 for s in summaries}) == 1
    assert pp.matching_summary(path).output_sha256 == summaries[0].output_sha256
    assert sorted(os.listdir(data / 'cache')) == ['raw.jsonl', 'raw.summary.json']  # no temporary file left


def test_vsi_train_refuses_a_jsonl_whose_media_are_missing(data, tmp_path, monkeypatch):
    """A JSONL moved away from its frames, or frames and clips deleted later, fail at load time naming the file, its
    folder and the first missing path, rather than after training dropped every row as unreadable."""
    register_plugin()
    output = preprocess(data, 'train.jsonl', num_frames=4)
    first_image = json.loads(output.read_text().splitlines()[0])['images'][0]
    moved = tmp_path / 'moved' / 'away' / 'train.jsonl'  # its `../frames/...` paths lead nowhere
    moved.parent.mkdir(parents=True)
    moved.write_bytes(output.read_bytes())
    monkeypatch.setenv('VSI_TRAIN_JSONL', str(moved))
    missing = os.path.normpath(moved.parent / first_image)
    message = (
        f'vsi_train: {moved} (folder {moved.parent}) names media that do not exist, first {missing} (line 1); relative '
        'paths are resolved against the folder of the file: keep it where preprocess_vsi_data.py wrote it, or run '
        'that again'
    )
    with pytest.raises(FileNotFoundError, match=f'^{re.escape(message)}$'):
        load('vsi_train')

    # Past the first rows only each frame folder is looked at: a deleted scene folder is still caught.
    monkeypatch.setattr(pp, 'MEDIA_CHECK_ROWS', 0)
    monkeypatch.setenv('VSI_TRAIN_JSONL', str(output))
    assert len(load('vsi_train')) == 2
    shutil.rmtree(data / 'frames' / '41069025')
    with pytest.raises(FileNotFoundError, match=r'first .*/frames/41069025/frame_\d+\.jpg \(line 2\)'):
        load('vsi_train')

    video = preprocess(data, 'video.jsonl', num_frames=4, media='video')
    monkeypatch.setenv('VSI_TRAIN_JSONL', str(video))
    clip = only_clip(data / 'out' / 'clips' / 'scannet', 'scene0001_00_k4_fps2')
    clip.unlink()
    with pytest.raises(FileNotFoundError, match=f'first {clip} '):
        load('vsi_train')


def test_vsi_train_checks_the_media_of_a_json_list_as_of_json_lines(template, data, tmp_path, monkeypatch):
    """The media check read a file line by line, so a pretty-printed JSON list (which swift reads) was never checked;
    and an `images` value written as one path alone passed the check but was not resolved."""
    register_plugin()
    output = preprocess(data, 'train.jsonl', num_frames=4)
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    listed = output.with_name('listed.json')
    listed.write_text(json.dumps([{**rows[0], 'images': ['../frames/missing/frame_0000.jpg']}], indent=1))
    monkeypatch.setenv('VSI_TRAIN_JSONL', str(listed))
    with pytest.raises(FileNotFoundError, match=f'first {re.escape(str(data / "frames/missing/frame_0000.jpg"))} '):
        load('vsi_train')
    import train_vsi_grpo  # the launchers' preflight reads it the same way

    assert train_vsi_grpo.media_problem(str(listed), None).endswith(
        'frames/missing/frame_0000.jpg (line 1) is found neither here nor under ROOT_IMAGE_DIR=None (one folder for '
        "every dataset, by default the first one's); for datasets in several folders write absolute paths "
        '(preprocess_vsi_data.py --path_mode absolute) or keep the files in one folder'
    )
    listed.write_text(json.dumps(rows, indent=1))
    # swift's loader gives images of a JSON list as {'bytes': None, 'path': ...}
    assert [[image['path'] for image in row['images']] for row in load('vsi_train')] == [
        [os.path.normpath(output.parent / image) for image in row['images']] for row in rows
    ]

    alone = output.with_name('alone.jsonl')  # one frame, its path not in a list
    alone.write_text(
        json.dumps(
            {
                **rows[0],
                'images': rows[0]['images'][0],
                'messages': [
                    {'role': 'user', 'content': '<image>' + rows[0]['messages'][0]['content'].replace('<image>', '')},
                    rows[0]['messages'][1],
                ],
            }
        )
        + '\n'
    )
    monkeypatch.setenv('VSI_TRAIN_JSONL', str(alone))
    monkeypatch.chdir(tmp_path)
    (row,) = load('vsi_train')
    assert [image['path'] for image in row['images']] == [os.path.normpath(output.parent / rows[0]['images'][0])]
    check_image_row(template, row, 1)


def test_vsi_train_refuses_a_file_swift_would_not_read_as_rows(data, tmp_path, monkeypatch):
    """swift picks its reader by the suffix: a copy without `.jsonl` failed with an IndexError from `datasets`, a
    `.txt` one lost every row; an empty file failed with a bare StopIteration. Each is refused naming the file."""
    register_plugin()
    output = preprocess(data, 'train.jsonl', num_frames=4)
    for name in ('train', 'train.txt', 'train.JSONL'):
        copy = output.with_name(name)
        copy.write_bytes(output.read_bytes())
        monkeypatch.setenv('VSI_TRAIN_JSONL', str(copy))
        message = f'vsi_train: {copy} does not end in .jsonl or .json'
        with pytest.raises(pp.VsiDataError, match=f'^{re.escape(message)}'):
            load('vsi_train')
    # .json is read by the same JSON reader
    output.with_name('train.json').write_bytes(output.read_bytes())
    monkeypatch.setenv('VSI_TRAIN_JSONL', str(output.with_name('train.json')))
    assert [row['id'] for row in load('vsi_train')] == [row['id'] for row in map(json.loads, output.open())]
    for text, problem in (('', 'has no rows'), ('\n \n', 'has no rows'), ('not json\n', 'cannot be read as a dataset')):
        bad = tmp_path / 'bad.jsonl'
        bad.write_text(text, encoding='utf-8')
        monkeypatch.setenv('VSI_TRAIN_JSONL', str(bad))
        with pytest.raises(pp.VsiDataError, match=f'^vsi_train: {re.escape(str(bad))} {problem}'):
            load('vsi_train')


@pytest.mark.parametrize(
    'dataset, message',
    [
        ('HF::vsi_train', 'vsi_train is read from local files, not from a hub: drop the HF::/MS::'),
        ('ms::vsi_raw', 'vsi_raw is read from local files, not from a hub: drop the HF::/MS::'),
        ('vsi_train:test', 'vsi_train has no subsets: drop the :test'),
        ('vsi_raw:a/b#1', 'vsi_raw has no subsets: drop the :a/b'),
    ],
)
def test_a_hub_prefix_or_subsets_on_our_names_are_refused(data, monkeypatch, dataset, message):
    """`HF::vsi_train` made swift swap our name for a hub id we do not have: a TypeError from os.path.isdir(None) deep
    in swift; `vsi_train:test` loaded every row, the subset ignored. Both are refused before anything is read."""
    register_plugin()
    monkeypatch.setenv('VSI_TRAIN_JSONL', str(preprocess(data, 'train.jsonl', num_frames=4)))
    use_vsi_raw(monkeypatch, data)
    with pytest.raises(ValueError, match=f'^{re.escape(message)}$'):
        load(dataset)
    assert len(load(dataset.split('::')[-1].split(':')[0] + '#1')) == 1  # the plain name still loads


def test_vsi_raw_converts_again_when_its_clips_were_deleted(data, monkeypatch):
    vsi_dataset = register_plugin()
    for name, value in (('VSI_RAW_QA', data / 'qa.jsonl'), ('VSI_FRAMES_DIR', data / 'frames'), ('VSI_MEDIA', 'video')):
        monkeypatch.setenv(name, str(value))
    monkeypatch.setenv('VSI_NUM_FRAMES', '4')
    first = load('vsi_raw')
    (converted,) = (Path(os.environ['MODELSCOPE_CACHE']) / 'vsi_raw').glob('*.jsonl')
    clip = only_clip(data / 'vsi_clips' / 'scannet', 'scene0001_00_k4_fps2')  # the first row's
    shutil.rmtree(data / 'vsi_clips')
    warned = []
    monkeypatch.setattr(vsi_dataset.logger, 'warning', lambda message, *args, **_: warned.append(str(message) % args))
    assert load('vsi_raw') == first and all(os.path.isfile(row['videos'][0]) for row in first)
    assert warned == [f'vsi_raw: converting again, {clip} named by {converted} is missing']


def test_a_symlinked_jsonl_resolves_media_where_they_are(data, tmp_path, monkeypatch):
    """Relative paths are the script's, relative to the output path it was given: for a link to the file, the real
    file's folder; for a file written through a linked folder, the link's folder."""
    register_plugin()
    output = preprocess(data, 'train.jsonl', num_frames=4)
    link = tmp_path / 'links' / 'deeper' / 'train.jsonl'  # from here, the file's `../frames/...` is not there
    link.parent.mkdir(parents=True)
    link.symlink_to(output)
    monkeypatch.setenv('VSI_TRAIN_JSONL', str(link))
    for row in load('vsi_train'):
        assert all(image['path'].startswith(str(data / 'frames')) for image in row['images'])

    (tmp_path / 'elsewhere' / 'deep').mkdir(parents=True)  # again, `../frames/...` is not there
    (data / 'linked').symlink_to(tmp_path / 'elsewhere' / 'deep', target_is_directory=True)
    through_link = data / 'linked' / 'train.jsonl'
    config = pp.PreprocessConfig(frames_dir=str(data / 'frames'), num_frames=4, base_dir=str(through_link.parent))
    pp.preprocess([str(data / 'qa.jsonl')], str(through_link), config)
    monkeypatch.setenv('VSI_TRAIN_JSONL', str(through_link))
    for row in load('vsi_train'):
        assert all(image['path'].startswith(str(data / 'frames')) for image in row['images'])


def test_other_datasets_named_like_ours_load_as_swift_loads_them(tmp_path, monkeypatch):
    """swift matches an unregistered dataset to a registered one by its last path part: a folder `x/vsi_train` is
    not `vsi_train`, and loads as any dataset folder does."""
    from swift.dataset import dataset_syntax

    register_plugin()
    monkeypatch.setattr(dataset_syntax, '_dataset_meta_mapping', None)  # built again, with our names in it
    rows = [{'messages': [{'role': 'user', 'content': f'q{i}'}, {'role': 'assistant', 'content': 'a'}]} for i in (1, 2)]
    for name in ('vsi_train', 'vsi_raw'):
        folder = tmp_path / 'datasets' / name
        folder.mkdir(parents=True)
        (folder / 'train.jsonl').write_text(''.join(json.dumps(row) + '\n' for row in rows), encoding='utf-8')
        assert [row['messages'][0]['content'] for row in load(str(folder))] == ['q1', 'q2']


def _load_vsi_raw_in_a_process(barrier, results) -> None:
    """One "rank": counts its conversions (each slowed down, so that racing ranks would overlap) and reports them
    with its rows and the converted file's modification time."""
    conversions = []
    real_preprocess = pp.preprocess

    def slow_preprocess(*args, **kwargs):
        conversions.append(args[1])
        time.sleep(0.5)
        return real_preprocess(*args, **kwargs)

    pp.preprocess = slow_preprocess
    try:
        barrier.wait()
        rows = load('vsi_raw')
        (converted,) = (Path(os.environ['MODELSCOPE_CACHE']) / 'vsi_raw').glob('*.jsonl')
        results.put((len(conversions), rows, converted.stat().st_mtime_ns))
    except BaseException as e:  # reported, so that the test fails with it instead of waiting
        results.put(repr(e))


def test_processes_loading_vsi_raw_at_once_convert_it_once(data, monkeypatch):
    """Ranks started together: one converts, the others wait and load its file without rewriting it."""
    register_plugin()
    use_vsi_raw(monkeypatch, data)
    context = multiprocessing.get_context('fork')  # the processes inherit the registration and the environment
    barrier, results = context.Barrier(4), context.Queue()
    processes = [context.Process(target=_load_vsi_raw_in_a_process, args=(barrier, results)) for _ in range(4)]
    for process in processes:
        process.start()
    reports = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    assert all(isinstance(report, tuple) for report in reports), reports
    assert sorted(conversions for conversions, _, _ in reports) == [0, 0, 0, 1]
    assert all(rows == reports[0][1] for _, rows, _ in reports) and len(reports[0][1]) == 2
    (converted,) = (Path(os.environ['MODELSCOPE_CACHE']) / 'vsi_raw').glob('*.jsonl')
    assert {stamp for _, _, stamp in reports} == {converted.stat().st_mtime_ns}


@pytest.mark.parametrize(
    ('settings', 'error', 'message'),
    [
        ({'VSI_FRAMES_DIR': '/missing'}, ValueError, r'^vsi_raw: VSI_FRAMES_DIR /missing is not a folder'),
        ({'VSI_MEDIA': 'videos'}, ValueError, r"^vsi_raw: VSI_MEDIA must be one of \('image', 'video'\)"),
        ({'VSI_NUM_FRAMES': '0'}, ValueError, '^vsi_raw: VSI_NUM_FRAMES must be at least 1, got 0'),
        ({'VSI_EXCLUDE_SCENES': '/missing.txt'}, ValueError, '^vsi_raw: VSI_EXCLUDE_SCENES: cannot read /missing.txt'),
        ({'VSI_ALLOW_FEWER_FRAMES': 'sure'}, ValueError, '^vsi_raw: VSI_ALLOW_FEWER_FRAMES must be one of 1/0, true'),
        ({'VSI_VIDEO_FPS': 'fast'}, ValueError, "^vsi_raw: VSI_VIDEO_FPS must be a number, got 'fast'$"),
        # a scene with fewer frames than asked for is an error naming the variable that allows it
        ({'VSI_NUM_FRAMES': '10'}, ValueError, 'has only 9 frames .* or pass VSI_ALLOW_FEWER_FRAMES$'),
        ({'VSI_TRAIN_JSONL': '/'}, IsADirectoryError, r'^VSI_TRAIN_JSONL=/ is a folder'),
        (
            {'VSI_TRAIN_JSONL': '/missing.jsonl'},
            FileNotFoundError,
            '^VSI_TRAIN_JSONL=/missing.jsonl does not exist; run',
        ),
    ],
)
def test_setting_errors_name_the_variable(data, monkeypatch, settings, error, message):
    register_plugin()
    monkeypatch.setenv('VSI_RAW_QA', str(data / 'qa.jsonl'))
    monkeypatch.setenv('VSI_FRAMES_DIR', str(data / 'frames'))
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(error, match=message):
        load('vsi_train' if 'VSI_TRAIN_JSONL' in settings else 'vsi_raw')


@pytest.mark.parametrize(
    ('path', 'resolved'),
    [
        ('frames/a.jpg', '/data/out/frames/a.jpg'),
        ('../frames/./a.jpg', '/data/frames/a.jpg'),
        ('/abs/../a.jpg', '/abs/../a.jpg'),  # absolute: kept as written
        ('http://host/a.jpg', 'http://host/a.jpg'),
        ('data:image/png;base64,AAAA', 'data:image/png;base64,AAAA'),
        (None, None),
        ({'path': 'a.jpg', 'bytes': None}, {'path': '/data/out/a.jpg', 'bytes': None}),
        ({'bytes': b'\x89PNG'}, {'bytes': b'\x89PNG'}),
    ],
)
def test_resolve_joins_only_relative_local_paths(path, resolved):
    assert register_plugin()._resolve(path, '/data/out') == resolved


def test_raw_errors_name_the_variables_for_the_script_flags():
    error = pp.VsiDataError('--frames_dir /x is bad; --question_types / VSI_QUESTION_TYPES too; --strict stays')
    converted = register_plugin()._raw_error(error)
    assert isinstance(converted, pp.VsiDataError)
    assert str(converted) == 'vsi_raw: VSI_FRAMES_DIR /x is bad; VSI_QUESTION_TYPES too; --strict stays'


def test_vsi_raw_errors_name_what_sets_the_files_the_script_takes_as_flags(data, tmp_path, monkeypatch):
    """The script's --input_path and --output_path are VSI_RAW_QA and the cache file here; an exclusion list that
    lists no scene is named by its variable, as a missing one is."""
    register_plugin()
    use_vsi_raw(monkeypatch, data)
    qa = data / 'qa.jsonl'
    monkeypatch.setenv('VSI_RAW_QA', f'{qa},{qa}')
    with pytest.raises(pp.VsiDataError, match=f'^vsi_raw: VSI_RAW_QA: {re.escape(str(qa))} is the same file as '):
        load('vsi_raw')
    for missing in (tmp_path / 'no.jsonl', data / 'frames'):  # were `input file ...`, the reader's words
        monkeypatch.setenv('VSI_RAW_QA', f'{qa},{missing}')
        why = 'does not exist' if missing.suffix else 'is a folder, not a file; name the file itself'
        with pytest.raises(pp.VsiDataError, match=f'^vsi_raw: VSI_RAW_QA {re.escape(str(missing))} {why}$'):
            load('vsi_raw')
    monkeypatch.setenv('VSI_RAW_QA', str(qa))
    cache = tmp_path / 'cache_is_a_file'
    cache.mkdir()
    (cache / 'vsi_raw').write_text('')
    monkeypatch.setenv('MODELSCOPE_CACHE', str(cache))
    with pytest.raises(pp.VsiDataError, match=r'^vsi_raw: the vsi_raw cache file \(MODELSCOPE_CACHE\): cannot write'):
        load('vsi_raw')
    monkeypatch.setenv('MODELSCOPE_CACHE', str(tmp_path / 'ms_cache'))
    empty = tmp_path / 'empty.txt'
    empty.write_text('# nothing\n')
    monkeypatch.setenv('VSI_EXCLUDE_SCENES', str(empty))
    with pytest.raises(pp.VsiDataError, match=f'^vsi_raw: VSI_EXCLUDE_SCENES: {re.escape(str(empty))} lists no scenes'):
        load('vsi_raw')


def test_path_objects_are_taken_for_every_file_setting(data, tmp_path):
    """register_vsi_datasets(raw_qa=Path(...)) failed with `'PosixPath' object is not iterable` where frames_dir and
    train_jsonl took a Path; a list may mix both."""
    vsi_dataset = register_plugin()
    (tmp_path / 'exclude.txt').write_text('41069025\n')
    try:
        vsi_dataset.register_vsi_datasets(
            raw_qa=data / 'qa.jsonl',
            frames_dir=data / 'frames',
            exclude_scenes=[tmp_path / 'exclude.txt'],
            num_frames=4,
        )
        assert [row['id'] for row in load('vsi_raw')] == ['1']
    finally:
        vsi_dataset.register_vsi_datasets()


def test_register_returns_both_metas_and_refuses_unknown_settings():
    vsi_dataset = register_plugin()
    metas = vsi_dataset.register_vsi_datasets()
    assert [(m.dataset_name, m.dataset_path) for m in metas] == [('vsi_train', 'vsi_train'), ('vsi_raw', 'vsi_raw')]
    assert [m.help for m in metas] == [
        'preprocess_vsi_data.py output; VSI_TRAIN_JSONL=file.jsonl',
        'raw VSI QA converted on load; VSI_RAW_QA, VSI_FRAMES_DIR, ...',
    ]
    expected = (
        "unknown settings ['frame_dir']; expected some of ['allow_fewer_frames', 'clips_dir', 'exclude_scenes', "
        "'frames_dir', 'max_per_type', 'media', 'num_frames', 'prompt_style', 'question_types', 'raw_qa', 'seed', "
        "'shuffle', 'train_jsonl', 'video_fps']"
    )
    with pytest.raises(TypeError, match=f'^{re.escape(expected)}$'):
        vsi_dataset.register_vsi_datasets(frame_dir='frames')


@pytest.mark.parametrize('module', ['preprocess', 'vsi_scoring', 'extract_frames'])
def test_vsi_raw_gets_a_file_of_its_own_when_the_converting_code_changes(data, tmp_path, monkeypatch, module):
    vsi_dataset = register_plugin()
    code = tmp_path / f'{module}.py'
    code.write_text('x = 1\n')
    monkeypatch.setattr(getattr(vsi_dataset, module), '__file__', str(code))
    config = pp.PreprocessConfig(frames_dir=str(data / 'frames'), path_mode='absolute', progress=False)
    before = vsi_dataset.raw_cache_path([str(data / 'qa.jsonl')], config)
    code.write_text('x = 22\n')  # an updated converter: another size
    assert vsi_dataset.raw_cache_path([str(data / 'qa.jsonl')], config) != before


def test_convert_raw_converts_once_and_passes_strict_on(data, monkeypatch):
    """The launchers' early conversion: the file swift's load then reuses; `strict` makes a skipped row an error."""
    vsi_dataset = register_plugin()
    qa = data / 'qa_missing.jsonl'  # scene0009_00 has no frames: skipped, or an error with strict
    qa.write_text(''.join(json.dumps(r) + '\n' for r in (MC_ROW, {**MC_ROW, 'scene_name': 'scene0009_00'})))
    use_vsi_raw(monkeypatch, data, qa)
    with pytest.raises(pp.VsiDataError, match='^vsi_raw: .*scene0009_00'):
        vsi_dataset.convert_raw(strict=True)
    path = vsi_dataset.convert_raw()
    (converted,) = (Path(os.environ['MODELSCOPE_CACHE']) / 'vsi_raw').glob('*.jsonl')
    assert path == str(converted) and [json.loads(line)['id'] for line in converted.read_text().splitlines()] == ['1']
    assert vsi_dataset.convert_raw() == path


def test_vsi_raw_boolean_and_folder_settings(data, tmp_path, monkeypatch):
    """`on`/`off` and the other usual words are booleans; a relative VSI_CLIPS_DIR is the working directory's."""
    vsi_dataset = register_plugin()
    monkeypatch.setenv('VSI_RAW_QA', str(data / 'qa.jsonl'))
    monkeypatch.setenv('VSI_FRAMES_DIR', str(data / 'frames'))

    def config():
        return vsi_dataset.VsiRawLoader.config(SimpleNamespace(settings={}, strict=False))[1]

    assert (config().allow_fewer_frames, config().shuffle) == (False, False)  # unset
    for word, value in (('on', True), ('Yes', True), ('1', True), ('off', False), ('no', False), ('FALSE', False)):
        monkeypatch.setenv('VSI_ALLOW_FEWER_FRAMES', word)
        assert config().allow_fewer_frames is value
    for word, value in ((' true ', True), ('yes', True), ('0', False), ('false', False), ('Off', False)):
        monkeypatch.setenv('VSI_SHUFFLE', word)
        assert config().shuffle is value
    # Python's booleans, given to register_vsi_datasets, pass as they are
    given = vsi_dataset.VsiRawLoader.config(SimpleNamespace(settings={'shuffle': True}, strict=False))[1]
    assert given.shuffle is True
    monkeypatch.setenv('VSI_CLIPS_DIR', 'clips')
    monkeypatch.chdir(tmp_path)
    assert config().clips_dir == str(tmp_path / 'clips')


def test_a_tilde_in_a_path_setting_is_the_home_folder(data, tmp_path, monkeypatch):
    """A YAML's ENV block and os.environ in Python pass `~/...` on as written (no shell expands it): vsi_dataset
    looked for a folder named `~` in the working directory."""
    vsi_dataset = register_plugin()
    preprocess(data, 'train.jsonl', num_frames=4)
    (data / 'test_scenes.txt').write_text('scene0001_00\n', encoding='utf-8')
    monkeypatch.setenv('HOME', str(data))
    monkeypatch.chdir(tmp_path / 'frames')
    monkeypatch.setenv('VSI_TRAIN_JSONL', '~/out/train.jsonl')
    assert [r['id'] for r in load('vsi_train')] == ['1', '2']
    settings = {'VSI_RAW_QA': '~/qa.jsonl', 'VSI_FRAMES_DIR': '~/frames', 'VSI_CLIPS_DIR': '~/clips'}
    for name, value in {**settings, 'VSI_EXCLUDE_SCENES': '~/test_scenes.txt'}.items():
        monkeypatch.setenv(name, value)
    qa_paths, config = vsi_dataset.VsiRawLoader.config(SimpleNamespace(settings={}, strict=False))
    assert qa_paths == [str(data / 'qa.jsonl')]
    assert (config.frames_dir, config.clips_dir) == (str(data / 'frames'), str(data / 'clips'))
    assert config.exclude_scenes == {'scene0001_00'}


def test_the_launchers_preflight_names_these_datasets_and_variables():
    """train_vsi_grpo.py checks the registered datasets' variables without importing this module (it imports swift,
    seconds), so it spells their names again: they must be these."""
    import train_vsi_grpo

    plugin = register_plugin()
    env = plugin.ENV_VARS
    expected = {plugin.TRAIN_NAME: (env['train_jsonl'],), plugin.RAW_NAME: (env['raw_qa'], env['frames_dir'])}
    assert expected == train_vsi_grpo.REGISTERED_DATASET_VARIABLES
    assert set(env.values()) == train_vsi_grpo.VSI_DATASET_VARIABLES


def test_vsi_raw_settings_left_unset_take_the_documented_defaults(data):
    """The module docstring's defaults: 32 frames, direct prompts, images, 2 fps, seed 42, clips in `vsi_clips/` next
    to the frames folder; absolute paths (the converted file lives in the cache) and no progress bar."""
    vsi_dataset = register_plugin()
    settings = {'raw_qa': str(data / 'qa.jsonl'), 'frames_dir': str(data / 'frames')}
    qa_paths, config = vsi_dataset.VsiRawLoader.config(SimpleNamespace(settings=settings, strict=False))
    assert qa_paths == [str(data / 'qa.jsonl')]
    assert dataclasses.asdict(config) == {
        'frames_dir': str(data / 'frames'),
        'num_frames': 32,
        'prompt_style': 'direct',
        'media': 'image',
        'path_mode': 'absolute',
        'base_dir': '.',
        'clips_dir': str(data / 'vsi_clips'),
        'video_fps': 2.0,
        'allow_fewer_frames': False,
        'exclude_scenes': frozenset(),
        'question_types': None,
        'max_per_type': None,
        'shuffle': False,
        'seed': 42,
        'strict': False,
        'progress': False,
    }


def test_identity_is_the_path_size_and_nanosecond_mtime(tmp_path):
    """The cache key's identity of a file: two QA files of one size and time are told apart by their paths, and a file
    edited to the same size (a digit changed) by its modification time."""
    vsi_dataset = register_plugin()
    path = tmp_path / 'qa.jsonl'
    path.write_text('12345', encoding='utf-8')
    os.utime(path, ns=(1_000_000_000, 1_700_000_000_123_456_789))
    assert vsi_dataset._identity(str(path)) == [str(path), 5, 1_700_000_000_123_456_789]
    assert vsi_dataset._identity(str(tmp_path / 'missing.jsonl')) is None


def test_vsi_train_rows_go_through_swifts_own_messages_preprocessor(data, monkeypatch):
    """Relative paths are resolved after swift's MessagesPreprocessor, not instead of it: a `system` column becomes
    the first turn, as for any JSONL swift loads."""
    register_plugin()
    row = {
        'system': 'Answer briefly.',
        'messages': [{'role': 'user', 'content': '<image>How many chairs?'}, {'role': 'assistant', 'content': '2'}],
        'images': ['frames/41069025/frame_0000.jpg'],
    }
    path = data / 'system.jsonl'
    path.write_text(json.dumps(row) + '\n', encoding='utf-8')
    monkeypatch.setenv('VSI_TRAIN_JSONL', str(path))
    (loaded,) = load('vsi_train')
    assert loaded['messages'] == [
        {'role': 'system', 'content': 'Answer briefly.'},
        {'role': 'user', 'content': '<image>How many chairs?'},
        {'role': 'assistant', 'content': '2'},
    ]
    assert [image['path'] for image in loaded['images']] == [str(data / 'frames' / '41069025' / 'frame_0000.jpg')]


def test_vsi_raw_converts_under_swifts_barrier_keyed_by_its_file(data, monkeypatch):
    """Under torchrun the first rank converts while the others wait at swift's barrier (use_barrier=True); outside
    torchrun swift's file lock is keyed by the converted file's path."""
    vsi_dataset = register_plugin()
    real_context, entered = vsi_dataset.safe_ddp_context, []

    def recording_context(**kwargs):
        entered.append(kwargs)
        return real_context(**kwargs)

    monkeypatch.setattr(vsi_dataset, 'safe_ddp_context', recording_context)
    use_vsi_raw(monkeypatch, data)
    path = vsi_dataset.convert_raw()
    assert entered == [{'hash_id': path, 'use_barrier': True}]


@pytest.mark.parametrize(
    ('function', 'args', 'error', 'message'),
    [
        (
            '_setting',
            ({}, 'train_jsonl', None, 'vsi_train'),
            ValueError,
            "dataset 'vsi_train' needs VSI_TRAIN_JSONL (or register_vsi_datasets(train_jsonl=...))",
        ),
        ('_number', ({'num_frames': 'x'}, 'num_frames', int), ValueError, "VSI_NUM_FRAMES must be an integer, got 'x'"),
        ('_number', ({'video_fps': 'x'}, 'video_fps', float), ValueError, "VSI_VIDEO_FPS must be a number, got 'x'"),
        (
            '_flag',
            ({'shuffle': 'sure'}, 'shuffle'),
            ValueError,
            "VSI_SHUFFLE must be one of 1/0, true/false, yes/no, on/off; got 'sure'",
        ),
        (
            '_excluded_scenes',
            ({'exclude_scenes': '/missing.txt'},),
            ValueError,
            'VSI_EXCLUDE_SCENES: cannot read /missing.txt: No such file or directory',
        ),
        (
            'VsiTrainLoader.locate',
            (SimpleNamespace(settings={'train_jsonl': '/'}, name='vsi_train'),),
            IsADirectoryError,
            'VSI_TRAIN_JSONL=/ is a folder; name the JSONL file preprocess_vsi_data.py wrote',
        ),
        (
            'VsiTrainLoader.locate',
            (SimpleNamespace(settings={'train_jsonl': '/missing.jsonl'}, name='vsi_train'),),
            FileNotFoundError,
            'VSI_TRAIN_JSONL=/missing.jsonl does not exist; run preprocess_vsi_data.py',
        ),
    ],
)
def test_setting_error_messages_in_full(function, args, error, message):
    target = register_plugin()
    for part in function.split('.'):
        target = getattr(target, part)
    with pytest.raises(error) as raised:
        target(*args)
    assert str(raised.value) == message


@pytest.mark.parametrize('value', [None, '', ' , '])
def test_vsi_raw_without_its_qa_files_names_the_variable(data, monkeypatch, value):
    """VSI_RAW_QA unset, or set to nothing, is an error naming it (as VSI_FRAMES_DIR is), not a conversion of no
    files that fails with 'no rows to write'."""
    register_plugin()
    monkeypatch.setenv('VSI_FRAMES_DIR', str(data / 'frames'))
    monkeypatch.delenv('VSI_RAW_QA', raising=False)
    if value is not None:
        monkeypatch.setenv('VSI_RAW_QA', value)
    with pytest.raises(ValueError) as raised:
        load('vsi_raw')
    assert str(raised.value) == "dataset 'vsi_raw' needs VSI_RAW_QA (or register_vsi_datasets(raw_qa=...))"
    assert not (Path(os.environ['MODELSCOPE_CACHE']) / 'vsi_raw').exists()  # nothing converted


@pytest.mark.parametrize('damage', ['last line cut off', 'a line edited'])
def test_rows_with_a_line_that_does_not_decode_are_refused_naming_the_file_and_line(data, monkeypatch, damage):
    """A copy cut short, or a line edited by hand: swift's loader said `DatasetGenerationError` or `Expected object or
    value at position 530`, naming neither the file nor the line, after the model had loaded."""
    import train_vsi_grpo

    register_plugin()
    output = preprocess(data, 'train.jsonl', num_frames=4)
    first, second = output.read_text(encoding='utf-8').splitlines()
    broken = f'{first}\n\n{second[:-30]}' if damage == 'last line cut off' else f'{first}\n\n{second[:40]}\n{first}\n'
    output.write_text(broken, encoding='utf-8')
    where = f'{output}: line 3 is not valid JSON'
    monkeypatch.setenv('VSI_TRAIN_JSONL', str(output))
    with pytest.raises(pp.VsiDataError, match=f'^vsi_train: {re.escape(where)} \\(.+\\): fix or remove the line$'):
        load('vsi_train')
    problem = train_vsi_grpo.media_problem(str(output), None)  # the launchers' preflight of --dataset FILE
    assert problem.startswith(f'dataset {where} (') and problem.endswith('): fix or remove the line')


def test_a_byte_order_mark_is_read_as_swift_reads_it_and_bad_utf8_is_named_by_its_line(data, monkeypatch):
    """A JSONL saved with a BOM loads in swift; its first line was refused as `not valid JSON ... fix or remove the
    line`. A line that is not UTF-8 past the first megabyte escaped as a bare UnicodeDecodeError."""
    import train_vsi_grpo

    register_plugin()
    output = preprocess(data, 'train.jsonl', num_frames=4)
    text = output.read_bytes()
    output.write_bytes(codecs.BOM_UTF8 + text)
    monkeypatch.setenv('VSI_TRAIN_JSONL', str(output))
    assert len(load('vsi_train')) == 2
    assert train_vsi_grpo.media_problem(str(output), str(output.parent)) is None
    first, second = text.splitlines()
    output.write_bytes((first + b'\n') * 3000 + second.replace(b'"', b'"\xe9', 1) + b'\n')
    where = f'{output}: line 3001 is not valid UTF-8'
    with pytest.raises(pp.VsiDataError, match=f'^vsi_train: {re.escape(where)}'):
        load('vsi_train')
    assert train_vsi_grpo.media_problem(str(output), None).startswith(f'dataset {where}')


def test_a_symlinked_jsonl_with_a_line_that_does_not_decode_is_a_preflight_problem_not_a_traceback(data, tmp_path):
    import train_vsi_grpo

    output = preprocess(data, 'train.jsonl', num_frames=4)
    first, second = output.read_text(encoding='utf-8').splitlines()
    output.write_text(f'{first}\n{second[:-30]}\n', encoding='utf-8')
    link = tmp_path / 'runs' / 'link.jsonl'
    link.parent.mkdir()
    link.symlink_to(output)
    assert train_vsi_grpo.image_root(str(link)) == str(link.parent)  # resolve() calls it for ROOT_IMAGE_DIR
    assert train_vsi_grpo.media_problem(str(link), None).startswith(f'dataset {link}: line 2 is not valid JSON')


def test_frames_extracted_again_after_preprocessing_are_refused(tmp_path, monkeypatch):
    """Extracting into the same folder again with another --num_frames keeps the names frame_0000.jpg ... but not
    the frames: rows written before would train on other frames than they were made from, which no check of the
    files' existence sees (an audit's run: 4 frames, then 8, and every row saw the first 40% of its video only)."""
    from video_utils import encode_video

    import extract_frames
    import train_vsi_grpo

    register_plugin()
    (tmp_path / 'videos').mkdir()
    encode_video(tmp_path / 'videos' / 'scene0001_00.mp4', 48, width=64, height=48)
    frames, scene = tmp_path / 'frames', tmp_path / 'frames' / 'scene0001_00'

    def extract(num_frames: int, overwrite: bool = False) -> None:
        summary = extract_frames.extract_all(
            frames, video_dir=tmp_path / 'videos', num_frames=num_frames, workers=1, overwrite=overwrite, progress=False
        )
        assert (summary.done, summary.failed) == (1, 0)

    extract(4)
    (tmp_path / 'qa.jsonl').write_text(json.dumps(MC_ROW) + '\n', encoding='utf-8')
    output = preprocess(tmp_path, 'train.jsonl', num_frames=4)
    record = json.loads((scene / extract_frames.RECORD_NAME).read_text())
    assert record['indices'] == [0, 16, 31, 47]
    summary = json.loads(Path(pp.summary_path(str(output))).read_text())
    assert summary['frame_records'] == {'../frames/scene0001_00': extract_frames.frames_identity(scene)}
    monkeypatch.setenv('VSI_TRAIN_JSONL', str(output))
    assert len(load('vsi_train')) == 1
    assert train_vsi_grpo.media_problem(str(output), str(output.parent)) is None

    extract(4, overwrite=True)  # the same frames made again (only the record's timing differs): still the rows'
    assert json.loads((scene / extract_frames.RECORD_NAME).read_text())['indices'] == record['indices']
    assert len(load('vsi_train')) == 1 and train_vsi_grpo.media_problem(str(output), str(output.parent)) is None

    extract(8)  # the settings changed: redone, frame_0000..0003 are now frames 0, 7, 13, 20 of 48
    assert json.loads((scene / extract_frames.RECORD_NAME).read_text())['indices'][:4] == [0, 7, 13, 20]
    problem = (
        f'{output} was written from other frames than {scene} holds now (extracted again since: with another '
        '--num_frames, other frames under the same file names, or from its video changed in size or modification time, '
        'e.g. copied without keeping times); run preprocess_vsi_data.py again'
    )
    with pytest.raises(pp.VsiDataError, match=f'^{re.escape("vsi_train: " + problem)}$'):
        load('vsi_train')
    assert train_vsi_grpo.media_problem(str(output), str(output.parent)) == f'dataset {problem}'
    link = tmp_path / 'runs' / 'train.jsonl'  # read through a link (its summary lies beside the real file): refused
    link.parent.mkdir()
    link.symlink_to(output)
    monkeypatch.setenv('VSI_TRAIN_JSONL', str(link))
    with pytest.raises(
        pp.VsiDataError, match=f'^{re.escape("vsi_train: " + problem.replace(str(output), str(link)))}$'
    ):
        load('vsi_train')
    assert pp.changed_frames(str(link), str(output.parent)) == str(scene)
    monkeypatch.setenv('VSI_TRAIN_JSONL', str(output))
    plan = train_vsi_grpo.resolve(train_vsi_grpo.DEFAULT_CONFIG, 'local', ['--dataset', 'vsi_train'])
    assert train_vsi_grpo.registered_dataset_problems(plan, {}) == [f'VSI_TRAIN_JSONL: {problem}']  # named by variable

    # rows edited by hand have no summary of their own (its SHA-256 differs): nothing to compare with
    output.write_text(output.read_text().replace('"A"', '"B"'), encoding='utf-8')
    assert pp.changed_frames(str(output), str(output.parent)) is None and len(load('vsi_train')) == 1
    preprocess(tmp_path, 'train.jsonl', num_frames=4)  # written again from the frames there now: loads
    assert len(load('vsi_train')) == 1 and train_vsi_grpo.media_problem(str(output), str(output.parent)) is None
    moved = tmp_path / 'a' / 'b' / 'train.jsonl'  # its ../frames/... paths lead nowhere: the preflight says so too
    moved.parent.mkdir(parents=True)
    moved.write_bytes(output.read_bytes())
    monkeypatch.setenv('VSI_TRAIN_JSONL', str(moved))
    assert train_vsi_grpo.registered_dataset_problems(plan, {}) == [
        f'VSI_TRAIN_JSONL: {moved} (folder {moved.parent}) names media that do not exist, first '
        f'{tmp_path / "a" / "frames" / "scene0001_00" / "frame_0000.jpg"} (line 1); relative paths are resolved '
        'against the folder of the file: keep it where preprocess_vsi_data.py wrote it, or run that again'
    ]


def test_the_cache_key_holds_the_nearest_manifest_above_the_frames_folder(tmp_path):
    """Only the extraction's manifest above (the nearest): any manifest.jsonl up to / changed the key for nothing."""
    vsi_dataset = register_plugin()
    frames = tmp_path / 'a' / 'b' / 'frames'
    (frames / 'scene').mkdir(parents=True)
    (frames / 'scene' / 'manifest.jsonl').write_text('{}\n')
    (tmp_path / 'a' / 'manifest.jsonl').write_text('{}\n')
    assert vsi_dataset.frame_manifests(str(frames)) == sorted(
        [
            str(tmp_path / 'a' / 'manifest.jsonl'),
            str(frames / 'scene' / 'manifest.jsonl'),
        ]
    )
    (tmp_path / 'a' / 'b' / 'manifest.jsonl').write_text('{}\n')
    assert vsi_dataset.frame_manifests(str(frames)) == sorted(
        [
            str(tmp_path / 'a' / 'b' / 'manifest.jsonl'),
            str(frames / 'scene' / 'manifest.jsonl'),
        ]
    )


@pytest.mark.parametrize('key_sees_the_manifest', [True, False])
def test_vsi_raw_converts_again_when_frames_of_a_dataset_folder_are_extracted_again(
    tmp_path, monkeypatch, key_sees_the_manifest
):
    """VSI_FRAMES_DIR=frames/scannet after `extract_frames.py --video_dir videos --output_dir frames`: the manifest is
    in frames/, which the cache key did not hold, so after extracting 8 frames over 4 the earlier conversion was
    reused and trained on frames 0-3 of 8 (the first half of each video). The key now holds the manifests above the
    folder; where no manifest in the key says so (a layout it misses), the frame records the summary kept do."""
    from video_utils import encode_video

    import extract_frames

    vsi_dataset = register_plugin()
    if not key_sees_the_manifest:
        monkeypatch.setattr(vsi_dataset, 'frame_manifests', lambda frames_dir: [])
    (tmp_path / 'videos' / 'scannet').mkdir(parents=True)
    encode_video(tmp_path / 'videos' / 'scannet' / 'scene0001_00.mp4', 48, width=64, height=48)
    (tmp_path / 'qa.jsonl').write_text(json.dumps(MC_ROW) + '\n', encoding='utf-8')

    def extract(num_frames: int) -> None:
        summary = extract_frames.extract_all(
            tmp_path / 'frames',
            video_dir=tmp_path / 'videos',
            num_frames=num_frames,
            workers=1,
            overwrite=True,
            progress=False,
        )
        assert (summary.done, summary.failed) == (1, 0)

    extract(4)
    monkeypatch.setenv('VSI_RAW_QA', str(tmp_path / 'qa.jsonl'))
    monkeypatch.setenv('VSI_FRAMES_DIR', str(tmp_path / 'frames' / 'scannet'))
    monkeypatch.setenv('VSI_NUM_FRAMES', '4')
    scene = tmp_path / 'frames' / 'scannet' / 'scene0001_00'
    names = [Path(image['path']).name for image in load('vsi_raw')[0]['images']]
    assert names == ['frame_0000.jpg', 'frame_0001.jpg', 'frame_0002.jpg', 'frame_0003.jpg']
    extract(8)  # frames 0, 7, 13, 20, 27, 34, 40, 47 of 48: the even 4 of them are 0, 2, 5, 7
    assert json.loads((scene / extract_frames.RECORD_NAME).read_text())['indices'] == [0, 7, 13, 20, 27, 34, 40, 47]
    warned = []
    monkeypatch.setattr(vsi_dataset.logger, 'warning', lambda message, *args, **_: warned.append(str(message) % args))
    (row,) = load('vsi_raw')
    # the same file converted again says why (a file of its own is simply new)
    again = [] if key_sees_the_manifest else [f'vsi_raw: converting again, the frames in {scene} were extracted again']
    assert [line for line in warned if line.startswith('vsi_raw')] == again
    assert [Path(image['path']).name for image in row['images']] == [
        'frame_0000.jpg',
        'frame_0002.jpg',
        'frame_0005.jpg',
        'frame_0007.jpg',
    ]
    assert len(list((Path(os.environ['MODELSCOPE_CACHE']) / 'vsi_raw').glob('*.jsonl'))) == (
        2 if key_sees_the_manifest else 1  # a file of its own, or the same file converted again
    )


def test_more_numeric_questions_than_one_block_of_datasets_load_with_a_multiple_choice_row_first(data, monkeypatch):
    """`datasets` types a JSONL's columns from its first 10 MB. preprocess kept the input order, so a file of ~5,000
    numeric questions (`options` null) before its first multiple-choice one failed to load, `Couldn't cast array of
    type list<item: string> to null`, once swift had loaded the model. preprocess now writes a multiple-choice row
    first; a file in the old order is refused by vsi_train and by the launchers' preflight, naming column and line."""
    import datasets

    import train_vsi_grpo

    register_plugin()
    padding = ' Count every one.' * 220  # ~3.7 kB a question, twice in a row: 2,500 rows are over 10 MB
    rows = [{**NUMERIC_ROW, 'id': f'n{i}', 'question': NUMERIC_ROW['question'] + padding} for i in range(2500)]
    (data / 'qa.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in [*rows, MC_ROW]), encoding='utf-8')
    output = preprocess(data, 'train.jsonl', num_frames=4)
    written = [json.loads(line) for line in output.open()]
    assert output.stat().st_size > 10 << 20 and len(written) == 2501
    assert [row['id'] for row in written] == [str(MC_ROW['id'])] + [f'n{i}' for i in range(2500)]
    monkeypatch.setenv('VSI_TRAIN_JSONL', str(output))
    loaded = load('vsi_train')
    assert len(loaded) == 2501 and loaded[0]['options'] == MC_ROW['options'] and loaded[1]['options'] is None
    # the order the previous version wrote: the datasets library itself fails on it
    old = output.with_name('old.jsonl')
    old.write_text(''.join(json.dumps(row) + '\n' for row in [*written[1:], written[0]]), encoding='utf-8')
    with pytest.raises(datasets.exceptions.DatasetGenerationError) as error:
        datasets.load_dataset('json', data_files=str(old), split='train', cache_dir=str(data / 'hf_cache'))
    assert "Couldn't cast" in str(error.value.__cause__)
    pattern = rf"{re.escape(str(old))}: column 'options' is null on every row of its first 10 MB \(lines 1-\d+\), "
    assert re.match(
        '^' + pattern + r'.* but line 2501 has it: loading would fail there', pp.column_types_problem(str(old))
    )
    assert train_vsi_grpo.dataset_problem(str(old)) == pp.column_types_problem(str(old))
    monkeypatch.setenv('VSI_TRAIN_JSONL', str(old))
    with pytest.raises(pp.VsiDataError, match=f'^vsi_train: {pattern}'):
        load('vsi_train')


def test_arguments_given_as_false_or_zero_win_over_the_variables(data, monkeypatch):
    """Arguments take precedence over the variables, also when they are False or 0: `shuffle=False` is no shuffle
    under VSI_SHUFFLE=1, `num_frames=0` is refused as the variable's 0 is, not read as unset (32 frames)."""
    vsi_dataset = register_plugin()
    monkeypatch.setenv('VSI_RAW_QA', str(data / 'qa.jsonl'))
    monkeypatch.setenv('VSI_FRAMES_DIR', str(data / 'frames'))
    monkeypatch.setenv('VSI_SHUFFLE', '1')
    monkeypatch.setenv('VSI_ALLOW_FEWER_FRAMES', 'yes')
    monkeypatch.setenv('VSI_VIDEO_FPS', '0.5')

    def config(**settings):
        return vsi_dataset.VsiRawLoader.config(SimpleNamespace(settings=settings, strict=False))[1]

    assert (config().shuffle, config().allow_fewer_frames, config().video_fps) == (True, True, 0.5)
    given = config(shuffle=False, allow_fewer_frames=False)
    assert (given.shuffle, given.allow_fewer_frames) == (False, False)
    with pytest.raises(ValueError, match='^vsi_raw: VSI_NUM_FRAMES must be at least 1, got 0'):
        config(num_frames=0)


def test_frame_manifests_of_a_folder_whose_name_is_a_glob_pattern(tmp_path):
    """`frames[1]` is a folder name, not a pattern: its own manifest and its dataset folders' are found."""
    vsi_dataset = register_plugin()
    frames = tmp_path / 'frames[1]'
    (frames / 'scannet').mkdir(parents=True)
    (tmp_path / 'frames1' / 'scannet').mkdir(parents=True)  # what the pattern `frames[1]` would match instead
    for folder in (frames, frames / 'scannet', tmp_path / 'frames1', tmp_path / 'frames1' / 'scannet'):
        (folder / 'manifest.jsonl').write_text('{}\n')
    assert vsi_dataset.frame_manifests(str(frames)) == [
        str(frames / 'manifest.jsonl'),
        str(frames / 'scannet' / 'manifest.jsonl'),
    ]


@pytest.mark.parametrize('alone', ['frames/41069025/frame_0000.jpg', {'path': 'frames/41069025/frame_0000.jpg'}])
def test_a_media_item_written_alone_is_checked_and_resolved_as_a_list_of_one(alone, data, monkeypatch):
    """`"images": "frames/..."` or `{"path": "frames/..."}` (one item, not a list): swift makes it a list of one
    relative path, opened from the working directory; the dict form was neither resolved nor checked."""
    register_plugin()
    row = {
        'messages': [{'role': 'user', 'content': '<image>How many chairs?'}, {'role': 'assistant', 'content': '2'}],
        'images': alone,
    }
    path = data / 'alone.jsonl'
    path.write_text(json.dumps(row) + '\n', encoding='utf-8')
    monkeypatch.setenv('VSI_TRAIN_JSONL', str(path))
    (loaded,) = load('vsi_train')
    assert [image['path'] for image in loaded['images']] == [str(data / 'frames' / '41069025' / 'frame_0000.jpg')]
    missing = {'path': 'frames/missing/frame_0000.jpg'} if isinstance(alone, dict) else 'frames/missing/frame_0000.jpg'
    path.write_text(json.dumps({**row, 'images': missing}) + '\n', encoding='utf-8')
    with pytest.raises(FileNotFoundError, match=f'first {re.escape(str(data / "frames/missing/frame_0000.jpg"))} '):
        load('vsi_train')


def test_a_registration_holding_settings_this_file_does_not_read_is_taken_without_them(monkeypatch):
    """A registration by another version of this file (swift imports it again under another name) may hold settings
    that are not ours: the re-import keeps ours and drops those, instead of failing with `unknown settings`."""
    from swift.dataset import DATASET_MAPPING

    vsi_dataset = register_plugin()
    loader = DATASET_MAPPING['vsi_train'].loader
    monkeypatch.setattr(loader, 'settings', {'train_jsonl': '/data/train.jsonl', 'frame_dir': '/data/frames'})
    assert vsi_dataset._registered_settings() == {'train_jsonl': '/data/train.jsonl'}


def test_a_reused_conversion_with_an_exclusion_list_gives_no_exclusion_warning(data, monkeypatch):
    """The warning that no VSI_EXCLUDE_SCENES is set is for runs without one: a conversion with an exclusion list,
    reused by a later launch, does not claim the test scenes may be trained on."""
    vsi_dataset = register_plugin()
    use_vsi_raw(monkeypatch, data)
    (data / 'test_scenes.txt').write_text('scene0001_00\n', encoding='utf-8')
    monkeypatch.setenv('VSI_EXCLUDE_SCENES', str(data / 'test_scenes.txt'))
    warned, said = [], []
    monkeypatch.setattr(pp.logger, 'warning', lambda message, *args, **_: warned.append(str(message) % args))
    monkeypatch.setattr(vsi_dataset.logger, 'info', lambda message, *args, **_: said.append(str(message) % args))
    assert [r['scene_name'] for r in load('vsi_raw')] == ['41069025']
    assert [r['scene_name'] for r in load('vsi_raw')] == ['41069025']  # the second load reuses the first's file
    assert any(line.startswith('vsi_raw: reusing ') for line in said)
    assert pp.NO_EXCLUSION_WARNING not in warned
