"""Synthetic test videos whose frames carry their own frame number, encoded with PyAV.

Shared by tests/test_extract_frames.py and bench/bench_extract.py (which imports this file by path), so
there is one encoder for both. Every frame shows its number as a strip of 12 black/white cells along the
top (bit 0 on the left), big enough to survive H.264 and JPEG; `read_frame_number` reads it back, so a
test can prove which source frame an extracted JPEG came from.

Usage:
    from video_utils import encode_video, decode_all, read_frame_number
    video = encode_video('clip.mp4', num_frames=90, width=321, height=241, gop=30, bframes=2, pix_fmt='yuv444p')
    frames = decode_all(video.path)            # reference: every frame a plain PyAV decode yields
    assert read_frame_number(frames[0].rgb) == 0
"""

import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

CODE_BITS = 12  # frame numbers up to 4095
CODE_STRIP = 0.25  # fraction of the height taken by the number strip
DARK, LIGHT = 16, 235  # video-range levels: they survive the YUV round trip unclipped


@dataclass
class SyntheticVideo:
    path: Path
    num_frames: int  # frames handed to the encoder
    width: int
    height: int
    trimmed: int = 0  # leading frames hidden by an mp4 edit list


@dataclass
class DecodedFrame:
    pts: int
    time: float
    rgb: np.ndarray


