"""Extract uniformly sampled frames from videos as JPEG folders, the first stage of the VSI-Bench pipeline.

Each video gets one folder named by its path relative to --video_dir without the extension (VSI-Bench:
`<output_dir>/<dataset>/<scene_name>/frame_0000.jpg ...`), and one line in `<output_dir>/manifest.jsonl`.

Usage:
    python extract_frames.py --video_dir data/videos --output_dir data/frames --num_frames 32
    python extract_frames.py --video_list videos.txt --output_dir data/frames --max_pixels 262144 --workers 8

From Python (the evaluation script does this to fill its frame cache):
    from extract_frames import extract_all, frames_dir_for, read_manifest
    summary = extract_all(output_dir='data/frames', video_dir='data/videos', num_frames=32)
    record = read_manifest('data/frames')['scannet/scene0011_00']  # .frame_paths, .indices, .timestamps

Frame choice: `sample_indices(n, k) = np.linspace(0, n - 1, k).round()` over the n frames that actually
decode, counted from the demuxed packets (never from container metadata, which is wrong on variable frame
rate video and on mp4 edit lists). `np.round` rounds halves to even (2.5 -> 2), unlike `int(x + 0.5)`;
training data and evaluation share this rule: reproduce it anywhere frames must line up.

Frames are turned as the video's display matrix says (phone videos), as players, ffmpeg and decord show them;
FrameRecord.rotation records it. Folders written by earlier versions, which wrote such frames as stored, are not
redone for it: re-extract rotated videos with --overwrite.

Decoding (PyAV): one demux pass builds a packet index (presentation-ordered pts, keyframes that decode alone,
edit-list discards, corrupt packets, H.264/HEVC packets whose NAL unit lengths do not fit them) without decoding;
then for each GOP holding wanted frames we seek to its keyframe and decode forward to the last of them, skipping
frames nothing refers to and draining the decoder after the last wanted packet (_frames_after_seek). Every decoded
frame is checked by its pts against the index and for the decoder's damage flag; if the file disagrees with its
index (damaged data, broken timestamps, a seek the demuxer refuses, as in an mp4 cut mid-GOP, or H.264 and HEVC in AVI,
whose timestamps are in decode order) the video is decoded in full instead. Where seeks only land past the keyframe
(MPEG-TS/PS demuxers seek by byte position), the index still holds: the wanted frames are decoded in one pass from
the file start, which is a full decode's up to the last of them (nothing skipped, no frame may be missing), and only
a disagreement there leads to the full decode (which decodes twice). The check covers only the frames that are
decoded. On damaged data that neither demuxer nor decoder flags, a full decode drops or conceals frames in ways this
cannot see: such a frame in a GOP with no wanted frame is never decoded and still counts in n (n is then higher by
one per such frame, and the chosen frames can differ from a full decode's), and a frame concealed after a seek, or
after skipped frames, can differ from a full decode's. Catching that would mean decoding every frame, the cost the
packet index exists to avoid. Frames are scaled in one swscale pass and written by libjpeg-turbo (simplejpeg). One
worker process per core, each with its share of the cores as slice threads (see _open for why not frame threads).

Resuming: a folder is written under a temporary name together with `.record.json` (the source's file name, size and
mtime, the settings, the chosen frames) and renamed into place; the manifest line follows. A re-run skips a folder
only if its record matches the source file as it is now and the settings, and exactly the frame files it lists are
there and non-empty; if a killed run had not appended the manifest line yet, it is restored from the record without
decoding. A folder an older version made (no record) is adopted without decoding when its manifest line vouches for
it (_adopt_legacy_folder). A folder holding anything else than frame files and the record (somebody's files) is
never replaced: its video fails. One run at a time writes an output folder; another waits for it (_output_lock).
Runs whose output folders nest lock different folders, so each temporary folder is held by its writer too: another
run leaves it alone, and that video fails (_take_partial). A worker process that dies (out of memory, a decoder
crash) takes the videos in progress with it: each is retried alone, and only one whose worker dies with it alone
fails, while the rest of the run goes on in parallel (_run_jobs). The workers end with the main process however it
ends, and the next run waits for those of a killed one (_init_worker); SIGTERM stops a run as Ctrl-C does.
failures.jsonl lists the videos that failed in the last run that finished: a video that failed before and succeeds
now is not in it (its manifest line is the record).
"""

import argparse
import codecs
import errno
import fcntl
import hashlib
import json
import logging
import math
import multiprocessing
import os
import re
import shutil
import signal
import stat
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, field, fields, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, get_args, get_origin

import av
import numpy as np
import simplejpeg
from av.video.frame import PictureType
from tqdm import tqdm

VIDEO_SUFFIXES = ('.mp4', '.mkv', '.mov', '.avi', '.webm')
# Other suffixes of video files: a --video_dir search does not take them, and says how many it passed over.
OTHER_VIDEO_SUFFIXES = ('.ts', '.m2ts', '.mts', '.mpg', '.mpeg', '.m4v', '.3gp', '.flv', '.wmv', '.ogv')
MANIFEST_NAME = 'manifest.jsonl'
FAILURES_NAME = 'failures.jsonl'
FAILURES_PARTIAL_NAME = 'failures.jsonl.partial'  # this run's failures until it finishes
RECORD_NAME = '.record.json'  # inside each frame folder: what the frames were made from, and how
RECORD_PARTIAL_NAME = f'{RECORD_NAME}.partial'  # the record while it is written (see _write_record)
LOCK_NAME = '.extract_frames.lock'  # held by the run writing the output folder (see _output_lock)
WORKERS_LOCK_NAME = '.extract_frames.workers.lock'  # held shared by each live worker process (see _init_worker)
BACKENDS = ('pyav', 'decord')
FRAME_NAME = 'frame_{:04d}.jpg'
SHOWN_FAILURES = 3  # failures printed at the end of a run (all are in failures.jsonl)
# Pixels of one Qwen3-VL visual token: 16 px patches merged 2 x 2 (eval_vsi_bench.py records its pixel budget in these).
QWEN3_VL_TOKEN_PIXELS = (16 * 2) ** 2
# qwen-vl-utils' smallest image for Qwen3-VL: 4 visual tokens. Smaller frames are scaled up to it, so a lower
# --max_pixels loses detail and saves nothing: warned about.
QWEN3_VL_MIN_PIXELS = 4 * QWEN3_VL_TOKEN_PIXELS
FRAME_FILE = re.compile(r'frame_\d{4,}\.jpg')  # any name FRAME_NAME gives

PathLike = str | os.PathLike
logger = logging.getLogger(__name__)


@dataclass
class FrameRecord:
    """One extracted video: a line of manifest.jsonl, and the folder's .record.json."""

    video: str  # source path as given
    frames_dir: str  # in manifest.jsonl relative to its folder; read_manifest makes it a full path
    num_frames: int  # frames requested (= files written)
    total_frames: int  # frames the video decodes to
    indices: list[int]  # chosen frame index of each file, frame_0000.jpg first
    timestamps: list[float | None]  # presentation time in seconds of each file's frame (None: no timestamp)
    width: int  # size of the written frames
    height: int
    src_width: int
    src_height: int
    fps: float  # mean frame rate measured from the timestamps (container metadata if there are none)
    max_pixels: int | None
    quality: int
    backend: str
    method: str  # 'index' (seek by packet index), 'index_from_start' (no seeks), 'full_decode' (fallback), 'decord'
    note: str = ''  # why a fallback happened
    seconds: float = 0.0
    # The source file when it was read (None in lines of older versions): with its name they tell a re-run
    # whether the file was replaced or re-encoded since.
    source_size: int | None = None
    source_mtime_ns: int | None = None
    # Degrees counter-clockwise the frames were turned to show them upright (the video's display matrix; 0 in lines
    # of older versions, which wrote frames as stored). src_width/src_height are the source's size turned so.
    rotation: int = 0
    # The frames end well before the length the file declares (_cut_short): a copy or download that did not finish
    # decodes as a shorter video, spreading the frames over the part that survived (False in older lines).
    cut_short: bool = False

    @property
    def frame_paths(self) -> list[Path]:
        return [Path(self.frames_dir) / FRAME_NAME.format(i) for i in range(len(self.indices))]


@dataclass
class ExtractSummary:
    done: int = 0
    skipped: int = 0  # already complete: same source file, same settings, every frame file there
    failed: int = 0
    frames: int = 0  # frames written by this run
    seconds: float = 0.0  # from the moment the run had the output folder (not counting a wait for another run)
    failures: list[dict] = field(default_factory=list)  # {'video': ..., 'reason': ...}
    redone: Counter = field(default_factory=Counter)  # of `done`: folders made again, by why (see _folder_state)
    duplicates: int = 0  # entries naming a video already planned (same file, same folder): extracted once
    manifest_restored: int = 0  # of `skipped`: manifest lines a killed run had not appended, taken from the record
    adopted: int = 0  # of `skipped`: folders of an older version given a record from their manifest line
    temp_removed: int = 0  # temporary folders (.partial, .old) that killed runs left beside the planned folders
    cut_short: int = 0  # of `done`: videos whose frames end well before the length their file declares

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0

    @property
    def videos_per_minute(self) -> float:
        return 60 * self.done / self.seconds if self.seconds else 0.0

    def __str__(self) -> str:
        notes = [f'{count} redone ({why})' for why, count in sorted(self.redone.items())]
        if self.duplicates:
            notes.append(f'{self.duplicates} duplicate entries extracted once')
        if self.manifest_restored:
            notes.append(f'{self.manifest_restored} manifest lines restored')
        if self.adopted:
            notes.append(f'{self.adopted} adopted from an older version')
        if self.temp_removed:
            notes.append(f'{self.temp_removed} temporary folder(s) left by killed runs removed')
        if self.cut_short:
            notes.append(f'{self.cut_short} cut short? (frames end before the length the file declares: see the log)')
        return (
            f'done {self.done}, skipped {self.skipped}, failed {self.failed} in {self.seconds:.1f} s: '
            f'{self.frames_per_second:.1f} frames/s, {self.videos_per_minute:.1f} videos/min'
            + ''.join(f'; {note}' for note in notes)
        )


class VideoDecodeError(RuntimeError):
    """The video cannot be read or yields no frames."""


class _IndexMismatch(Exception):
    """The decoder disagrees with the packet index: the caller falls back to a full decode."""


class _SeekMissed(_IndexMismatch):
    """A seek landed past the keyframe asked for: the demuxer's seeking is off, not (yet) the index, so the caller
    first decodes from the file start without seeking."""