def draw_frame(number: int, width: int, height: int, texture: np.ndarray | None = None) -> np.ndarray:
    """An RGB frame showing `number` as a strip of bit cells over a smooth background.

    `texture` (a wide RGB image) is panned by the frame number to give the codec realistic motion to encode
    (used by the benchmark); without it the background is a colour gradient that shifts with the number.
    """
    if not 0 <= number < 2**CODE_BITS:
        raise ValueError(f'frame number {number} does not fit in {CODE_BITS} bits')
    if texture is not None:
        x0 = (number * 4) % (texture.shape[1] - width)
        rgb = np.ascontiguousarray(texture[:height, x0 : x0 + width])
    else:
        ys, xs = np.mgrid[0:height, 0:width]
        rgb = np.stack(
            [
                (xs * 255 // max(width - 1, 1) + number * 7) % 256,
                ys * 255 // max(height - 1, 1),
                np.full_like(xs, (number * 37) % 256),
            ],
            axis=-1,
        ).astype(np.uint8)
    strip = max(int(height * CODE_STRIP), 8)
    edges = np.linspace(0, width, CODE_BITS + 1).astype(int)
    for bit in range(CODE_BITS):
        rgb[:strip, edges[bit] : edges[bit + 1]] = LIGHT if (number >> bit) & 1 else DARK
    return rgb


def read_frame_number(rgb: np.ndarray) -> int:
    """Read back the number `draw_frame` drew, from the centre of each cell (any frame size)."""
    height, width = rgb.shape[:2]
    strip = max(int(height * CODE_STRIP), 8)
    edges = np.linspace(0, width, CODE_BITS + 1)
    number = 0
    for bit in range(CODE_BITS):
        left, right = int(edges[bit]), int(edges[bit + 1])
        pad_x, pad_y = max((right - left) // 4, 1), max(strip // 4, 1)
        cell = rgb[pad_y : strip - pad_y, left + pad_x : right - pad_x]
        if cell.mean() > (DARK + LIGHT) / 2:
            number |= 1 << bit
    return number


def make_texture(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A smooth random RGB image 3x wider than the frame: blobs, like a camera pan over a room."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (height // 16 + 2, width * 3 // 16 + 2, 3), dtype=np.uint8)
    big = coarse.repeat(16, axis=0).repeat(16, axis=1).astype(np.float32)
    # a box blur turns the 16-pixel blocks into soft blobs with some fine detail left
    kernel = np.ones(9, np.float32) / 9
    for axis in (0, 1):
        big = np.apply_along_axis(np.convolve, axis, big, kernel, mode='same')
    noise = rng.normal(0, 6, big.shape)
    return np.clip(big + noise, 0, 255).astype(np.uint8)[:height, : width * 3]


def encode_video(
    path: 'str | Path',
    num_frames: int,
    width: int = 160,
    height: int = 120,
    fps: int = 30,
    gop: int = 30,
    bframes: int = 0,
    codec: str = 'libx264',
    times: Sequence[float] | None = None,
    trim_start: int = 0,
    texture: np.ndarray | None = None,
    preset: str = 'veryfast',
    pix_fmt: str = 'yuv420p',
    faststart: bool = False,
    repeat: int = 1,
    grain: float = 0.0,
    open_gop: bool = False,
    hold_last: float = 0.0,
) -> SyntheticVideo:
    """Encode `num_frames` numbered frames; the container follows the file suffix (mp4, mkv, mov, avi, webm).

    - `gop`: fixed keyframe interval (scene-cut detection off, so keyframes fall exactly every `gop` frames).
    - `times`: presentation time of each frame in seconds (variable frame rate); default i / fps.
    - `trim_start`: shift the first frames to negative timestamps, which the mp4/mov muxer turns into an
      edit list whose media time skips them, as `ffmpeg -ss ... -c copy` does: players and a full decode
      show `num_frames - trim_start` frames, numbered from `trim_start`, while the file holds all of them.
    - `faststart`: mp4/mov index (moov) before the data, so a truncated file still opens but lists packets
      that are gone.
    - `repeat`: write the encoded packets that many times one after another (a long video for the price of
      encoding one part; frame numbers restart every `num_frames`). Needs `num_frames` to be a multiple of
      `gop`, so every part starts on a keyframe; the returned num_frames counts all parts.
    - `grain`: standard deviation of sensor-like noise added to every frame (4 patterns in turn). Without it
      a panned texture costs almost nothing to code between keyframes, far less than camera footage.
    - `open_gop` (libx264): B-frames shown just before a keyframe are decoded after it and refer to the GOP
      before (as broadcast and many camera encoders do), so they belong to the earlier keyframe's GOP.
    - `hold_last`: seconds the last frame is shown (its packet's duration), as a screen recording holds a still ending.
    - odd sizes: libx264 refuses them in yuv420p; use pix_fmt='yuv444p', or codec 'libvpx-vp9' / 'mpeg4'.
    """
    path = Path(path)
    if times is not None and (len(times) != num_frames or trim_start or repeat > 1):
        raise ValueError('times needs one entry per frame and works without trim_start and repeat')
    if repeat > 1 and num_frames % gop:
        raise ValueError(f'repeat needs num_frames ({num_frames}) to be a multiple of gop ({gop})')
    time_base = Fraction(1, 1000) if times is not None else Fraction(1, fps)
    container = av.open(str(path), 'w', options={'movflags': 'faststart'} if faststart else {})
    stream = container.add_stream(codec, rate=fps)
    stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
    stream.time_base = stream.codec_context.time_base = time_base
    options = {'g': str(gop), 'keyint_min': str(gop), 'sc_threshold': '0', 'bf': str(bframes)}
    if codec == 'libx264':
        options.update(preset=preset, crf='20', **({'x264-params': 'open-gop=1'} if open_gop else {}))
    elif codec == 'libx265':
        options.update(preset='ultrafast', crf='20', **{'x265-params': 'log-level=error'})
    elif codec.startswith('libvpx'):
        options.update(deadline='realtime', **{'cpu-used': '8', 'lag-in-frames': '0', 'auto-alt-ref': '0'})
    stream.codec_context.options = options
    noise = np.random.default_rng(1).normal(0, grain, (4, height, width, 3)).astype(np.int8) if grain else None
    packets = []
    for i in range(num_frames):
        rgb = draw_frame(i, width, height, texture)
        if noise is not None:
            rgb = np.clip(rgb + noise[i % 4].astype(np.int16), 0, 255).astype(np.uint8)
        frame = av.VideoFrame.from_ndarray(rgb, format='rgb24')
        frame.pts = round(times[i] * 1000) if times is not None else i
        frame.time_base = time_base
        packets += _keep(stream.encode(frame))
    packets += _keep(stream.encode(None))
    # timestamps below are in frames (1/fps) whenever they are shifted: times is None there
    last_pts = max(pts for _, pts, _, _ in packets)
    for part in range(repeat):
        shift = part * num_frames - trim_start
        for data, pts, dts, is_keyframe in packets:
            packet = av.Packet(data)
            packet.pts, packet.dts, packet.is_keyframe = pts + shift, dts + shift, is_keyframe
            packet.time_base, packet.stream = time_base, stream
            if hold_last and part == repeat - 1 and pts == last_pts:
                packet.duration = round(hold_last / time_base)
            container.mux(packet)
    container.close()
    return SyntheticVideo(path, num_frames * repeat, width, height, trimmed=trim_start)


def _keep(packets: 'Iterable[av.Packet]') -> list:
    """Packets as plain values: muxing takes a packet's data, and `repeat` muxes each one several times."""
    return [(bytes(p), p.pts, p.dts, p.is_keyframe) for p in packets]


def truncate(path: 'str | Path', keep: float, dest: 'str | Path') -> Path:
    """Copy the first `keep` fraction of the bytes of `path` to `dest` (a file cut off mid-write)."""
    data = Path(path).read_bytes()
    Path(dest).write_bytes(data[: int(len(data) * keep)])
    return Path(dest)


def remux(path: 'str | Path', dest: 'str | Path', change: Callable[[list], list]) -> Path:
    """Copy the video stream of `path` to `dest` without re-encoding, its packets (data, pts, dts, is_keyframe, in
    decode order) passed through `change` first: drop some to cut a file mid-GOP, alter bytes to damage one."""
    with av.open(str(path)) as source:
        stream = source.streams.video[0]
        packets = change(_keep(p for p in source.demux(stream) if p.size))
        with av.open(str(dest), 'w') as output:
            copy = output.add_stream_from_template(stream)
            for data, pts, dts, is_keyframe in packets:
                packet = av.Packet(data)
                packet.pts, packet.dts, packet.is_keyframe = pts, dts, is_keyframe
                packet.time_base, packet.stream = stream.time_base, copy
                output.mux(packet)
    return Path(dest)


def decode_all(path: 'str | Path', threads: int = 0) -> list:
    """Every frame a plain sequential PyAV decode yields, as DecodedFrame (the reference for tests). `threads`: slice
    threads (0: FFmpeg's choice); concealing damaged data depends on them."""
    frames = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if threads:
            stream.codec_context.thread_type, stream.codec_context.thread_count = 'SLICE', threads
        for packet in container.demux(stream):
            try:
                decoded = packet.decode()
            except av.FFmpegError:  # a damaged packet: skip it, as ffmpeg does
                continue
            frames += [DecodedFrame(f.pts, float(f.time), f.to_ndarray(format='rgb24')) for f in decoded]
    return frames


# tkhd display matrices (a, b, c, d in 16.16 fixed point) by the quarter turns counter-clockwise that show the frames
# upright: FFmpeg reads them as rotation -90 (a phone held upright), 180 and 90.
_TURN_MATRICES = {3: (0, 1, -1, 0), 2: (-1, 0, 0, -1), 1: (0, -1, 1, 0)}


def rotate_mp4(path: 'str | Path', dest: 'str | Path', turns: int) -> Path:
    """A copy of the mp4 at `path` whose track header tells players to turn it `turns` quarter turns counter-clockwise
    (the display matrix a phone writes instead of turning the pixels); the stream itself is unchanged."""
    data = bytearray(Path(path).read_bytes())
    at = data.find(b'tkhd')
    assert at > 0 and data[at + 4] == 0, 'a version 0 track header'
    matrix = at + 4 + 4 + 4 * 5 + 8 + 8  # after version/flags, five 32-bit fields, 8 reserved, layer...volume
    a, b, c, d = (value * 0x10000 & 0xFFFFFFFF for value in _TURN_MATRICES[turns])
    data[matrix : matrix + 36] = struct.pack('>9I', a, b, 0, c, d, 0, 0, 0, 0x40000000)
    Path(dest).write_bytes(bytes(data))
    return Path(dest)