def default_workers() -> int:
    """One worker per core this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count() or 1


def decoder_threads(workers: int) -> int:
    """Decoder threads for each of `workers` processes: their share of the cores, at least one.

    With a worker per core this is one thread: slice threads then only add CPU (measured ~10%).
    """
    return max(1, default_workers() // workers)


def sample_indices(n: int, num_frames: int) -> list[int]:
    """`num_frames` indices spread evenly over `range(n)`, ends included; repeats when n < num_frames.

    Exactly `np.linspace(0, n - 1, num_frames).round()`: numpy rounds halves to even, so
    sample_indices(6, 3) == [0, 2, 5] where Python's int(x + 0.5) would give [0, 3, 5].
    """
    if n < 1 or num_frames < 1:
        raise ValueError(f'need at least one frame to sample from and to take, got n={n}, num_frames={num_frames}')
    return [int(i) for i in np.linspace(0, n - 1, num_frames).round()]


def target_size(width: int, height: int, max_pixels: int | None) -> tuple[int, int]:
    """(width, height) scaled down so that width * height <= max_pixels, aspect kept; never scaled up.

    Both sides are scaled by sqrt(max_pixels / (width * height)) and floored, in integers: floor(width * scale) is
    isqrt(width * max_pixels // height) exactly, where float arithmetic would floor 1151 x 16/1151 to 15. The budget
    always holds, but no side goes below one pixel: where the short side would (e.g. 10000x1 at 100 pixels), it stays
    one pixel and the long side takes the whole budget (100x1), so that shape cannot keep its aspect.
    """
    if not max_pixels or width * height <= max_pixels:
        return width, height
    new_width = max(1, math.isqrt(width * max_pixels // height))
    new_height = max(1, math.isqrt(height * max_pixels // width))
    # The short side's one-pixel floor can overshoot: the long side gives way.
    if new_width >= new_height:
        new_width = min(new_width, max_pixels // new_height)
    else:
        new_height = min(new_height, max_pixels // new_width)
    return new_width, new_height


def frames_dir_for(video_path: PathLike, video_dir: PathLike | None, output_dir: PathLike) -> Path:
    """The folder holding a video's frames: its path relative to `video_dir`, extension dropped.

    `<video_dir>/scannet/scene0011_00.mp4` -> `<output_dir>/scannet/scene0011_00`. Without a `video_dir`
    (a flat list of files) the folder is `<output_dir>/<file stem>`.
    """
    video_path = Path(video_path)
    if video_dir is None:
        return Path(output_dir) / video_path.stem
    absolute, root = Path(os.path.abspath(video_path)), Path(os.path.abspath(video_dir))
    try:
        relative = absolute.relative_to(root)
    except ValueError:
        raise ValueError(
            f'video {video_path} is not under --video_dir {video_dir}; '
            f'give the folder that holds it, or leave --video_dir out to name folders by file stem'
        ) from None
    return Path(output_dir) / relative.with_suffix('')


def cwd_note(path: PathLike) -> str:
    """` (relative paths start at <current folder>)` for a relative path that does not exist, else nothing: run from
    another folder, the path a message repeats looks right, and only the folder it was read from shows the mistake."""
    if os.path.isabs(path) or os.path.exists(path):
        return ''
    return f' (relative paths start at {os.getcwd()})'


def file_problem(path: PathLike) -> str | None:
    """Why `path` is no regular file to read, worded to follow the path; None for a file. `does not exist` alone sent
    users looking for a typo where `ls` shows the name: a link to a disk not mounted, a loop of links, a pipe (bash's
    `<(zcat qa.jsonl.gz)`, which the scripts cannot read twice or seek in) or a device."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        if os.path.islink(path):
            return f'is a link to {os.readlink(path)}, which does not exist (a disk not mounted?)'
        return f'does not exist{cwd_note(path)}'
    except OSError as e:
        return 'is a loop of symbolic links' if e.errno == errno.ELOOP else f'cannot be read ({e.strerror})'
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return 'is a folder, not a file'
    return 'is a pipe or a device, not a regular file: write it to a file first'


def frames_dir_problem(frames_dir: PathLike) -> str | None:
    """The message for a `--frames_dir` that is not a folder (preprocessing and evaluation read frames from it)."""
    if os.path.isdir(frames_dir):
        return None
    return f'--frames_dir {frames_dir} is not a folder{cwd_note(frames_dir)}; run extract_frames.py first'


def find_videos(video_dir: PathLike | None = None, video_list: PathLike | None = None) -> list[Path]:
    """Videos under `video_dir` (recursive, sorted), or the paths in `video_list` (one a line, '#' comments).

    Relative paths in the list are taken from `video_dir` when given, else from the list file's folder. A list line
    that cannot name a video file raises ValueError naming the list and line before anything is extracted: one holding
    a NUL byte (no file name can; it used to stop the run later with `embedded null byte` and no line), or one naming a
    folder (its video would fail as `no such video file`, with a hint about relative paths that does not apply).
    Folder symlinks are followed, as datasets are often assembled from links (Path.rglob on Python 3.11 skips
    them); a link to a folder above itself is not entered again. Every name with a video suffix is returned,
    a broken link included, and an unreadable folder raises: a video fails visibly rather than going missing.
    """
    if video_list is not None:
        video_list = Path(video_list)
        base = Path(video_dir) if video_dir is not None else video_list.parent
        paths = []
        # bytes as the file system names them (a name need not be UTF-8), less the byte order mark Windows editors
        # write first, which would otherwise become part of the first path
        try:
            data = video_list.read_bytes()
        except FileNotFoundError:  # the bare OSError names neither the option nor the folder it was read from
            raise FileNotFoundError(f'--video_list {video_list} does not exist{cwd_note(video_list)}') from None
        except IsADirectoryError:
            raise IsADirectoryError(
                f'--video_list {video_list} is a folder; give a folder of videos as --video_dir'
            ) from None
        text = os.fsdecode(data.removeprefix(codecs.BOM_UTF8))
        # lines as Python's universal newlines reads them (LF, CRLF, CR), not at every separator str.splitlines knows:
        # U+2028 or U+0085 can be part of a file name
        for number, line in enumerate(re.split(r'\r\n|[\r\n]', text), start=1):
            line = line.strip()
            if not line or line.startswith('#'):
                continue
            if '\0' in line:
                raise ValueError(f'{video_list}: line {number}: {line!r} holds a NUL byte, which no file name can')
            path = base / line if not os.path.isabs(line) else Path(line)
            if os.path.isdir(path):  # not Path.is_dir: a name over the length limit fails that video alone, later
                raise ValueError(
                    f'{video_list}: line {number}: {path} is a folder, not a video file; give a folder of videos as '
                    '--video_dir (searched recursively)'
                )
            paths.append(path)
        return paths
    if video_dir is None:
        raise ValueError('give --video_dir or --video_list')
    if not Path(video_dir).is_dir():
        raise FileNotFoundError(f'--video_dir {video_dir} is not a folder{cwd_note(video_dir)}')

    def fail(error: OSError) -> None:
        raise error

    found, others = [], Counter()
    above = {str(video_dir): frozenset()}  # folder -> real paths of the folders it was reached through
    for folder, subfolders, names in os.walk(video_dir, onerror=fail, followlinks=True):
        real, ancestors = os.path.realpath(folder), above.pop(folder)
        if real in ancestors:
            logger.warning('%s links back to %s, a folder above it: not searched again', folder, real)
            subfolders.clear()
            continue
        for sub in subfolders:
            above[os.path.join(folder, sub)] = ancestors | {real}
        found += [Path(folder, name) for name in names if is_video(name)]
        others.update(suffix for name in names if (suffix := os.path.splitext(name)[1].lower()) in OTHER_VIDEO_SUFFIXES)
    if others:
        logger.warning(
            '%d file(s) under %s are videos of other kinds (%s), not searched for: name them in a --video_list to '
            'extract them (decoded from the start where their container cannot seek, as MPEG-TS)',
            sum(others.values()),
            video_dir,
            ', '.join(f'{suffix} {count}' for suffix, count in sorted(others.items())),
        )
    return sorted(found)


def is_video(name: str) -> bool:
    """Whether a file name has one of VIDEO_SUFFIXES (any case)."""
    return os.path.splitext(name)[1].lower() in VIDEO_SUFFIXES


def read_jsonl_log(
    path: PathLike, parse: Callable[[dict], Any], what: str, repair: bool = False, log: logging.Logger = logger
) -> list[tuple]:
    """(line number, parse(row)) for each row of an append-only JSONL file (the frame manifest, the predictions).

    A killed writer can leave a last line without its newline: it is kept if it is a complete row and otherwise
    (not JSON: no part of a one-line object is) ignored with a warning to `log` (the caller's: the evaluator's for its
    predictions). With `repair` the file is then cut back to
    its last complete row, or given the missing newline, so the next append starts a fresh line. Any other line
    that is not a JSON object `parse` accepts (it rejects a row with ValueError, TypeError or KeyError), the last
    one included, raises ValueError naming the file and line.
    """
    path = Path(path)
    if not path.exists():
        return []
    data = path.read_bytes()
    lines = data.split(b'\n')
    rows, keep_bytes = [], len(data)
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            try:
                row = json.loads(line)
            except ValueError:  # JSONDecodeError, UnicodeDecodeError
                if lineno < len(lines):
                    raise
                log.warning('%s: ignoring the cut-off last line (%d bytes), a killed run left it', path, len(line))
                keep_bytes -= len(line)
                continue
            if not isinstance(row, dict):
                raise ValueError(f'expected an object, got {type(row).__name__}')
            rows.append((lineno, parse(row)))
        except (ValueError, TypeError, KeyError, RecursionError) as e:  # RecursionError: JSON nested too deep
            raise ValueError(f'{path}:{lineno}: not {what} ({e}); fix or delete the line') from None
    if repair and keep_bytes < len(data):
        os.truncate(path, keep_bytes)
    elif repair and data and not data.endswith(b'\n'):  # a complete last row that lost only its newline
        with open(path, 'ab') as f:
            f.write(b'\n')
    return rows


def _frame_record(row: Any) -> FrameRecord:
    """A FrameRecord from a JSON row, ignoring keys it does not know (rows written by newer versions).

    Raises TypeError unless `row` is an object with every required key and each known key holding its field's
    type: a record decides that a folder is not decoded again, so a damaged one must be refused here, where the
    callers expect it, and not crash whatever reads the value later.
    """
    if not isinstance(row, dict):
        raise TypeError(f'expected an object, got {type(row).__name__}')
    values = {}
    for name, (fits, type_name) in _FIELD_TYPES.items():
        if name in row:
            if not fits(row[name]):
                raise TypeError(f'{name} should be {type_name}, got {row[name]!r:.80}')
            values[name] = row[name]
    return FrameRecord(**values)  # a required key missing: TypeError


def _type_check(hint: Any) -> Callable[[Any], bool]:
    """A test that a JSON value has the type `hint` (str, int, float, list[...], X | None) of a FrameRecord field."""
    if get_origin(hint) is list:
        fits_item = _type_check(get_args(hint)[0])
        return lambda value: isinstance(value, list) and all(map(fits_item, value))
    kinds = []
    for kind in get_args(hint) or (hint,):  # the options of a union (int | None), or the one type
        kinds += [int, float] if kind is float else [kind]  # a JSON number may be written without a fraction
    kinds = tuple(kinds)
    if bool in kinds:
        return lambda value: isinstance(value, kinds)
    # a JSON true/false is no number (bool is an int to Python)
    return lambda value: isinstance(value, kinds) and not isinstance(value, bool)


# Built once: a manifest can hold a line per video of a large dataset.
_FIELD_TYPES = {
    f.name: (_type_check(f.type), f.type.__name__ if isinstance(f.type, type) else str(f.type))
    for f in fields(FrameRecord)
}


def read_manifest(output_dir: PathLike, repair: bool = False) -> dict[str, FrameRecord]:
    """The manifest of `output_dir` as {frames folder relative to output_dir (posix): FrameRecord}.

    The latest line for a folder wins (a re-extraction appends a new line). `frames_dir` of each record is
    returned as a full path. A last line cut off mid-write is handled as read_jsonl_log says.
    """
    rows = read_jsonl_log(Path(output_dir) / MANIFEST_NAME, _frame_record, 'a frame record', repair)
    return {
        Path(record.frames_dir).as_posix(): replace(record, frames_dir=str(Path(output_dir) / record.frames_dir))
        for _, record in rows
    }


# ---------------------------------------------------------------- decoding with PyAV
#
# A decoder returns {'n', 'wanted', 'times', 'fps', 'method', 'note', 'cut_short'} and hands each wanted frame to
# `save(slots, rgb, src_width, src_height, rotation)`, slots being the output file numbers that show it (several
# when a short video repeats frames).


@dataclass
class _PacketIndex:
    """The frames a decode yields, in presentation order, with where to seek for each (from packets only)."""

    pts: list  # pts of each shown frame
    gop: list  # per frame: number of the keyframe it is decoded from (in presentation order), -1 if none
    key_pts: list  # per frame: pts of that keyframe (None if none)
    seek_ts: list  # per frame: timestamp to seek to (the keyframe's dts; the file start if no keyframe)
    end: int | None = None  # when the last frame stops showing: its pts plus its packet's duration (None: not stated)


def _nal_length_size(stream: av.video.stream.VideoStream) -> int | None:
    """Bytes of the length before each NAL unit in the packets of an H.264 or HEVC stream stored as mp4, mov and mkv
    store it (its avcC / hvcC extradata says how many); None for other codecs and for start-code (Annex B) streams."""
    name, extra = stream.codec_context.name, bytes(stream.codec_context.extradata or b'')
    if extra[:1] != b'\x01':  # configuration version 1; Annex B extradata starts with a start code
        return None
    if name == 'h264' and len(extra) > 4:
        return (extra[4] & 3) + 1
    if name == 'hevc' and len(extra) > 21:
        return (extra[21] & 3) + 1
    return None


# Bytes of a start-code (Annex B) H.264 packet searched for its slices: past the parameter sets and SEI before them
SLICE_SEARCH_BYTES = 4096
# Codecs whose packets FFmpeg's AVI demuxer times in decode order, as no parser reads display times from the stream
# (measured for H.264; HEVC, which FFmpeg cannot write into AVI to measure, is taken to be the same)
DECODE_ORDER_IN_AVI = frozenset({'h264', 'hevc'})


def _nal_problem(data: memoryview, size: int) -> str | None:
    """Why the packet `data` is not a row of whole NAL units, each after its `size`-byte length; None if it is.

    A damaged length drops the frame in a full decode without any flag, while the packet index counts it: n, and so
    the frames chosen, would be off by one (found by an audit: 20 of 21 such h264 cases). Lengths only, no decoding:
    microseconds a packet."""
    i, end = 0, len(data)
    while i < end:
        length = int.from_bytes(data[i : i + size], 'big')
        i += size
        if length == 0 or i + length > end:
            return f'NAL unit length {length} at byte {i - size} does not fit the packet ({end} bytes)'
        if data[i] & 0x80:
            return f'NAL unit at byte {i - size} has its forbidden bit set'
        i += length
    return None


def _h264_slice_types(data: memoryview, nal_size: int | None) -> Iterator[tuple[int, int | None]]:
    """(nal_unit_type, slice_type or None) of each slice in an H.264 packet: length-prefixed NAL units (`nal_size`
    bytes each, as mp4 and mkv store them) or, with None, start-code separated ones (Annex B: AVI, MPEG-TS). Only the
    first bytes of each NAL unit are read."""
    if nal_size:
        units, i = [], 0
        while i + nal_size < len(data):
            length = int.from_bytes(data[i : i + nal_size], 'big')
            units.append(data[i + nal_size : i + nal_size + min(length, 16)])
            i += nal_size + length
    else:  # the units that start in the first SLICE_SEARCH_BYTES, with the 16 bytes read of each
        head, units = bytes(data[: SLICE_SEARCH_BYTES + 19]), []
        start = head.find(b'\x00\x00\x01')
        while 0 <= start < SLICE_SEARCH_BYTES:
            end = head.find(b'\x00\x00\x01', start + 3)
            units.append(head[start + 3 : end if end >= 0 else len(head)][:16])
            start = end
    for unit in units:
        nal_type = unit[0] & 0x1F if len(unit) else 0
        if nal_type in (1, 5):
            yield nal_type, _slice_type(bytes(unit[1:]).replace(b'\x00\x00\x03', b'\x00\x00'))


def _slice_type(rbsp: bytes) -> int | None:
    """The slice_type of a slice header (after first_mb_in_slice, both Exp-Golomb coded), or None if cut short."""
    bits = ''.join(f'{byte:08b}' for byte in rbsp)
    values, i = [], 0
    while len(values) < 2:
        zeros = bits.find('1', i) - i
        if zeros < 0 or i + 2 * zeros + 1 > len(bits):
            return None
        values.append(int(bits[i + zeros : i + 2 * zeros + 1], 2) - 1)
        i += 2 * zeros + 1
    return values[1]


def _h264_starts_clean(data: memoryview, nal_size: int | None) -> bool:
    """Whether an H.264 packet the container marks as a keyframe decodes alone: an IDR picture (its second field may
    be predicted from its first), or I slices only (an open GOP's recovery point). x264's intra refresh marks the P
    picture that starts each refresh wave as a keyframe: decoded from there, FFmpeg showed frames before the wave had
    cleaned them, without flagging them. A packet whose slices are not found in its first bytes is taken as the
    container marks it."""
    types = list(_h264_slice_types(data, nal_size))
    intra = all(slice_type is not None and slice_type % 5 in (2, 4) for _, slice_type in types)
    return not types or intra or any(nal_type == 5 for nal_type, _ in types)


def _packet_index(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> _PacketIndex:
    codec = stream.codec_context
    if container.format.name == 'avi' and codec.name in DECODE_ORDER_IN_AVI:  # before the demux pass it would waste
        # AVI stores no presentation times: FFmpeg numbers these codecs' packets in decode order, which with B-frames is
        # not the order frames are shown in (whether a stream has them is not known before decoding), and skipping
        # non-reference frames would hide that from the checks below. (For MPEG-4 Part 2 and MPEG-2 its parsers read
        # the times from the stream: B-frames there show as pts out of order, and the index holds.)
        raise _IndexMismatch(f'AVI gives {codec.name} packets decode-order timestamps')
    packets = []
    nal_size = _nal_length_size(stream)
    for packet in container.demux(stream):
        if packet.size == 0:  # the flush packet PyAV adds at the end
            continue
        if packet.pts is None:
            raise _IndexMismatch('packets without pts')
        if packet.is_corrupt:  # e.g. cut off by a truncated file: may not decode, and skipped frames go unchecked
            raise _IndexMismatch(f'packet at pts {packet.pts} is marked corrupt')
        problem = nal_size and _nal_problem(memoryview(packet), nal_size)
        if problem:  # damage the demuxer does not flag
            raise _IndexMismatch(f'packet at pts {packet.pts}: {problem}')
        is_key = packet.is_keyframe and (codec.name != 'h264' or _h264_starts_clean(memoryview(packet), nal_size))
        packets.append((packet.pts, packet.dts, is_key, packet.is_discard, packet.duration))
    if not packets:
        raise VideoDecodeError('no video packets')
    # B-frames: packets come in decode order, frames leave the decoder in pts order
    packets.sort(key=lambda p: p[0])
    if len({p[0] for p in packets}) != len(packets):
        raise _IndexMismatch('duplicate pts')
    index = _PacketIndex([], [], [], [])
    gop, key_pts, last_duration = -1, None, None
    seek_ts = min(p[1] if p[1] is not None else p[0] for p in packets)
    for pts, _, is_key, is_discard, duration in packets:
        if is_key:
            gop, key_pts = gop + 1, pts
            # seek by the key's pts: with B-frames its dts is earlier and mp4 seeks then land a GOP too early
            seek_ts = pts
        if not is_discard:  # frames an edit list hides: the decoder drops them, so they are not counted
            index.pts.append(pts)
            index.gop.append(gop)
            index.key_pts.append(key_pts)
            index.seek_ts.append(seek_ts)
            last_duration = duration
    if not index.pts:
        raise VideoDecodeError('the edit list hides every frame')
    index.end = index.pts[-1] + last_duration if last_duration else None
    return index


def _open(path: PathLike, threads: int) -> tuple:
    container = av.open(str(path))
    # FFmpeg's image demuxers (png_pipe, jpeg_pipe, ..., image2) open a photo as a one-frame video: a renamed
    # image would give num_frames copies of itself
    demuxer = container.format.name
    still = demuxer.endswith('_pipe') or demuxer == 'image2'
    stream = _video_stream(container)
    if still or stream is None:
        container.close()
        raise VideoDecodeError(f'is a still image, not a video ({demuxer})' if still else 'no video stream')
    # Slice threads only. Measured here (2 cores, a process per core, 640x480 GOP 30): frame threads refill
    # their pipeline after every seek and made extraction ~25% slower; they also drop damaged frames silently,
    # where slice threads raise, so the fallback counts the frames a plain decode yields.
    stream.codec_context.thread_type = 'SLICE'
    stream.codec_context.thread_count = threads
    return container, stream


def _video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream | None:
    """The first video stream that is not a picture attached to the file: FFmpeg lists cover art (of an mp4, an
    mkv, an mp3) as a one-frame video stream, the only one of a recording without video."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    return None


# Codecs whose "non-reference" frames no frame predicts from, so skipping them (skip_frame NONREF) is exact.
# Not HEVC: FFmpeg skips its sub-layer non-reference pictures, which higher temporal layers may predict from.
_SKIP_NONREF_CODECS = frozenset({'h264', 'mpeg1video', 'mpeg2video', 'mpeg4', 'vp8', 'vp9'})


def _skips_nonref(stream, seeking: bool) -> bool:
    """Whether _frames_after_seek skips the frames nothing predicts from (then decoded frames may leave gaps). Not
    without seeks: that one pass from the start is then a full decode's, up to the last wanted frame, so a frame the
    decoder drops shows as a gap, and concealment of damaged data, which skipping changes, is the full decode's too."""
    return seeking and stream.codec_context.name in _SKIP_NONREF_CODECS


def _frames_after_seek(container, stream, seek_ts: int | None, key_pts: int | None, wanted_pts: set) -> Iterator:
    """Every frame the decoder yields from the keyframe at `seek_ts` on (from where the demuxer is when None: a freshly
    opened file's start), decoding only what `wanted_pts` need.

    Two savings, exact on intact data (the frames compare equal to a full decode in tests/test_extract_frames.py):
    frames no other frame predicts from (non-reference B-frames of the codecs in _SKIP_NONREF_CODECS) are
    skipped unless wanted (only after a seek: _skips_nonref), and then, once the last wanted packet is in, the
    decoder is drained rather than fed the packets its reordering delay would wait for. Measured on 640x480 GOP 30
    with 2 B-frames: 10% fewer packets and ~20% less decoding CPU. The drained decoder takes no more packets: the
    caller seeks again (which resets it) for the next GOP. Without skipping, every frame up to the last wanted one
    comes out, so the caller can tell a frame the decoder dropped.
    """
    codec, unsent = stream.codec_context, set(wanted_pts)
    skip = 'NONREF' if _skips_nonref(stream, seek_ts is not None) else 'DEFAULT'
    try:
        if seek_ts is not None:
            container.seek(seek_ts, stream=stream, backward=True)
    except av.FFmpegError as e:  # e.g. mp4 cut mid-GOP (a stream copy): no keyframe before its first frames
        raise _IndexMismatch(f'cannot seek to {seek_ts} ({e})') from e
    first = True
    for packet in container.demux(stream):
        if first and packet.size:
            # landing on a non-key packet or after the keyframe would decode from missing references
            if key_pts is not None and (not packet.is_keyframe or packet.pts is None or packet.pts > key_pts):
                raise _SeekMissed(f'seek to {seek_ts} did not land on the keyframe at pts {key_pts} or before')
            first = False
        codec.skip_frame = 'DEFAULT' if packet.pts in unsent or packet.pts == key_pts else skip
        unsent.discard(packet.pts)
        try:
            for frame in _intact(packet.decode(), key_pts):
                # containers can call every packet a keyframe (an mp4 without its sync-sample table, an AVI without its
                # index): MPEG-4 Part 2 and MS-MPEG4 decode a P picture after a seek from a grey reference, flagging
                # nothing (a keyframe an edit list hides is not shown, so not checked)
                if frame.pts == key_pts and not (frame.key_frame or frame.pict_type == PictureType.I):
                    raise _SeekMissed(f'the keyframe at pts {key_pts} decodes as no keyframe')
                yield frame
            # the last wanted packet in decode order (with B-frames not the last shown): frames shown before it but sent
            # after it are not sent at all, gaps that only skipping may leave
            if not unsent and skip == 'NONREF':
                yield from _intact(codec.decode(None), key_pts)
                return
        except av.FFmpegError as e:
            raise _IndexMismatch(f'packet at pts {packet.pts} does not decode ({e})') from e


def _intact(frames: Iterable[av.VideoFrame], key_pts: int | None) -> Iterator[av.VideoFrame]:
    """`frames`, unless the decoder flags one of those from the keyframe on as damaged: _IndexMismatch then.

    A damaged keyframe decoded right after a seek is concealed from nothing, and the frames predicted from it
    inherit that; a sequential decode conceals it from the frame before (and flags nothing). Open-GOP frames shown
    before the keyframe miss their references after a seek, are flagged, and are not the ones wanted from it.
    """
    for frame in frames:
        if frame.is_corrupt and (key_pts is None or frame.pts is None or frame.pts >= key_pts):
            raise _IndexMismatch(f'the frame at pts {frame.pts} decodes with errors')
        yield frame


def _slots(wanted: list) -> dict:
    slots = {}
    for slot, pos in enumerate(wanted):
        slots.setdefault(pos, []).append(slot)
    return slots


def _decode_by_index(path: PathLike, num_frames: int, on_frame: Callable, threads: int, seek: bool = True) -> dict:
    """Decode only what the wanted frames need, checking every decoded frame's pts against the index: from the
    keyframe before each GOP's wanted frames, or without `seek` in one run from the file start."""
    container, stream = _open(path, threads)
    with container:
        index = _packet_index(container, stream)
        if seek:
            return _decode_runs(container, stream, index, num_frames, on_frame, seek)
    container, stream = _open(path, threads)  # the index pass left the demuxer at the end
    with container:
        return _decode_runs(container, stream, index, num_frames, on_frame, seek)


def _decode_runs(container, stream, index: _PacketIndex, num_frames: int, on_frame: Callable, seek: bool) -> dict:
    """Hand the wanted frames to on_frame, decoded in runs (one per GOP holding some, or one run without `seek`), and
    return the decoder's result; _IndexMismatch as soon as a decoded frame is not the one the index says comes."""
    n = len(index.pts)
    wanted = sample_indices(n, num_frames)
    slots = _slots(wanted)
    position = {pts: i for i, pts in enumerate(index.pts)}
    runs = {}  # keyframe number -> the wanted frames decoded from it, in order
    for target in sorted(slots):
        runs.setdefault(index.gop[target] if seek else None, []).append(target)
    gaps = _skips_nonref(stream, seek)
    for targets in runs.values():
        first = targets[0]
        wanted_pts = {index.pts[t] for t in targets}
        seek_ts, key_pts = (index.seek_ts[first], index.key_pts[first]) if seek else (None, None)
        frames = _frames_after_seek(container, stream, seek_ts, key_pts, wanted_pts)
        # Positions must rise and no wanted frame may be passed; only skipped frames may leave gaps. A seek may land
        # anywhere before the wanted frames; from the start, frame 0 comes first.
        last = None if seek else -1
        for frame in frames:
            pos = position.get(frame.pts)
            if pos is None:
                raise _IndexMismatch(f'decoded a frame with pts {frame.pts}, which no packet has')
            if last is not None and pos <= last:
                raise _IndexMismatch(f'frame {last} was followed by frame {pos}')
            if last is not None and pos > last + 1 and not gaps:  # dropped by the decoder, which flagged nothing
                raise _IndexMismatch(f'frame {last + 1} never decoded (frame {pos} came after frame {last})')
            last = pos
            if pos > targets[0]:
                raise _IndexMismatch(f'frame {targets[0]} never decoded (frame {pos} came instead)')
            if pos == targets[0]:
                on_frame(slots[pos], frame)
                targets = targets[1:]
                if not targets:
                    break
        else:
            raise _IndexMismatch(f'the stream ended before frame {targets[0]} of {n}')
    time_base = float(stream.time_base)
    times = [pts * time_base for pts in index.pts]
    end = index.end * time_base if index.end is not None else None
    fps = _mean_fps(times, stream)
    return {'n': n, 'wanted': wanted, 'times': times, 'fps': fps, 'declared': _declared(container), 'end': end}


def _decode_all(path: PathLike, threads: int) -> Iterator[av.VideoFrame]:
    """Every frame a sequential decode yields, skipping damaged packets as ffmpeg does."""
    container, stream = _open(path, threads)
    with container:
        packets = container.demux(stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                break
            except av.FFmpegError:  # the rest of the file is unreadable: drain what the decoder holds
                yield from stream.codec_context.decode(None)
                break
            try:
                decoded = packet.decode()
            except av.FFmpegError:
                continue
            yield from decoded


def _decode_full(path: PathLike, num_frames: int, on_frame: Callable, threads: int) -> dict:
    """The fallback: count the frames by decoding them all, then decode again and keep the wanted ones."""
    times, last = [], None
    for last in _decode_all(path, threads):
        times.append(last.time)
    if not times:
        raise VideoDecodeError('no frame decodes')
    shown = last.time is not None and last.duration and last.time_base
    end = last.time + float(last.duration * last.time_base) if shown else None
    wanted = sample_indices(len(times), num_frames)
    slots = _slots(wanted)
    for pos, frame in enumerate(_decode_all(path, threads)):
        if pos in slots:
            on_frame(slots[pos], frame)
            if pos == wanted[-1]:
                break
    with av.open(str(path)) as container:
        fps = _mean_fps(times, _video_stream(container))
        declared = _declared(container)
    return {'n': len(times), 'wanted': wanted, 'times': times, 'fps': fps, 'declared': declared, 'end': end}


# Containers whose header states the video's length (FFmpeg's names); others' (MPEG-TS, MPEG-PS) is estimated from
# timestamps or the bit rate, and a file joined from two would seem cut short.
DECLARED_LENGTH_FORMATS = frozenset({'mov', 'mp4', 'matroska', 'webm', 'avi'})


def _declared(container: av.container.InputContainer) -> float | None:
    """Seconds from 0 at which the file's header says its video ends: the video stream's start plus duration (mp4,
    mov); its frame count over its rate (AVI, whose duration FFmpeg estimates from the bit rate once the index at the
    end of the file is gone); the video track's DURATION tag (Matroska and WebM muxers write it per track, in the
    header, so it survives a cut; the Segment's duration covers an audio track that runs longer), else the
    container's; None where none is set or the format states none (DECLARED_LENGTH_FORMATS)."""
    names = container.format.name.split(',')
    if DECLARED_LENGTH_FORMATS.isdisjoint(names):
        return None
    stream = _video_stream(container)
    if stream is not None and 'avi' in names:
        rate = stream.average_rate or stream.guessed_rate
        return float(stream.frames / rate) if stream.frames and rate else None
    if stream is not None and 'matroska' in names:
        # FFmpeg's muxer names it DURATION; mkvmerge's files read as DURATION-eng (the track's language)
        text = next((v for k, v in stream.metadata.items() if k.upper().split('-')[0] == 'DURATION'), '')
        tag = re.fullmatch(r'(\d+):(\d\d):(\d\d(?:\.\d+)?)', text.strip())
        if tag:
            return int(tag[1]) * 3600 + int(tag[2]) * 60 + float(tag[3])
    if stream is not None and stream.duration and stream.time_base:
        return float(((stream.start_time or 0) + stream.duration) * stream.time_base)
    return container.duration / av.time_base if container.duration else None


# How far the frames may end before the declared length (_cut_short): the larger of these seconds and this fraction
# of it, for the leeway containers give (an audio track a little longer, an edit list).
CUT_SHORT_SECONDS, CUT_SHORT_FRACTION = 1.0, 0.05


def _cut_short(times: list, fps: float, declared: float | None, end: float | None) -> str:
    """A note when the decoded frames (presentation `times`, `fps` their mean rate) end well before the `declared`
    length: the header of a file cut short (a copy or download that did not finish) still gives the whole video's
    length, and its frames decode as a shorter video; else ''. The frames end at `end` (the last one's time plus its
    duration: a screen recording may hold its last frame for seconds), else one frame's time after the last."""
    known = [t for t in times if t is not None]
    if declared is None or len(known) < 2:
        return ''
    if end is None:  # declared lengths count from 0, not from the first frame
        end = max(known) + (1 / fps if fps else 0.0)
    if declared - end <= max(CUT_SHORT_SECONDS, CUT_SHORT_FRACTION * declared):
        return ''
    return f'frames end at {end:.1f} s of the {declared:.1f} s the file declares: cut short (an unfinished copy)?'


def _mean_fps(times: list, stream: av.video.stream.VideoStream) -> float:
    known = [t for t in times if t is not None]
    if len(known) > 1 and known[-1] > known[0]:
        return (len(known) - 1) / (known[-1] - known[0])
    rate = stream.average_rate or stream.guessed_rate
    return float(rate) if rate else 0.0


def quarter_turns(rotation: float) -> int:
    """Quarter turns counter-clockwise (np.rot90's k) that show a frame upright, from FFmpeg's display-matrix rotation
    in degrees (PyAV's frame.rotation: -90 for a phone video held upright, shown turned 90 degrees clockwise)."""
    return round(rotation / 90) % 4


def _pyav_frames(path: Path, num_frames: int, max_pixels: int | None, save: Callable, threads: int) -> dict:
    def on_frame(slots, frame):
        # Frames are turned as their display matrix says (a phone video's rotation), as players, ffmpeg and decord
        # (which the official VSI-Bench evaluation reads videos with) show them; the budget applies to the turned size.
        turns = quarter_turns(frame.rotation)
        src = (frame.height, frame.width) if turns % 2 else (frame.width, frame.height)
        shown = target_size(*src, max_pixels)
        size = shown[::-1] if turns % 2 else shown  # scaled before turning
        # One swscale pass converts colour and scales. Measured with PyAV 18: frame.to_image costs 7x more,
        # and naming an interpolation at the same size leaves swscale's fast yuv->rgb path (6x slower).
        if size == (frame.width, frame.height):
            rgb = frame.to_ndarray(format='rgb24')
        else:
            rgb = frame.to_ndarray(width=size[0], height=size[1], format='rgb24', interpolation='AREA')
        if turns:
            rgb = np.ascontiguousarray(np.rot90(rgb, turns))
        save(slots, rgb, *src, turns * 90)

    try:
        try:
            result = {**_decode_by_index(path, num_frames, on_frame, threads), 'method': 'index', 'note': ''}
        except _SeekMissed as e:  # MPEG-TS/PS demuxers seek by byte position: decode from the start instead
            note = f'seeks land past the keyframe ({e}): decoded from the start, by packet index'
            result = _decode_by_index(path, num_frames, on_frame, threads, seek=False)
            result = {**result, 'method': 'index_from_start', 'note': note}
    except _IndexMismatch as e:  # either way
        note = f'packet index disagreed with the decoder ({e}): decoded in full'
        result = {**_decode_full(path, num_frames, on_frame, threads), 'method': 'full_decode', 'note': note}
    cut_short = _cut_short(result['times'], result['fps'], result.pop('declared'), result.pop('end'))
    return {**result, 'cut_short': cut_short}


def _decord_frames(path: Path, num_frames: int, max_pixels: int | None, save: Callable, threads: int) -> dict:
    import decord  # optional, for comparison only

    container, stream = _open(path, threads)  # for the size, and to refuse what _open refuses
    with container:
        src_width, src_height = stream.codec_context.width, stream.codec_context.height
        # decord turns frames as their display matrix says and sizes the turned frame
        first = next(container.decode(stream), None)
        turns = quarter_turns(first.rotation) if first is not None else 0
    if turns % 2:
        src_width, src_height = src_height, src_width
    width, height = target_size(src_width, src_height, max_pixels)
    reader = decord.VideoReader(str(path), ctx=decord.cpu(0), width=width, height=height, num_threads=threads)
    n = len(reader)
    wanted = sample_indices(n, num_frames)
    slots = _slots(wanted)
    unique = sorted(slots)
    times = [None] * n
    for pos, rgb, stamp in zip(
        unique, reader.get_batch(unique).asnumpy(), reader.get_frame_timestamp(unique), strict=True
    ):
        times[pos] = float(stamp[0])
        save(slots[pos], rgb, src_width, src_height, turns * 90)
    return {
        'n': n,
        'wanted': wanted,
        'times': times,
        'fps': float(reader.get_avg_fps()),
        'method': 'decord',
        'note': '',
        'cut_short': '',
    }


# ---------------------------------------------------------------- one video, many videos


def extract_video(
    path: PathLike,
    out_dir: PathLike,
    num_frames: int,
    max_pixels: int | None = None,
    quality: int = 95,
    backend: str = 'pyav',
    threads: int = 0,
) -> FrameRecord:
    """Write `num_frames` sampled frames of `path` as `out_dir/frame_0000.jpg ...` and describe them.

    The frames and their record (.record.json, the returned FrameRecord) go to a hidden sibling folder first,
    which replaces `out_dir` only once every file is written, so a folder in place is always whole and says what
    it was made from. `threads`: decoder threads (0: one per core; extract_all gives each worker its share of
    the cores). Raises VideoDecodeError, av.FFmpegError or OSError when the video cannot be read, and OSError
    (FileExistsError) rather than replace a file, or a folder holding files this function does not write.
    """
    if backend not in BACKENDS:
        raise ValueError(f'backend must be one of {BACKENDS}, got {backend!r}')
    started = time.perf_counter()
    path, out_dir = Path(path), Path(out_dir)
    try:
        os.lstat(path)  # a name too long for the file system raises here, saying so
    except (FileNotFoundError, NotADirectoryError):
        raise FileNotFoundError(f'no such video file: {path}') from None
    problem = file_problem(path)
    if problem:
        raise OSError(f'video file {path} {problem}')
    source = path.stat()  # before reading: a file replaced during the decode then fails the next run's check
    if out_dir.exists() and not out_dir.is_dir():  # replacing it would delete somebody's file
        raise FileExistsError(f'{out_dir} exists and is not a folder: move it away to extract {path.name}')
    if out_dir.is_symlink() and not out_dir.exists():  # frames moved to a disk that is not there now
        raise FileNotFoundError(
            f'{out_dir} is a link to {os.readlink(out_dir)}, which does not exist (a disk not mounted?): mount it, or '
            f'remove the link to extract {path.name} anew'
        )
    foreign = _foreign_names(os.listdir(out_dir)) if out_dir.is_dir() else []
    if foreign:  # somebody's files (or --output_dir is a folder of other things): replacing the folder deletes them
        shown = ', '.join(foreign[:2]) + (f' and {len(foreign) - 2} more' if len(foreign) > 2 else '')
        raise FileExistsError(
            f'{out_dir} holds files extract_frames did not write ({shown}), and the frames of {path.name} replace '
            f'the whole folder: move them away, or choose another --output_dir'
        )
    partial, _ = _temp_dirs(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    name_max = os.pathconf(out_dir.parent, 'PC_NAME_MAX')
    if len(os.fsencode(partial.name)) > name_max:  # a legal video name can be too long once the temp name adds to it
        extra = len(partial.name) - len(out_dir.name)
        raise OSError(
            f'file name too long: the frames pass through a temporary folder named .<name>.partial, over the limit '
            f'of {name_max} bytes of this file system; rename the video so that the part before its extension has '
            f'at most {name_max - extra} bytes'
        )
    held = _take_partial(partial)
    sizes, shown = {}, {}  # the first frame's sizes (the record's); every size written, in order

    def save(slots, rgb, src_width, src_height, rotation):
        data = encode_jpeg(rgb, quality)
        for slot in slots:
            (partial / FRAME_NAME.format(slot)).write_bytes(data)
        if not sizes:
            sizes.update(
                width=rgb.shape[1], height=rgb.shape[0], src_width=src_width, src_height=src_height, rotation=rotation
            )
        shown[f'{rgb.shape[1]}x{rgb.shape[0]}'] = None

    try:
        decode = _pyav_frames if backend == 'pyav' else _decord_frames
        result = decode(path, num_frames, max_pixels, save, threads)
        wanted, times = result['wanted'], result['times']
        notes = [note for note in (result['note'], result['cut_short']) if note]
        if len(shown) > 1:  # a stream that changes resolution: each frame is written at its own size
            notes.append(
                f'frames differ in size ({", ".join(shown)}): the video changes resolution; width and height '
                "are the first frame's"
            )
        record = FrameRecord(
            video=str(path),
            frames_dir=str(out_dir),
            num_frames=num_frames,
            total_frames=result['n'],
            indices=wanted,
            timestamps=[None if times[i] is None else round(times[i], 6) for i in wanted],
            fps=round(result['fps'], 6),
            max_pixels=max_pixels,
            quality=quality,
            backend=backend,
            method=result['method'],
            note='; '.join(notes),
            cut_short=bool(result['cut_short']),
            seconds=round(time.perf_counter() - started, 4),
            source_size=source.st_size,
            source_mtime_ns=source.st_mtime_ns,
            **sizes,
        )
        _write_record(partial, record)
        _replace_dir(partial, out_dir)
    except BaseException:
        if _is_at(partial, held):  # not once renamed into place: another run's may be there by now
            shutil.rmtree(partial, ignore_errors=True)
        raise
    finally:
        os.close(held)
    return record


def _take_partial(partial: Path) -> int:
    """Make the temporary folder `partial` and return a descriptor holding an flock on it, to close once the frames
    are in place (the kernel drops it when the process ends, however it ends).

    A run locks only its own --output_dir, so two runs whose output folders nest (`frames` and `frames/scannet`) can
    make the same frame folder at once: without this, each removed the other's half-written folder and wrote on into
    it, leaving folders in place with frames missing or of two sizes. One left by a dead writer (held by nobody) is
    removed first; one being written now is left to its writer: FileExistsError, and the video fails alone. flock is
    per machine on network file systems (runs on two machines are not kept apart), and where a file system refuses to
    lock a folder nothing is held (_lock_folder)."""
    busy = FileExistsError(f'{partial} is being written by another run right now: run again once it ends')
    if not _remove_unheld(partial):
        raise busy
    try:
        partial.mkdir()
        held = os.open(partial, os.O_RDONLY | os.O_DIRECTORY)
    except (FileExistsError, FileNotFoundError):  # made, or cleared, by another run meanwhile
        raise busy from None
    try:
        _lock_folder(held)
        if not _is_at(partial, held):  # removed (and made again) by another run meanwhile
            raise BlockingIOError
    except BaseException as e:
        os.close(held)
        if isinstance(e, BlockingIOError):
            raise busy from None
        raise
    return held


def _lock_folder(fd: int) -> None:
    """flock the folder `fd` without waiting: BlockingIOError when another process holds it; nothing where the file
    system refuses to lock folders (ENOSYS, EOPNOTSUPP, ENOLCK: Lustre mounted without flock, say)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise
    except OSError as e:
        logger.debug('cannot lock a folder here (%s): temporary folders are not held', e)


def _is_at(path: Path, fd: int) -> bool:
    """Whether the folder at `path` is the one `fd` is open on (not one made in its place since)."""
    try:
        here, held = os.lstat(path), os.fstat(fd)
    except FileNotFoundError:
        return False
    return (here.st_dev, here.st_ino) == (held.st_dev, held.st_ino)


def _remove_unheld(temp: Path) -> bool:
    """Remove the temporary folder `temp` (or a link or file in its place) unless a writer holds it (_take_partial):
    False then. Removed while this holds it, so no writer can take it half removed; False too if what this locked is
    no longer at `temp` (another run removed it and made its own, which it holds)."""
    try:
        fd = os.open(temp, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return True
    except OSError as e:
        if e.errno not in (errno.ELOOP, errno.ENOTDIR):  # out of descriptors, no permission: not ours to guess
            raise
        temp.unlink(missing_ok=True)  # a link or a file in its place: no writer of ours holds it
        return True
    try:
        _lock_folder(fd)
        if not _is_at(temp, fd):
            return not os.path.lexists(temp)
        _remove(temp)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def encode_jpeg(rgb: np.ndarray, quality: int) -> bytes:
    """JPEG file bytes of an RGB array (any strides), chroma 4:2:0 as Pillow's default.

    libjpeg-turbo straight from the array: measured 1.8x faster per 640x480 frame than
    `Image.fromarray(rgb).save(...)`, which first copies the pixels into Pillow's 4-byte layout.
    """
    return simplejpeg.encode_jpeg(rgb, quality=quality, colorspace='RGB', colorsubsampling='420')


def _temp_dirs(out_dir: Path) -> tuple[Path, Path]:
    """The hidden siblings a frame folder passes through: the new one being written, the old one being replaced."""
    return out_dir.parent / f'.{out_dir.name}.partial', out_dir.parent / f'.{out_dir.name}.old'


# What _temp_dirs names look like: a run that plans the frame folder `a` removes `.a.partial` and `.a.old`
TEMP_DIR_NAME = re.compile(r'\.(.+)\.(?:partial|old)')


def _foreign_names(names: Iterable[str]) -> list[str]:
    """Those of `names` (a frame folder's files) that extract_video does not write there, sorted."""
    own = (RECORD_NAME, RECORD_PARTIAL_NAME)
    return sorted(name for name in names if not FRAME_FILE.fullmatch(name) and name not in own)


def _replace_dir(new: Path, dest: Path) -> None:
    """Move the finished folder into place; an old one is moved aside first, so dest is never half-written.

    A `dest` that is a link to a folder (frames moved to another disk and linked back) is replaced by the new
    folder; what the link pointed to is left as it was."""
    _, old = _temp_dirs(dest)
    _remove(old)
    if dest.exists() or dest.is_symlink():
        os.replace(dest, old)
    os.replace(new, dest)
    _remove(old)


def _remove(path: Path) -> None:
    """Remove a folder of ours, or only the link if it is one (rmtree refuses links; the folder named is not ours);
    nothing if there is neither. Another run may be removing it at the same time (runs whose output folders nest):
    what it removed first is passed over (_skip_gone)."""
    if path.is_symlink():
        path.unlink(missing_ok=True)
    elif path.exists():
        shutil.rmtree(path, **{_RMTREE_ON_ERROR: _skip_gone})


# rmtree's error handler: `onexc` from Python 3.12, which deprecates `onerror`
_RMTREE_ON_ERROR = 'onexc' if sys.version_info >= (3, 12) else 'onerror'


def _skip_gone(function: Callable, path: str, error: Any) -> None:
    """Go on past an entry another process removed first, or a folder it moved into place as this emptied it (left to
    that process, which removes it); raise anything else. `error`: the exception (onexc) or sys.exc_info() (onerror)."""
    error = error if isinstance(error, BaseException) else error[1]
    moved_in = function is os.rmdir and getattr(error, 'errno', None) == errno.ENOTEMPTY
    if not (isinstance(error, FileNotFoundError) or moved_in):
        raise error


def _extract_job(job: tuple) -> tuple:
    """Worker entry point: never raises, so one bad video cannot stop the pool."""
    video, out_dir, kwargs = job
    try:
        return video, extract_video(video, out_dir, **kwargs), None
    except Exception as e:  # noqa: BLE001 - any failure of one video is recorded and the run goes on
        return video, None, f'{type(e).__name__}: {e}'


def _plan(videos: Sequence[PathLike], video_dir: PathLike | None, output_dir: Path) -> tuple[dict[Path, Any], int]:
    """{frame folder: video} for `videos`, and the number of entries that repeat a planned video.

    An entry naming the same file (after resolving links) as an earlier one with the same folder is a
    duplicate, extracted once. Any other overlap raises ValueError listing every clash, before anything is
    written: two files for one folder, a folder inside another video's folder (extracting the outer video
    replaces its whole folder, the inner frames with it), a folder on a name the run itself writes, or one in a
    folder named like a temporary folder (TEMP_DIR_NAME), which a later run would remove.
    """
    targets, duplicates, clashes = {}, 0, []
    for video in videos:
        out_dir = frames_dir_for(video, video_dir, output_dir)
        other = targets.get(out_dir)
        if other is None:
            targets[out_dir] = video
        elif os.path.realpath(other) == os.path.realpath(video):
            duplicates += 1
        elif os.path.dirname(os.path.abspath(other)) == os.path.dirname(os.path.abspath(video)):
            clashes.append(f'{other} and {video} differ only in extension, so both would write {out_dir}: rename one')
        else:  # without --video_dir, same file name in two folders
            clashes.append(
                f'{other} and {video} would both write {out_dir}: give --video_dir (a folder holding both) so '
                f'frame folders keep the sub-folders, or rename one'
            )
    own_files = (MANIFEST_NAME, FAILURES_NAME, FAILURES_PARTIAL_NAME, LOCK_NAME, WORKERS_LOCK_NAME)
    owned = {output_dir / name: f"the run's own {name}" for name in own_files}
    for out_dir, video in targets.items():
        for temp in _temp_dirs(out_dir):
            owned[temp] = f'a temporary folder of {video}'
    for out_dir, video in targets.items():
        for folder in (out_dir, *out_dir.parents):  # the frame folder, then those it would be written inside
            if folder == output_dir:
                break
            if folder != out_dir and folder in targets:
                clashes.append(
                    f'{video} would write its frames inside the frame folder of {targets[folder]} ({folder}), '
                    f'which extracting that video replaces: rename one'
                )
            elif folder in owned:
                where = 'to' if folder == out_dir else 'inside'
                clashes.append(f'{video} would write its frames {where} {folder}, which is {owned[folder]}: rename it')
            if folder not in owned and (name := TEMP_DIR_NAME.fullmatch(folder.name)):
                clashes.append(
                    f'{video} would write its frames to {out_dir}, which a run extracting a video named '
                    f'{name[1]} there would remove as its temporary folder {folder.name}: rename it'
                )
    if clashes:
        shown = '; '.join(clashes[:5]) + (f'; and {len(clashes) - 5} more' if len(clashes) > 5 else '')
        raise ValueError(f'{len(clashes)} clash(es) between frame folders, nothing extracted: {shown}')
    return targets, duplicates


def _remove_temp_dirs(out_dirs: Sequence[Path]) -> int:
    """Remove the temporary folders killed runs left next to these frame folders (only our own naming pattern), and
    return how many; a `.partial` folder another run is writing now is left to it (_remove_unheld)."""
    removed = 0
    for out_dir in out_dirs:
        partial, old = _temp_dirs(out_dir)
        try:
            # os.path.isdir, not Path.is_dir: a temp name over the length limit raises in the latter (that video
            # fails alone in extract_video), and no such folder can exist
            if (os.path.isdir(partial) or os.path.islink(partial)) and _remove_unheld(partial):
                logger.info('removed %s, left by an interrupted run', partial)
                removed += 1
            if os.path.isdir(old) or os.path.islink(old):
                _remove(old)
                logger.info('removed %s, left by an interrupted run', old)
                removed += 1
        except OSError as e:  # no permission, out of descriptors: that video fails alone, with the reason, if it runs
            logger.warning('could not remove the temporary folders of %s (%s)', out_dir, e)
    return removed


# Why a folder is (re)made: it is missing, or what _folder_state found.
NEW, INCOMPLETE, SOURCE_CHANGED, SETTINGS_CHANGED = 'new', 'incomplete', 'source changed', 'settings changed'
NO_RECORD, BAD_RECORD, UNCHECKED = 'no record (older version)', 'unreadable record', 'could not be checked'


def _folder_state(out_dir: Path, video: PathLike, settings: dict) -> tuple[str | None, FrameRecord | None]:
    """(None, record) if `out_dir` holds the frames of `video` as it is now made with `settings`, else (why, ...).

    Trusted is only the folder's .record.json, which was written with the frames and renamed into place with
    them: its source file name, size and mtime match the file now (so a replaced or re-encoded file, or a.mkv
    in place of a.mp4, is redone; the name and not the full path, so a moved dataset folder keeps its frames),
    its settings match, and exactly the frame files it lists are there, none empty (other files, a `.DS_Store`
    say, are somebody else's: they do not make the frames incomplete). A record that cannot be read or is not a
    well-typed object (BAD_RECORD) counts as none: the folder is redone, the run goes on.
    """
    try:
        names = set(os.listdir(out_dir))
    except FileNotFoundError:
        return NEW, None
    except NotADirectoryError:
        return INCOMPLETE, None
    try:
        record = _frame_record(json.loads((out_dir / RECORD_NAME).read_bytes()))
    except FileNotFoundError:
        # Frames alone: made by a version before records (see _adopt_legacy_folder). Anything else (an empty folder,
        # somebody's files, which extract_video refuses to replace) is no older version's folder.
        return (NO_RECORD if names and not _foreign_names(names) else INCOMPLETE), None
    except (OSError, ValueError, TypeError, RecursionError):  # RecursionError: JSON nested too deep to parse
        return BAD_RECORD, None
    try:
        source = os.stat(video)
    except OSError:  # gone: the worker reports it, and the folder stays as it is
        return SOURCE_CHANGED, record
    made_from = (Path(record.video).name, record.source_size, record.source_mtime_ns)
    if made_from != (Path(video).name, source.st_size, source.st_mtime_ns):
        return SOURCE_CHANGED, record
    if any(getattr(record, key) != value for key, value in settings.items()):
        return SETTINGS_CHANGED, record
    frames = {name for name in names if FRAME_FILE.fullmatch(name)}
    if len(record.indices) != record.num_frames or not _whole_frames(out_dir, frames, record.num_frames):
        return INCOMPLETE, record
    return None, record


def _whole_frames(out_dir: Path, names: set[str], num_frames: int, not_before_ns: int = 0) -> bool:
    """Whether the files `names` of `out_dir` are frame_0000.jpg ... of `num_frames` frames and nothing else.

    None may be empty (a disk that filled up leaves empty files) or last written before `not_before_ns`.
    """
    if names != {FRAME_NAME.format(i) for i in range(num_frames)}:
        return False
    stats = [os.stat(out_dir / name) for name in names]
    return all(entry.st_size > 0 and entry.st_mtime_ns >= not_before_ns for entry in stats)


def _adopt_legacy_folder(
    out_dir: Path, video: PathLike, settings: dict, line: FrameRecord | None
) -> FrameRecord | None:
    """The record of a folder made before records existed, written from its manifest line; None if it does not qualify.

    Versions before .record.json left a folder of frames and a manifest line; redoing all of them on upgrade would
    cost a whole extraction. `line` (the last manifest line for the folder) is trusted when it names this file by
    the same resolved path (it has no size or mtime to recognise the file by), was made with the current settings,
    and the folder holds exactly the frame files it lists, none empty and none older than the file's mtime (a file
    written after its frames is another file). The record is the line plus the file's size and mtime now, written
    atomically, so later runs check the folder like any other. A folder that does not qualify is redone.
    """
    if line is None or os.path.realpath(line.video) != os.path.realpath(video):
        return None
    if any(getattr(line, key) != value for key, value in settings.items()) or len(line.indices) != line.num_frames:
        return None
    try:
        source = os.stat(video)
    except OSError:  # gone: redone, so the worker reports it
        return None
    # less a record a run killed while adopting it left half-written (_write_record replaces it)
    names = set(os.listdir(out_dir)) - {RECORD_PARTIAL_NAME}
    if not _whole_frames(out_dir, names, line.num_frames, source.st_mtime_ns):
        return None
    record = replace(line, source_size=source.st_size, source_mtime_ns=source.st_mtime_ns)
    _write_record(out_dir, record)
    return record


# The record fields that decide what a folder's frames show (not how long they took to make): frames_identity.
_IDENTITY_FIELDS = (
    'source_size',
    'source_mtime_ns',
    'total_frames',
    'indices',
    'width',
    'height',
    'quality',
    'backend',
)


def frames_identity(folder: PathLike) -> str | None:
    """What the frames of `folder` show, as a digest of its .record.json: the source file (name, size, mtime), the
    chosen frames, their size, quality and backend; None for a folder without a readable record (frames from
    elsewhere).

    Extracting into the same folder again with other settings (another --num_frames) puts other frames under the same
    file names. preprocess_vsi_data.py keeps each folder's identity in its summary, so that loading or launching from
    rows written before tells them apart (preprocess_vsi_data.changed_frames), which the files' existence cannot.
    """
    try:
        record = json.loads((Path(folder) / RECORD_NAME).read_bytes())
        shown = {key: record[key] for key in _IDENTITY_FIELDS} | {'video': os.path.basename(record['video'])}
        shown['rotation'] = record.get('rotation', 0)  # not in records of older versions
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return hashlib.sha256(json.dumps(shown, sort_keys=True).encode()).hexdigest()[:16]


def _write_record(folder: Path, record: FrameRecord) -> None:
    """`folder`'s .record.json, which _folder_state reads back; through a temporary name, so an adopted folder (already
    in place) never shows a half-written record."""
    partial = folder / RECORD_PARTIAL_NAME
    partial.write_text(json.dumps(asdict(record)))
    os.replace(partial, folder / RECORD_NAME)


@contextmanager
def pid_lock(path: Path, on_busy: Callable[[str], None]) -> Iterator[None]:
    """An exclusive lock on the file `path`, which holds this process's pid, for as long as the block runs.

    When another process holds it, on_busy(its pid) is called first: it raises to refuse, or returns to wait. flock,
    which the kernel releases when the process ends however it ends, so a killed holder leaves no stale lock. The
    file is never removed: a process that removed it could let a third lock a new file while a second still waits on
    the old one. Shared by this script's output folders and eval_vsi_bench.py's run folders.
    """
    with open(path, 'a+') as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            on_busy(lock.read().strip() or 'unknown')
            fcntl.flock(lock, fcntl.LOCK_EX)
        lock.truncate(0)
        lock.write(f'{os.getpid()}\n')
        lock.flush()
        yield


@contextmanager
def _output_lock(output_dir: Path) -> Iterator[None]:
    """Hold `output_dir` for this run; a run that finds it held says so once and waits until it is free.

    Two runs on one folder (two evaluations sharing a --frames_cache) would remove each other's temporary folders
    and both write failures.jsonl.partial. Waiting rather than refusing: the later run then finds the earlier
    one's frames complete and skips them, which is what two evaluations sharing a cache want. The lock held, the run
    waits for the workers of a killed run to end (see _init_worker).
    """

    def wait(holder: str) -> None:
        logger.warning('waiting for another extract_frames run on %s (pid %s) to finish', output_dir, holder)

    with pid_lock(output_dir / LOCK_NAME, wait):
        _wait_for_workers(output_dir, f'waiting for the worker processes of a killed run on {output_dir} to end')
        yield


def _wait_for_workers(output_dir: Path, warning: str | None = None) -> None:
    """Return once no worker process writes into `output_dir` (logging `warning` if one still does): each holds the
    workers lock shared while it lives (_init_worker), so taking it exclusively waits for them; released at once,
    for the next run's workers."""
    with open(output_dir / WORKERS_LOCK_NAME, 'a') as workers_lock:
        try:
            fcntl.flock(workers_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if warning:
                logger.warning('%s', warning)
            fcntl.flock(workers_lock, fcntl.LOCK_EX)


def _triage(
    targets: dict[Path, Any],
    output_dir: Path,
    settings: dict,
    overwrite: bool,
    manifest_records: dict[str, FrameRecord],
    summary: ExtractSummary,
) -> tuple[dict[str, tuple], list[FrameRecord]]:
    """The folders to make, as {video as str: (video, frame folder, why it is made)}, and the manifest lines to
    append for the folders kept as they are (counted in `summary`).

    A kept folder's line is appended when the manifest lacks it: a killed run had not appended it yet, or the
    folder was just adopted from an older version (its line gains the source's size and mtime). A line is the
    folder's when it records the same source, by file name, size and modification time (frames_identity's terms),
    whatever the path's spelling: running again with --video_dir spelt another way (relative, through a link, from
    another folder) appends nothing and restores nothing.
    """
    todo, lines = {}, []
    for out_dir, video in targets.items():
        folder = out_dir.relative_to(output_dir).as_posix()
        known = manifest_records.get(folder)
        adopted = None
        # an error here is this video's alone (a name too long, a dangling frame link): its worker redoes or fails it
        try:
            why, record = _folder_state(out_dir, video, settings)
            if why == NO_RECORD and not overwrite:
                adopted = _adopt_legacy_folder(out_dir, video, settings, known)
        except OSError as e:
            logger.warning('cannot check the frames of %s in %s (%s): extracting it again', video, out_dir, e)
            why, record = UNCHECKED, None
        if adopted is not None:
            why, record = None, adopted
            summary.adopted += 1
        if why is not None or overwrite:
            # said: the link was there to keep the frames off this disk (os.path: Path's raise on a name too long)
            if os.path.islink(out_dir) and os.path.exists(out_dir):
                logger.warning(
                    '%s is a link to %s: its new frames replace the link, the folder it names is left alone',
                    out_dir,
                    os.readlink(out_dir),
                )
            todo[str(video)] = (video, out_dir, why)
            continue
        summary.skipped += 1
        line = replace(record, video=str(Path(video)), frames_dir=folder)
        # the same source: the line's fields (its size and mtime among them) and the file's name, however the path
        # was spelt or from whichever folder the line was written (a relative path names another file from here)
        same = (
            known is not None
            and replace(known, video=line.video, frames_dir=folder) == line
            and Path(known.video).name == Path(video).name
        )
        if not same:
            lines.append(line)
            if adopted is None:
                summary.manifest_restored += 1
    return todo, lines


def extract_all(
    output_dir: PathLike,
    videos: Sequence[PathLike] | None = None,
    video_dir: PathLike | None = None,
    num_frames: int = 32,
    workers: int | None = None,
    max_pixels: int | None = None,
    quality: int = 95,
    backend: str = 'pyav',
    overwrite: bool = False,
    progress: bool = True,
) -> ExtractSummary:
    """Extract every video (default: all found under `video_dir`) into `output_dir`, one process per core.

    Videos whose folder is complete for the same source file and settings are skipped (see _folder_state), so an
    interrupted job resumes; temporary folders killed runs left beside the planned folders are removed first.
    The run holds `output_dir` (_output_lock): another run on it waits. Only this process appends to
    manifest.jsonl and writes failures.jsonl, so lines never mix. failures.jsonl describes the last run that
    finished: written as failures.jsonl.partial while the run goes and renamed at its end; an interrupted run
    leaves the previous one in place (its videos are retried anyway).
    """
    if num_frames < 1:
        raise ValueError(f'num_frames must be at least 1, got {num_frames}')
    if max_pixels is not None and max_pixels < 1:
        raise ValueError(f'max_pixels must be positive, got {max_pixels}')
    if not 1 <= quality <= 100:
        raise ValueError(f'quality must be in 1..100, got {quality}')
    if backend not in BACKENDS:
        raise ValueError(f'backend must be one of {BACKENDS}, got {backend!r}')
    if workers is not None and workers < 0:
        raise ValueError(f'workers must be at least 1, or 0 for one per core, got {workers}')
    output_dir = Path(output_dir)
    videos = find_videos(video_dir) if videos is None else list(videos)
    targets, duplicates = _plan(videos, video_dir, output_dir)
    settings = {'num_frames': num_frames, 'max_pixels': max_pixels, 'quality': quality, 'backend': backend}
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:  # a file of that name (mkdir's own message names no option and no cause)
        raise NotADirectoryError(f'--output_dir {output_dir} is not a folder') from None
    summary = ExtractSummary(duplicates=duplicates)
    with _output_lock(output_dir):
        started = time.perf_counter()
        summary.temp_removed = _remove_temp_dirs(list(targets))
        manifest_records = read_manifest(output_dir, repair=True)  # repaired, so the appends below start a fresh line
        todo, lines = _triage(targets, output_dir, settings, overwrite, manifest_records, summary)
        workers = max(1, min(workers or default_workers(), len(todo)))
        kwargs = {**settings, 'threads': decoder_threads(workers)}
        jobs = [(video, out_dir, kwargs) for video, out_dir, _ in todo.values()]
        failures_partial = output_dir / FAILURES_PARTIAL_NAME
        try:
            with (
                open(output_dir / MANIFEST_NAME, 'a') as manifest,
                open(failures_partial, 'w') as failures,
                tqdm(total=len(jobs), unit='video', desc='extract frames', disable=not progress) as bar,
                closing(_run_jobs(jobs, workers, _extract_job, output_dir / WORKERS_LOCK_NAME)) as results,
            ):
                manifest.writelines(json.dumps(asdict(line)) + '\n' for line in lines)
                manifest.flush()
                for video, record, error in results:
                    if record is None:
                        # a worker that died (an OOM kill) left its temporary folder; a run that ends should leave
                        # none, as a stopped one does not (a live writer's lock keeps it: _remove_unheld)
                        _remove_temp_dirs([todo[str(video)][1]])
                        summary.failed += 1
                        summary.failures.append({'video': str(video), 'reason': error})
                        failures.write(json.dumps(summary.failures[-1]) + '\n')
                        failures.flush()
                    else:
                        summary.done += 1
                        summary.frames += record.num_frames
                        if record.cut_short:
                            summary.cut_short += 1
                            logger.warning('%s: %s', video, record.note)
                        why = todo[str(video)][2]
                        if why not in (NEW, None):  # None: complete, made again for --overwrite
                            summary.redone[why] += 1
                        folder = Path(record.frames_dir).relative_to(output_dir).as_posix()
                        manifest.write(json.dumps(asdict(replace(record, frames_dir=folder))) + '\n')
                        manifest.flush()
                    bar.update()
                    bar.set_postfix(failed=summary.failed)
            os.replace(failures_partial, output_dir / FAILURES_NAME)
        except BaseException as e:
            failures_partial.unlink(missing_ok=True)
            # Ctrl-C, SIGTERM or an error: closing _run_jobs stopped the workers, so the temporary folders of the
            # videos they were writing go, as they would at the next run's start. Once the workers have ended: after
            # a SIGTERM to the whole process group the forkserver was dead too, the pool's shutdown returned at once,
            # and workers still holding their folders kept them from removal (about half the time).
            _wait_for_workers(output_dir)
            _remove_temp_dirs([out_dir for _, out_dir, _ in todo.values()])
            if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
                # from the manifest or failures file (a worker's own fails its video): `[Errno 28] No space left on
                # device` named no file
                raise OSError(
                    e.errno,
                    f'{e.strerror} while writing {MANIFEST_NAME} or {FAILURES_NAME} in {output_dir}; the frame '
                    'folders made so far are kept: make room and run the same command again',
                ) from e
            raise
        summary.seconds = time.perf_counter() - started
    return summary


def _run_jobs(jobs: list, workers: int, job: Callable[[tuple], tuple], workers_lock: Path) -> Iterator[tuple]:
    """job(j) = (video, record, error) for each of `jobs`, in the order they finish, in `workers` processes.

    A worker that dies (killed for memory, a crashed decoder) breaks its pool and takes every video in progress
    with it, and which one caused it cannot be told. Failing them all would fail healthy videos, and forever: a
    re-run puts the same videos side by side again. So each is retried alone, in a pool with one job in flight,
    before the run goes on in parallel: only a video whose worker dies with it alone is failed, with how the
    worker ended. With one worker the jobs run alone from the start, in a pool too, so that a crash is recorded
    instead of ending the run (measured: starting the worker costs ~0.4 s a run, nothing per video). At most
    `workers` jobs are handed out at a time, so a death takes no video that had not started. `job` is a
    parameter (extract_all passes _extract_job) so a test can run a job that dies. Each worker holds `workers_lock`
    shared while it lives (see _init_worker).
    """
    # forkserver/spawn: workers start clean, whatever threads or libraries the caller has loaded
    method = 'forkserver' if 'forkserver' in multiprocessing.get_all_start_methods() else 'spawn'
    context = multiprocessing.get_context(method)
    together, alone = deque(jobs), deque()
    while together or alone:
        retrying = bool(alone)
        queue, width = (alone, 1) if retrying else (together, workers)
        lost, cause = yield from _run_pool(queue, width, job, context, workers_lock)
        if width > 1:
            if lost:
                logger.warning('%s with %d video(s) in progress: retrying each alone', cause, len(lost))
            alone.extend(lost)
            continue
        for video, *_ in lost:
            alone_note = ' (retried alone after a worker died during its first attempt)' if retrying else ''
            yield video, None, f'WorkerDied: {cause} while extracting this video{alone_note}'


def _run_pool(
    queue: deque, width: int, job: Callable, context: multiprocessing.context.BaseContext, workers_lock: Path
) -> Generator[tuple, None, tuple[list, str]]:
    """Yield the results of jobs taken from `queue`, `width` at a time in one pool, until it is empty or a worker dies.

    Returns the jobs that were in progress when a worker died (none if none died) and how the worker ended.

    ProcessPoolExecutor rather than multiprocessing.Pool, which waits forever for the task of a worker that died.
    """
    # Only this process holds `alive` open, so the workers read end-of-file from `watched` once it ends, however it
    # ends (SIGKILL too), and end with it (_init_worker) instead of writing on into the output folder as orphans.
    watched, alive = context.Pipe(duplex=False)
    pool = ProcessPoolExecutor(width, mp_context=context, initializer=_init_worker, initargs=(watched, workers_lock))
    # The executor's processes (private: Python 3.11 has no public access), to tell how a dead one ended and to
    # stop them all on Ctrl-C instead of waiting for their videos.
    processes, running, lost, broken = {}, {}, [], False
    try:
        while running or (queue and not broken):
            while queue and not broken and len(running) < width:
                try:
                    future = pool.submit(job, queue[0])
                except BrokenProcessPool:  # a worker died between two submissions
                    broken = True
                else:
                    running[future] = queue.popleft()
                    # CPython 3.11 wakes the pool's manager thread before it starts the worker for this job, so the
                    # manager can miss that worker: were it to die, the pool would notice only at its next event, or
                    # never (a run that hangs). Waking it again now that the worker exists closes that window.
                    with pool._shutdown_lock:
                        pool._executor_manager_thread_wakeup.wakeup()
                processes.update(pool._processes or {})
            if not running:  # the pool broke with no job in progress: a new one takes the queue
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in [future for future in running if future in finished]:  # in the order handed out
                item = running.pop(future)
                if isinstance(future.exception(), BrokenProcessPool):
                    lost.append(item)
                    broken = True
                else:
                    yield future.result()
    except BaseException:  # Ctrl-C, or the caller stopped reading: stop the workers now
        for process in processes.values():
            process.terminate()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        alive.close()  # only now: the workers are gone
        watched.close()
    return lost, _death_cause(processes.values())


def _init_worker(watched: Connection, workers_lock: Path) -> None:
    """Pool worker set-up: ignore Ctrl-C, hold `workers_lock` shared, and end when the main process ends.

    Ctrl-C is for the main process, which stops the workers (each would print a traceback). A killed main process
    releases the output folder's lock at once, while its workers may still be writing there: the next run takes
    `workers_lock` exclusively before it touches anything (_output_lock), so it waits for them to end, which they
    do as soon as `watched` reads end-of-file (the main process never writes to it).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # a bare descriptor, never closed: the flock lasts as long as this process, and the kernel releases it then
    fcntl.flock(os.open(workers_lock, os.O_WRONLY | os.O_CREAT), fcntl.LOCK_SH)
    # Checked with the lock held: a run that took `workers_lock` before this worker did started after the main
    # process had ended, so this worker ends here, before any job
    if watched.poll():
        os._exit(1)
    threading.Thread(target=_exit_with_main, args=(watched,), daemon=True).start()


def _exit_with_main(watched: Connection) -> None:
    watched.poll(None)  # returns at end-of-file: the main process has ended
    os._exit(1)


def _death_cause(processes) -> str:
    """'worker process died (killed by SIGKILL)' or '... (exit code 3)', from the exit codes of a broken pool."""
    codes = {p.exitcode for p in processes if p.exitcode not in (None, 0)}
    # once one worker died the pool stops the others with SIGTERM: those are not the cause, unless all are
    codes = (codes - {-signal.SIGTERM}) or codes
    if not codes:
        return 'worker process died'
    return f'worker process died ({", ".join(_exit_status(code) for code in sorted(codes))})'


def _exit_status(code: int) -> str:
    """A process exit code in words, with the usual reason for the signals decoding workers die of."""
    if code > 0:
        return f'exit code {code}'
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f'signal {-code}'
    hint = {'SIGKILL': ': out of memory?', 'SIGSEGV': ': decoder crash?'}.get(name, '')
    return f'killed by {name}{hint}'


# ---------------------------------------------------------------- command line


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument(
        '--video_dir',
        type=os.path.expanduser,
        help='folder searched recursively for '
        + ' '.join(VIDEO_SUFFIXES)
        + '; frame folders keep the sub-folders below it',
    )
    parser.add_argument(
        '--video_list',
        type=os.path.expanduser,
        help='text file with one video path a line (relative to --video_dir if given, else to the list file; blank '
        'lines and lines starting with # are skipped, spaces around a path are dropped); folders are named by file '
        'stem without --video_dir',
    )
    parser.add_argument(
        '--output_dir',
        type=os.path.expanduser,
        required=True,
        help='where frame folders, manifest.jsonl and failures.jsonl (the failures of the last finished run) go',
    )
    parser.add_argument('--num_frames', type=int, default=32, help='frames per video, spread evenly (default 32)')
    parser.add_argument('--workers', type=int, default=None, help='worker processes (default or 0: one per core)')
    parser.add_argument(
        '--max_pixels',
        type=int,
        default=None,
        help='shrink frames, keeping aspect, to at most this many pixels (default: keep the video size)',
    )
    parser.add_argument('--quality', type=int, default=95, help='JPEG quality 1-100 (default 95)')
    parser.add_argument(
        '--backend',
        choices=BACKENDS,
        default='pyav',
        help='decoder: pyav (default) or decord (for comparison only: it returns wrong frames on mp4 edit lists '
        'and on HEVC open-GOP files)',
    )
    parser.add_argument('--overwrite', action='store_true', help='re-extract videos that are already complete')
    parser.add_argument('--no_progress', action='store_true', help='no progress bar (for logs)')
    return parser.parse_args(argv)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C's KeyboardInterrupt so that it stops a run the same way (workers stopped,
    temporary folders removed); by default SIGTERM would end this process at once and leave the workers behind.
    The evaluator stops on it the same way (its lock released, a line on how to resume)."""


def raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated


def stopped(error: KeyboardInterrupt) -> tuple[str, int]:
    """How a run stopped by `error` says so and exits: ('terminated', 143) for SIGTERM raised as Terminated, else
    ('interrupted', 130), the statuses a shell gives a process the signal ends."""
    return ('terminated', 143) if isinstance(error, Terminated) else ('interrupted', 130)


def run_main(main: Callable[[], int]) -> int:
    """`main()`'s exit status, for `sys.exit(run_main(main))` of the bundle's commands. A reader that stops early
    (`| head`) ended them with a BrokenPipeError traceback, after the work was done, under their summary; now their
    output to it stops without one, and the status is 141, a shell's for a command SIGPIPE ends (`yes | head`)."""
    try:
        status = main()
        if sys.stdout is not None:  # None when started with stdout closed (`>&-`): print() writes nothing then
            sys.stdout.flush()  # here, where the error is caught, not in the interpreter's last flush
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # what is still buffered goes nowhere
        return 128 + signal.SIGPIPE
    return status


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.max_pixels is not None and 0 < args.max_pixels < QWEN3_VL_MIN_PIXELS:
        print(
            f"extract_frames.py: warning: --max_pixels {args.max_pixels} is below Qwen3-VL's smallest image "
            f'({QWEN3_VL_MIN_PIXELS} px, 4 visual tokens), to which such frames are scaled up again',
            file=sys.stderr,
        )
    previous = signal.signal(signal.SIGTERM, raise_terminated)
    try:
        videos = find_videos(args.video_dir, args.video_list)
        if not videos:
            raise ValueError(f'no videos found in {args.video_list or args.video_dir}')
        summary = extract_all(
            args.output_dir,
            videos,
            video_dir=args.video_dir,
            num_frames=args.num_frames,
            workers=args.workers,
            max_pixels=args.max_pixels,
            quality=args.quality,
            backend=args.backend,
            overwrite=args.overwrite,
            progress=not args.no_progress,
        )
    except (ValueError, OSError) as e:
        print(f'extract_frames.py: error: {e}', file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        stop, status = stopped(e)
        again = (  # with --overwrite again, the videos redone so far would be redone once more
            'run the same command to redo every video, or without --overwrite to keep those redone so far (and the '
            'folders already complete by their records)'
            if args.overwrite
            else 'run the same command again to resume'
        )
        print(f'extract_frames.py: {stop}; {again}', file=sys.stderr)
        return status
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(summary)
    if summary.failed:
        print(f'{summary.failed} video(s) failed, reasons in {Path(args.output_dir) / FAILURES_NAME}', file=sys.stderr)
        for failure in summary.failures[:SHOWN_FAILURES]:  # the cause is often the same: the first few say it
            print(f'  {failure["video"]}: {failure["reason"]}', file=sys.stderr)
        missing = any(failure['reason'].startswith('FileNotFoundError') for failure in summary.failures)
        if args.video_list and missing:
            base = args.video_dir or Path(args.video_list).parent
            print(
                f'  relative paths in --video_list are read from {base}, not from the current folder', file=sys.stderr
            )
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(run_main(main))
