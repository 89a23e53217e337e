# Copyright (c) ModelScope Contributors. All rights reserved.
"""Synthetic VSI-Bench-style indoor scenes with exact ground truth.

Each scene is a rectangular room holding axis-aligned furniture boxes of known class, colour, size and position.
A camera circles near the room centre while panning a full turn; the frames are rendered with a pinhole camera
(box faces rasterised with Pillow, a depth test per pixel) and encoded as H.264 at a constant frame rate. Questions
for every VSI-Bench category are derived from the geometry, and the appearance order from what the rendered
frames actually show. Scenes are split into train and test; no scene is in both.

Outputs, under --output_dir:
    videos/synthscan/<scene_name>.mp4  one clip per scene (the benchmark's <dataset>/<scene_name>.mp4 layout)
    test.jsonl         benchmark rows: id, dataset, scene_name, question_type, question, options, ground_truth
    train.json         VLM-3R "conversations" rows with versioned types (object_rel_direction_v1/_v2/_v3, ...)
    train_qa.jsonl     the same training questions in the benchmark's question/options layout
    test_scenes.txt    the test scene names, one a line
    scenes.json        full geometry, camera path and the first frame each object is visible in
The question files are written last, after an earlier run's are removed: a run stopped before its end leaves none.

Usage:
    python demo/make_synthetic_scenes.py --output_dir demo_out/scenes --num_scenes 6 --test_fraction 0.34 --seed 0
"""

import argparse
import contextlib
import hashlib
import itertools
import json
import math
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any

import av
import numpy as np
from PIL import Image, ImageDraw
from tqdm import tqdm

# Run as `python demo/make_synthetic_scenes.py`, the bundle's shared modules sit one folder up.
_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)
from preprocess_vsi_data import atomic_path, json_text, write_text_atomic  # noqa: E402
from vsi_scoring import build_prompt  # noqa: E402

DATASET = 'synthscan'
SCENE_PREFIX = 'synth_'
ENCODER_OPTIONS = {'crf': '16', 'preset': 'fast', 'threads': '1'}
# Written after the videos, in this order (the texts in make_scenes); the docstring above says what each holds.
QUESTION_FILES = ('test.jsonl', 'train.json', 'train_qa.jsonl', 'test_scenes.txt', 'scenes.json')
VIDEO_TAG = 'vsi-synthetic-frames-sha256:'  # the mp4 comment that write_video recognises its own videos by

# Question wording follows VSI-Bench's templates (and VLM-3R's, which share them).
COUNT_TEMPLATE = 'How many {category}(s) are in this room?'
ABS_DISTANCE_TEMPLATE = (
    'Measuring from the closest point of each object, what is the direct distance between the '
    '{object1} and the {object2} (in meters)?'
)
SIZE_TEMPLATE = (
    'What is the length of the longest dimension (length, width, or height) of the {category}, measured in centimeters?'
)
ROOM_SIZE_TEMPLATE = (
    'What is the size of this room (in square meters)? If multiple rooms are shown, estimate the '
    'size of the combined space.'
)
REL_DISTANCE_TEMPLATE = (
    'Measuring from the closest point of each object, which of these objects ({choices}) is the '
    'closest to the {category}?'
)
REL_DIRECTION_TEMPLATES = {
    'easy': (
        'If I am standing by the {positioning} and facing the {orienting}, is the {querying} to the left or the '
        'right of the {orienting}?'
    ),
    'medium': (
        'If I am standing by the {positioning} and facing the {orienting}, is the {querying} to my left, right, '
        'or back?\nAn object is to my back if I would have to turn at least 135 degrees in order to face it.'
    ),
    'hard': (
        'If I am standing by the {positioning} and facing the {orienting}, is the {querying} to my front-left, '
        'front-right, back-left, or back-right?\nThe directions refer to the quadrants of a Cartesian plane (if I '
        'am standing at the origin and facing along the positive y-axis).'
    ),
}
DIRECTION_LABELS = {
    'easy': ('left', 'right'),
    'medium': ('left', 'right', 'back'),
    'hard': ('front-left', 'front-right', 'back-left', 'back-right'),
}
DIRECTION_TRAIN_TYPES = {
    'hard': 'object_rel_direction_v1',
    'medium': 'object_rel_direction_v2',
    'easy': 'object_rel_direction_v3',
}
REL_DISTANCE_TRAIN_TYPES = {4: 'object_rel_distance_v1', 3: 'object_rel_distance_v2', 2: 'object_rel_distance_v3'}
APPEARANCE_TEMPLATE = (
    'What will be the first-time appearance order of the following categories in the video: {categories}?'
)
ROUTE_TEMPLATE = (
    'You are a robot beginning at the {start} facing the {first}. You want to navigate to the '
    '{goal}. You will perform the following actions (Note: for each [please fill in], choose either '
    "'turn back,' 'turn left,' or 'turn right.'): 1. Go forward until the {first} 2. [please fill in] "
    '3. Go forward until the {second} 4. [please fill in] 5. Go forward until the {goal}. You have '
    'reached the final destination.'
)
TURNS = ('Turn Left', 'Turn Right', 'Turn Back')


@dataclass(frozen=True)
class ObjectClass:
    """A furniture class: one flat colour per class, so a small model can tell classes apart by colour alone."""

    name: str
    colour: tuple[int, int, int]
    size_min_cm: tuple[int, int, int]  # length, width, height
    size_max_cm: tuple[int, int, int]
    max_count: int


OBJECT_CLASSES = (
    ObjectClass('chair', (220, 40, 40), (42, 42, 80), (56, 56, 100), 4),
    ObjectClass('table', (110, 60, 20), (110, 70, 70), (180, 100, 78), 2),
    ObjectClass('sofa', (40, 70, 210), (170, 80, 75), (230, 100, 90), 1),
    ObjectClass('bed', (240, 120, 200), (190, 140, 50), (210, 180, 65), 1),
    ObjectClass('tv', (20, 20, 20), (90, 8, 55), (140, 14, 85), 1),
    ObjectClass('lamp', (245, 215, 30), (28, 28, 140), (45, 45, 180), 2),
    ObjectClass('refrigerator', (30, 200, 220), (60, 60, 170), (80, 75, 200), 1),
    ObjectClass('bookshelf', (120, 40, 160), (80, 30, 180), (120, 40, 210), 1),
    ObjectClass('plant', (40, 170, 50), (30, 30, 60), (50, 50, 120), 3),
    ObjectClass('stool', (250, 130, 20), (35, 35, 45), (45, 45, 65), 3),
    ObjectClass('trash bin', (150, 160, 30), (25, 25, 40), (40, 40, 60), 2),
    ObjectClass('nightstand', (0, 120, 120), (40, 35, 50), (55, 45, 65), 1),
)

FLOOR_COLOUR = (125, 120, 115)
FLOOR_GRID_COLOUR = (95, 90, 85)
CEILING_COLOUR = (235, 235, 230)
WALL_COLOURS = ((205, 195, 175), (190, 200, 190), (200, 190, 200), (185, 190, 205))
# Flat shading by face orientation: tops brightest, x-facing and y-facing sides darker, so boxes read as 3-D.
SHADE_TOP, SHADE_X, SHADE_Y = 1.0, 0.82, 0.68

HFOV_DEG = 75.0
PITCH_DEG = -15.0
NEAR = 0.05
FAR_DEPTH = 1e9  # metres; behind everything in a room
CAMERA_HEIGHT = (1.4, 1.6)
CAMERA_ORBIT_RADIUS = 0.3
# Furniture stays out of this disc around the room centre, so the camera never enters a box.
FREE_RADIUS = 1.1
OBJECT_GAP = 0.3
WALL_MARGIN = 0.05
ROOM_LENGTH = (5.0, 8.5)
ROOM_WIDTH = (4.5, 7.5)
ROOM_HEIGHT = (2.6, 3.0)
# An object "appears" in a frame once this fraction of the frame shows it (39 pixels at 160x120).
VISIBLE_FRACTION = 0.002
MAX_LAYOUT_ATTEMPTS = 20
# Questions whose answer flips under a small perturbation are dropped, as VSI-Bench and VLM-3R do.
ANGLE_MARGIN_DEG = 20.0
MIN_TURN_DEG = 30.0
MIN_DIRECTION_DISTANCE = 1.0
REL_DISTANCE_MARGIN = 0.3
MIN_ABS_DISTANCE = 0.5
MIN_UNIQUE_CATEGORIES = 5
ROUNDING_GUARD = 0.005

FIRST_OBJECT_ID = 8  # ids 0-5 room surfaces, 6 floor grid; object i face k is FIRST_OBJECT_ID + 6 * i + k


@dataclass
class SceneObject:
    category: str
    colour: list[int]
    centre: list[float]  # metres; z is half the height because every box stands on the floor
    size: list[float]  # metres, in the object's own frame: length, width, height
    yaw_deg: int  # a multiple of 90, so boxes stay axis-aligned and closest-point distances are exact
    first_visible_frame: int = -1
    visible_frame_count: int = 0
    first_glimpse_frame: int = -1  # the first frame with any pixel of it, however few

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        length, width, height = self.size
        extent = np.array([length, width, height] if self.yaw_deg % 180 == 0 else [width, length, height])
        centre = np.array(self.centre)
        return centre - extent / 2, centre + extent / 2


@dataclass
class CameraPose:
    frame: int
    position: list[float]
    yaw_deg: float  # counter-clockwise from +x seen from above; +z is up, so "left" is counter-clockwise
    pitch_deg: float


@dataclass
class Scene:
    scene_name: str
    split: str
    video: str  # relative to <output_dir>/videos
    room_size: list[float]  # length along x, width along y, height, metres; the floor spans [0, L] x [0, W]
    surface_colours: dict[str, Any]
    objects: list[SceneObject]
    camera: list[CameraPose]


@dataclass
class Question:
    question_type: str
    question: str
    options: list[str] | None
    ground_truth: str


@dataclass
class SyntheticSetSummary:
    output_dir: str
    train_scenes: list[str]
    test_scenes: list[str]
    test_question_types: dict[str, int]
    train_question_types: dict[str, int]
    seconds: float = 0.0
    files: list[str] = field(default_factory=list)

    @property
    def num_test_questions(self) -> int:
        return sum(self.test_question_types.values())

    @property
    def num_train_questions(self) -> int:
        return sum(self.train_question_types.values())


# ---------------------------------------------------------------- layout


def _random_room(rng: np.random.Generator) -> list[float]:
    while True:
        length = round(float(rng.integers(ROOM_LENGTH[0] * 10, ROOM_LENGTH[1] * 10 + 1)) / 10, 1)
        width = round(float(rng.integers(ROOM_WIDTH[0] * 10, ROOM_WIDTH[1] * 10 + 1)) / 10, 1)
        if not _near_rounding_boundary(length * width):
            height = round(float(rng.uniform(*ROOM_HEIGHT)), 2)
            return [length, width, height]


def _footprint_clear(lo: np.ndarray, hi: np.ndarray, placed: Sequence[SceneObject], room: Sequence[float]) -> bool:
    centre = np.array(room[:2]) / 2
    nearest = np.clip(centre, lo[:2], hi[:2])
    if np.linalg.norm(nearest - centre) < FREE_RADIUS:
        return False
    for other in placed:
        olo, ohi = other.bounds()
        if np.all(lo[:2] < ohi[:2] + OBJECT_GAP) and np.all(olo[:2] < hi[:2] + OBJECT_GAP):
            return False
    return True


def _place_objects(rng: np.random.Generator, room: Sequence[float]) -> list[SceneObject]:
    num_classes = int(rng.integers(7, 11))
    chosen = sorted(rng.choice(len(OBJECT_CLASSES), size=num_classes, replace=False))
    objects: list[SceneObject] = []
    for class_index in chosen:
        cls = OBJECT_CLASSES[class_index]
        for _ in range(int(rng.integers(1, cls.max_count + 1))):
            size_cm = [int(rng.integers(lo, hi + 1)) for lo, hi in zip(cls.size_min_cm, cls.size_max_cm, strict=True)]
            size = [s / 100 for s in size_cm]
            yaw = int(rng.choice([0, 90, 180, 270]))
            for _ in range(60):
                obj = SceneObject(cls.name, list(cls.colour), [0.0, 0.0, size[2] / 2], size, yaw)
                lo, hi = obj.bounds()
                half = (hi - lo)[:2] / 2
                span = [(WALL_MARGIN + half[a], room[a] - WALL_MARGIN - half[a]) for a in range(2)]
                if any(low > high for low, high in span):
                    break
                # A centimetre grid keeps the stored geometry exact when written to JSON.
                obj.centre[:2] = [
                    int(rng.integers(math.ceil(low * 100), math.floor(high * 100) + 1)) / 100 for low, high in span
                ]
                lo, hi = obj.bounds()
                if _footprint_clear(lo, hi, objects, room):
                    objects.append(obj)
                    break
    return objects


def _camera_path(rng: np.random.Generator, room: Sequence[float], frames: int) -> list[CameraPose]:
    height = round(float(rng.uniform(*CAMERA_HEIGHT)), 3)
    phase = float(rng.uniform(0, 2 * math.pi))
    start_yaw = float(rng.uniform(0, 360))
    turn = 1.0 if rng.random() < 0.5 else -1.0
    poses = []
    for i in range(frames):
        t = i / frames  # one full turn without repeating the first view at the end
        angle = phase + turn * 2 * math.pi * t
        position = [
            room[0] / 2 + CAMERA_ORBIT_RADIUS * math.cos(angle),
            room[1] / 2 + CAMERA_ORBIT_RADIUS * math.sin(angle),
            height,
        ]
        yaw = (start_yaw + turn * 360.0 * t) % 360.0
        poses.append(CameraPose(i, [round(v, 4) for v in position], round(yaw, 3), PITCH_DEG))
    return poses


# ---------------------------------------------------------------- rendering


def _camera_basis(pose: CameraPose) -> np.ndarray:
    """Rows: right, up, forward (world coordinates, x/y on the floor, z up)."""
    yaw, pitch = math.radians(pose.yaw_deg), math.radians(pose.pitch_deg)
    forward = np.array([math.cos(yaw) * math.cos(pitch), math.sin(yaw) * math.cos(pitch), math.sin(pitch)])
    right = np.array([math.sin(yaw), -math.cos(yaw), 0.0])
    return np.stack([right, np.cross(right, forward), forward])


def _clip_near(points: np.ndarray) -> np.ndarray:
    """Sutherland-Hodgman clip of a camera-space polygon against the near plane z >= NEAR."""
    kept = []
    for a, b in zip(points, np.roll(points, -1, axis=0), strict=True):
        if a[2] >= NEAR:
            kept.append(a)
        if (a[2] >= NEAR) != (b[2] >= NEAR):
            kept.append(a + (NEAR - a[2]) / (b[2] - a[2]) * (b - a))
    return np.array(kept)


class _Projector:
    def __init__(self, pose: CameraPose, width: int, height: int):
        self.origin = np.array(pose.position)
        self.basis = _camera_basis(pose)
        self.focal = width / 2 / math.tan(math.radians(HFOV_DEG) / 2)
        self.cx, self.cy = width / 2, height / 2

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        return (points - self.origin) @ self.basis.T

    def to_pixels(self, cam: np.ndarray) -> list[tuple[float, float]]:
        u = self.cx + self.focal * cam[:, 0] / cam[:, 2]
        v = self.cy - self.focal * cam[:, 1] / cam[:, 2]
        return list(zip(u.tolist(), v.tolist(), strict=True))

    def polygon(self, points: np.ndarray) -> list[tuple[float, float]] | None:
        cam = _clip_near(self.to_camera(points))
        return self.to_pixels(cam) if len(cam) >= 3 else None

    def segment(self, a: np.ndarray, b: np.ndarray) -> list[tuple[float, float]] | None:
        cam = self.to_camera(np.stack([a, b]))
        if cam[0, 2] < NEAR and cam[1, 2] < NEAR:
            return None
        if cam[0, 2] < NEAR or cam[1, 2] < NEAR:
            inside, outside = (cam[0], cam[1]) if cam[0, 2] >= NEAR else (cam[1], cam[0])
            cam = np.stack([inside, inside + (NEAR - inside[2]) / (outside[2] - inside[2]) * (outside - inside)])
        return self.to_pixels(cam)


def _box_faces(lo: np.ndarray, hi: np.ndarray) -> list[np.ndarray]:
    """Faces in the order -x, +x, -y, +y, -z, +z, each a (4, 3) array of corners."""
    x0, y0, z0 = lo
    x1, y1, z1 = hi
    return [
        np.array([[x0, y0, z0], [x0, y1, z0], [x0, y1, z1], [x0, y0, z1]]),
        np.array([[x1, y0, z0], [x1, y1, z0], [x1, y1, z1], [x1, y0, z1]]),
        np.array([[x0, y0, z0], [x1, y0, z0], [x1, y0, z1], [x0, y0, z1]]),
        np.array([[x0, y1, z0], [x1, y1, z0], [x1, y1, z1], [x0, y1, z1]]),
        np.array([[x0, y0, z0], [x1, y0, z0], [x1, y1, z0], [x0, y1, z0]]),
        np.array([[x0, y0, z1], [x1, y0, z1], [x1, y1, z1], [x0, y1, z1]]),
    ]


def _colour_table(scene: Scene) -> np.ndarray:
    """Maps every surface id of the id image to its RGB colour."""
    table = np.zeros((256, 3), dtype=np.uint8)
    table[0] = FLOOR_COLOUR
    table[1] = CEILING_COLOUR
    table[2:6] = WALL_COLOURS
    table[6] = FLOOR_GRID_COLOUR
    shades = (SHADE_X, SHADE_X, SHADE_Y, SHADE_Y, SHADE_TOP, SHADE_TOP)
    for i, obj in enumerate(scene.objects):
        for k, shade in enumerate(shades):
            table[FIRST_OBJECT_ID + 6 * i + k] = np.round(np.array(obj.colour) * shade)
    return table


def _render_ids(scene: Scene, pose: CameraPose, width: int, height: int) -> np.ndarray:
    """Rasterise one frame as surface ids; colours and visibility both come from this one image, so the ground
    truth about what is visible can never disagree with the pixels of the video."""
    length, room_width, room_height = scene.room_size
    proj = _Projector(pose, width, height)
    image = Image.new('L', (width, height), 0)
    draw = ImageDraw.Draw(image)
    # Seen from inside a convex room the six surfaces never overlap, so they need no ordering.
    room_faces = _box_faces(np.zeros(3), np.array([length, room_width, room_height]))
    for surface_id, face in zip((2, 3, 4, 5, 0, 1), room_faces, strict=True):
        xy = proj.polygon(face)
        if xy:
            draw.polygon(xy, fill=surface_id)
    # A one-metre floor grid gives the model a metric cue for distances and room size.
    lines = [((x, 0, 0), (x, room_width, 0)) for x in range(1, math.ceil(length))]
    lines += [((0, y, 0), (length, y, 0)) for y in range(1, math.ceil(room_width))]
    for a, b in lines:
        xy = proj.segment(np.array(a, dtype=float), np.array(b, dtype=float))
        if xy:
            draw.line(xy, fill=6)
    # Boxes go over the room with a depth test per pixel. Drawing far boxes first by closest-point distance is not
    # enough: a tall box whose top is nearer the camera covered a low box standing in front of it. Within a box only
    # faces turned towards the camera are drawn, and those never overlap each other on screen (boxes are convex).
    ids = np.array(image)
    depth = np.full(ids.shape, np.inf)
    # Camera-space ray through each pixel, scaled to depth 1: a plane's depth at a pixel is then one division.
    columns, rows = np.meshgrid(np.arange(width, dtype=float), np.arange(height, dtype=float))
    rays = np.stack([(columns - proj.cx) / proj.focal, (proj.cy - rows) / proj.focal, np.ones_like(columns)], axis=-1)
    cam = proj.origin
    for i, obj in enumerate(scene.objects):
        lo, hi = obj.bounds()
        facing = (cam[0] < lo[0], cam[0] > hi[0], cam[1] < lo[1], cam[1] > hi[1], cam[2] < lo[2], cam[2] > hi[2])
        box_ids = np.zeros_like(ids)
        box_depth = np.full(ids.shape, np.inf)
        for k, (face, visible) in enumerate(zip(_box_faces(lo, hi), facing, strict=True)):
            xy = proj.polygon(face) if visible else None
            if not xy:
                continue
            mask = Image.new('1', (width, height), 0)
            ImageDraw.Draw(mask).polygon(xy, fill=1)
            covered = np.asarray(mask)
            box_ids[covered] = FIRST_OBJECT_ID + 6 * i + k
            corners = proj.to_camera(face)
            normal = np.cross(corners[1] - corners[0], corners[2] - corners[0])
            with np.errstate(divide='ignore', invalid='ignore'):
                t = (normal @ corners[0]) / (rays[covered] @ normal)
            # An edge pixel whose ray misses the plane still belongs to the face, behind any other box there.
            box_depth[covered] = np.where(np.isfinite(t) & (t > 0), t, FAR_DEPTH)
        nearer = box_depth < depth
        ids[nearer] = box_ids[nearer]
        depth[nearer] = box_depth[nearer]
    return ids


def _render(scene: Scene, width: int, height: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Returns RGB frames and a (frames, objects) array of visible pixel counts."""
    table = _colour_table(scene)
    frames, counts = [], []
    for pose in scene.camera:
        ids = _render_ids(scene, pose, width, height)
        frames.append(table[ids])
        object_ids = (ids[ids >= FIRST_OBJECT_ID].astype(np.int64) - FIRST_OBJECT_ID) // 6
        counts.append(np.bincount(object_ids, minlength=len(scene.objects)))
    return frames, np.stack(counts)


def write_video(path: str, frames: Sequence[np.ndarray], fps: int) -> None:
    """H.264, yuv420p, constant frame rate; written to a temporary file and renamed.

    The file carries a digest of the frames and the encoder settings, and a video already there with the same
    digest is left alone: a second `make demo` keeps the mtime, so extract_frames keeps its frames instead of redoing
    them as "source changed". The digest is of the frames, not of the encoded bytes, because libx264 does not encode
    the same frames to the same bytes every time, even with one thread.
    """
    height, width = frames[0].shape[:2]
    digest = hashlib.sha256(repr((fps, width, height, ENCODER_OPTIONS)).encode())
    for array in frames:
        digest.update(np.ascontiguousarray(array))
    tag = f'{VIDEO_TAG}{digest.hexdigest()}'
    with contextlib.suppress(OSError, av.FFmpegError), av.open(path) as existing:
        if existing.metadata.get('comment') == tag:
            return
    with atomic_path(path) as tmp, av.open(tmp, mode='w', format='mp4') as container:
        container.metadata['comment'] = tag
        stream = container.add_stream('libx264', rate=fps, options=ENCODER_OPTIONS)
        stream.width, stream.height, stream.pix_fmt = width, height, 'yuv420p'
        stream.codec_context.gop_size = fps
        for i, array in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format='rgb24')
            frame.pts, frame.time_base = i, Fraction(1, fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def generate_scene(
    scene_name: str, split: str, rng: np.random.Generator, frames: int, width: int, height: int
) -> tuple[Scene, list[np.ndarray]]:
    """Samples layouts until every object shows up in the video and enough classes are unique."""
    min_pixels = visibility_min_pixels(width, height)
    for _ in range(MAX_LAYOUT_ATTEMPTS):
        room = _random_room(rng)
        objects = _place_objects(rng, room)
        counts = Counter(o.category for o in objects)
        if sum(1 for n in counts.values() if n == 1) < MIN_UNIQUE_CATEGORIES:
            continue
        surfaces = {
            'floor': list(FLOOR_COLOUR),
            'floor_grid': list(FLOOR_GRID_COLOUR),
            'ceiling': list(CEILING_COLOUR),
            'walls': [list(c) for c in WALL_COLOURS],
        }
        scene = Scene(
            scene_name, split, f'{DATASET}/{scene_name}.mp4', room, surfaces, objects, _camera_path(rng, room, frames)
        )
        rgb, pixels = _render(scene, width, height)
        visible = pixels >= min_pixels
        if not visible.any(axis=0).all():
            continue  # an object the video never shows would make counting and distances unanswerable
        for obj, column, shown in zip(objects, visible.T, pixels.T, strict=True):
            obj.first_visible_frame = int(np.argmax(column))
            obj.visible_frame_count = int(column.sum())
            obj.first_glimpse_frame = int(np.argmax(shown > 0))
        return scene, rgb
    raise RuntimeError(
        f'Could not lay out scene {scene_name} in {MAX_LAYOUT_ATTEMPTS} attempts with every object '
        f'visible at {width}x{height}; use a larger --width/--height.'
    )


def visibility_min_pixels(width: int, height: int) -> int:
    return math.ceil(width * height * VISIBLE_FRACTION)


# ---------------------------------------------------------------- geometry behind the answers


def box_distance(a: SceneObject, b: SceneObject) -> float:
    """Distance between the closest points of two axis-aligned boxes (0 when they touch)."""
    alo, ahi = a.bounds()
    blo, bhi = b.bounds()
    return float(np.linalg.norm(np.maximum(0, np.maximum(alo - bhi, blo - ahi))))


def signed_angle(heading: np.ndarray, target: np.ndarray) -> float:
    """Degrees in (-180, 180] from heading to target on the floor; positive is counter-clockwise, i.e. left."""
    cross = heading[0] * target[1] - heading[1] * target[0]
    return math.degrees(math.atan2(cross, float(np.dot(heading[:2], target[:2]))))


def direction_label(angle: float, level: str) -> str:
    if level == 'easy':
        return 'left' if angle > 0 else 'right'
    if level == 'medium':
        return 'back' if abs(angle) >= 135 else ('left' if angle > 0 else 'right')
    return ('front-' if abs(angle) < 90 else 'back-') + ('left' if angle > 0 else 'right')


def turn_label(angle: float) -> str:
    return 'Turn Back' if abs(angle) >= 135 else ('Turn Left' if angle > 0 else 'Turn Right')


def _angle_clear(angle: float, boundaries: Sequence[float]) -> bool:
    return all(abs((angle - b + 180) % 360 - 180) >= ANGLE_MARGIN_DEG for b in boundaries)


DIRECTION_BOUNDARIES = {'easy': (0, 180), 'medium': (0, 135, -135), 'hard': (0, 90, 180, -90)}


def _near_rounding_boundary(value: float) -> bool:
    """True when value sits within ROUNDING_GUARD of a tie in rounding to one decimal (the answers' precision), where
    any rounding convention is a coin toss."""
    scaled = value * 10
    return abs(scaled - math.floor(scaled) - 0.5) < ROUNDING_GUARD * 10


def _centre(obj: SceneObject) -> np.ndarray:
    return np.array(obj.centre[:2])


def _corners(obj: SceneObject) -> list[np.ndarray]:
    lo, hi = obj.bounds()
    return [np.array([x, y]) for x in (lo[0], hi[0]) for y in (lo[1], hi[1])]


def _direction_answer(
    positioning: SceneObject, orienting: SceneObject, querying: SceneObject, level: str
) -> str | None:
    """The label for the querying object's centre, or None when the question is ambiguous: objects too close, the
    centre near a class boundary, or part of the querying box in another class."""
    p, o, q = _centre(positioning), _centre(orienting), _centre(querying)
    if min(np.linalg.norm(o - p), np.linalg.norm(q - p)) < MIN_DIRECTION_DISTANCE:
        return None
    heading = o - p
    angle = signed_angle(heading, q - p)
    if not _angle_clear(angle, DIRECTION_BOUNDARIES[level]):
        return None
    label = direction_label(angle, level)
    if any(direction_label(signed_angle(heading, c - p), level) != label for c in _corners(querying)):
        return None
    return label


def _route_answer(stops: Sequence[SceneObject]) -> tuple[str, str] | None:
    points = [_centre(o) for o in stops]
    legs = [b - a for a, b in itertools.pairwise(points)]
    if min(np.linalg.norm(leg) for leg in legs) < MIN_DIRECTION_DISTANCE:
        return None
    turns = []
    for heading, nxt in itertools.pairwise(legs):
        angle = signed_angle(heading, nxt)
        # No option says "go straight", and a turn near 135 degrees is as much "back" as "left/right".
        if abs(angle) < MIN_TURN_DEG or not _angle_clear(angle, (135, -135)):
            return None
        turns.append(turn_label(angle))
    return turns[0], turns[1]


# ---------------------------------------------------------------- questions


def _lettered(items: Sequence[str], correct: str) -> tuple[list[str], str]:
    """Options 'A. item', 'B. item', ... in the given order, and the letter of the correct one."""
    if len(set(items)) != len(items) or correct not in items:
        raise ValueError(f'Options must be distinct and contain {correct!r}, got {list(items)}')
    return [f'{chr(65 + i)}. {item}' for i, item in enumerate(items)], chr(65 + list(items).index(correct))


def _multiple_choice(rng: np.random.Generator, correct: str, distractors: Sequence[str]) -> tuple[list[str], str]:
    """Options in a seeded random order, so that the answer letter carries no information."""
    items = [correct, *distractors]
    return _lettered([items[i] for i in rng.permutation(len(items))], correct)


def _sample(rng: np.random.Generator, items: Sequence[Any], k: int) -> list[Any]:
    if len(items) <= k:
        return list(items)
    return [items[i] for i in sorted(rng.choice(len(items), size=k, replace=False))]


def _fmt1(value: float) -> str:
    return f'{round(value, 1):.1f}'


def make_questions(scene: Scene, rng: np.random.Generator, training: bool, per_type: int) -> list[Question]:
    """All question categories for one scene; training=True uses the versioned training types."""
    objects = scene.objects
    counts = Counter(o.category for o in objects)
    unique = [o for o in objects if counts[o.category] == 1]
    questions: list[Question] = []

    for category in _sample(rng, sorted(counts), per_type):
        questions.append(
            Question('object_counting', COUNT_TEMPLATE.format(category=category), None, str(counts[category]))
        )

    pairs = [
        (a, b)
        for a, b in itertools.combinations(unique, 2)
        if box_distance(a, b) >= MIN_ABS_DISTANCE and not _near_rounding_boundary(box_distance(a, b))
    ]
    for a, b in _sample(rng, pairs, per_type):
        text = ABS_DISTANCE_TEMPLATE.format(object1=a.category, object2=b.category)
        questions.append(Question('object_abs_distance', text, None, _fmt1(box_distance(a, b))))

    for obj in _sample(rng, unique, per_type):
        longest_cm = round(max(obj.size) * 100)
        questions.append(
            Question('object_size_estimation', SIZE_TEMPLATE.format(category=obj.category), None, str(longest_cm))
        )

    length, width, _ = scene.room_size
    questions.append(Question('room_size_estimation', ROOM_SIZE_TEMPLATE, None, _fmt1(length * width)))

    for num_choices in (4, 3, 2) if training else (4,):
        qtype = REL_DISTANCE_TRAIN_TYPES[num_choices] if training else 'object_rel_distance'
        candidates = []
        for anchor in unique:
            others = [o for o in unique if o is not anchor]
            for group in itertools.combinations(others, num_choices):
                dists = sorted(box_distance(anchor, o) for o in group)
                if dists[1] - dists[0] >= REL_DISTANCE_MARGIN:
                    candidates.append((anchor, group))
        for anchor, group in _sample(rng, candidates, per_type):
            closest = min(group, key=lambda o: box_distance(anchor, o))
            # As in VSI-Bench, the options list the candidates in the order the question names them.
            names = [group[i].category for i in rng.permutation(len(group))]
            text = REL_DISTANCE_TEMPLATE.format(choices=', '.join(names), category=anchor.category)
            options, letter = _lettered(names, closest.category)
            questions.append(Question(qtype, text, options, letter))

    for level in ('easy', 'medium', 'hard'):
        qtype = DIRECTION_TRAIN_TYPES[level] if training else f'object_rel_direction_{level}'
        triples = []
        for triple in itertools.permutations(unique, 3):
            label = _direction_answer(*triple, level)
            if label is not None:
                triples.append((triple, label))
        for (positioning, orienting, querying), label in _sample(rng, triples, per_type):
            text = REL_DIRECTION_TEMPLATES[level].format(
                positioning=positioning.category, orienting=orienting.category, querying=querying.category
            )
            options, letter = _multiple_choice(rng, label, [d for d in DIRECTION_LABELS[level] if d != label])
            questions.append(Question(qtype, text, options, letter))

    routes = []
    for stops in itertools.permutations(unique, 4):
        turns = _route_answer(stops)
        if turns is not None:
            routes.append((stops, turns))
    for (start, first, second, goal), turns in _sample(rng, routes, per_type):
        text = ROUTE_TEMPLATE.format(
            start=start.category, first=first.category, second=second.category, goal=goal.category
        )
        correct = ', '.join(turns)
        others = [', '.join(t) for t in itertools.product(TURNS, repeat=2) if t != turns]
        options, letter = _multiple_choice(rng, correct, _sample(rng, others, 3))
        questions.append(Question('route_planning', text, options, letter))

    # First appearance per category (earliest instance); categories must appear frames apart so that the order
    # survives sampling 32 frames from the clip, and no glimpse of a category (a sliver below the visibility
    # threshold) may come that close to the one before it: the video would show both first in the same frame.
    first_seen: dict[str, int] = {}
    first_glimpse: dict[str, int] = {}
    for obj in objects:
        first_seen[obj.category] = min(first_seen.get(obj.category, obj.first_visible_frame), obj.first_visible_frame)
        first_glimpse[obj.category] = min(
            first_glimpse.get(obj.category, obj.first_glimpse_frame), obj.first_glimpse_frame
        )
    min_gap = appearance_min_gap(len(scene.camera))
    orders = []
    for group in itertools.combinations(sorted(first_seen), 4):
        ordered = sorted(group, key=first_seen.get)
        if all(first_glimpse[b] - first_seen[a] >= min_gap for a, b in itertools.pairwise(ordered)):
            orders.append(ordered)
    for ordered in _sample(rng, orders, per_type):
        shown = [ordered[i] for i in rng.permutation(4)]
        text = APPEARANCE_TEMPLATE.format(categories=', '.join(shown))
        perms = [', '.join(p) for p in itertools.permutations(ordered) if list(p) != ordered]
        options, letter = _multiple_choice(rng, ', '.join(ordered), _sample(rng, perms, 3))
        questions.append(Question('obj_appearance_order', text, options, letter))
    return questions


def appearance_min_gap(frames: int) -> int:
    """Frames between first appearances so that a uniform 32-frame sample still sees them in order."""
    return math.ceil(frames / 32) + 1


# ---------------------------------------------------------------- output


def _jsonl(rows: Sequence[dict[str, Any]]) -> str:
    return ''.join(json.dumps(row, ensure_ascii=False) + '\n' for row in rows)


def conversations_row(row: dict[str, Any]) -> dict[str, Any]:
    """A benchmark row in the VLM-3R `conversations` layout of training sets, video `<dataset>/<scene_name>.mp4`."""
    prompt = build_prompt(row['question'], row['question_type'], row['options'])
    return {
        'id': str(row['id']),
        'data_source': row['dataset'],
        'scene_name': row['scene_name'],
        'question_type': row['question_type'],
        'video': f'{row["dataset"]}/{row["scene_name"]}.mp4',
        'conversations': [
            {'from': 'human', 'value': '<image>\n' + prompt},
            {'from': 'gpt', 'value': row['ground_truth']},
        ],
    }


def split_scenes(num_scenes: int, test_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Scene indices for train and test; each side gets at least one scene."""
    if num_scenes < 2:
        raise ValueError(f'--num_scenes must be at least 2 (one train and one test scene), got {num_scenes}')
    if not 0 < test_fraction < 1:
        raise ValueError(f'--test_fraction must be between 0 and 1, got {test_fraction}')
    num_test = min(num_scenes - 1, max(1, round(num_scenes * test_fraction)))
    order = np.random.default_rng(seed).permutation(num_scenes)
    return sorted(int(i) for i in order[num_test:]), sorted(int(i) for i in order[:num_test])


def make_scenes(
    output_dir: str,
    num_scenes: int = 6,
    seed: int = 0,
    test_fraction: float = 0.34,
    frames: int = 48,
    width: int = 160,
    height: int = 120,
    fps: int = 8,
    questions_per_type: int = 3,
    progress: bool = True,
) -> SyntheticSetSummary:
    """Generates the scenes, videos and question files under output_dir and returns a summary.

    The same arguments give byte-identical question files: scene i draws from its own generator seeded with
    (seed, i), so it does not depend on how many other scenes are made.
    """
    started = time.perf_counter()
    if width % 2 or height % 2 or width < 32 or height < 32:
        raise ValueError(f'--width and --height must be even and at least 32 (yuv420p), got {width}x{height}')
    if frames < 8:
        raise ValueError(f'--frames must be at least 8 for a full camera turn, got {frames}')
    if fps < 1 or questions_per_type < 1:
        raise ValueError(f'--fps and --questions_per_type must be positive, got {fps} and {questions_per_type}')
    if seed < 0:  # numpy's generators take non-negative seeds only ('expected non-negative integer')
        raise ValueError(f'--seed must be a non-negative integer, got {seed}')
    train_ids, _ = split_scenes(num_scenes, test_fraction, seed)
    video_dir = os.path.join(output_dir, 'videos', DATASET)
    os.makedirs(video_dir, exist_ok=True)
    # An earlier run's question files would not match the videos this one rewrites: a run stopped before its end
    # leaves none, rather than a set that looks complete.
    for filename in QUESTION_FILES:
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(output_dir, filename))

    scenes: list[Scene] = []
    test_rows: list[dict[str, Any]] = []
    train_rows: list[dict[str, Any]] = []
    train_qa_rows: list[dict[str, Any]] = []
    for index in tqdm(range(num_scenes), desc='scenes', disable=not progress):
        rng = np.random.default_rng([seed, index])
        name = f'{SCENE_PREFIX}{index:04d}'
        training = index in train_ids
        scene, rgb = generate_scene(name, 'train' if training else 'test', rng, frames, width, height)
        write_video(os.path.join(output_dir, 'videos', scene.video), rgb, fps)
        scenes.append(scene)
        for k, q in enumerate(make_questions(scene, rng, training, questions_per_type)):
            row = {
                'id': len(test_rows),
                'dataset': DATASET,
                'scene_name': name,
                'question_type': q.question_type,
                'question': q.question,
                'options': q.options,
                'ground_truth': q.ground_truth,
            }
            if not training:
                test_rows.append(row)
                continue
            row['id'] = f'{name}_{k:03d}'
            train_qa_rows.append(row)
            train_rows.append(conversations_row(row))

    meta = {
        'dataset': DATASET,
        'seed': seed,
        'frames': frames,
        'width': width,
        'height': height,
        'fps': fps,
        'hfov_deg': HFOV_DEG,
        'visibility_min_pixels': visibility_min_pixels(width, height),
        'appearance_min_gap': appearance_min_gap(frames),
        'scenes': [asdict(s) for s in scenes],
    }
    test_names = [s.scene_name for s in scenes if s.split == 'test']
    texts = (
        _jsonl(test_rows),
        json_text(train_rows),
        _jsonl(train_qa_rows),
        ''.join(n + '\n' for n in test_names),
        json.dumps(meta, indent=1) + '\n',
    )
    outputs = dict(zip(QUESTION_FILES, texts, strict=True))
    for filename, text in outputs.items():
        write_text_atomic(os.path.join(output_dir, filename), [text])
    return SyntheticSetSummary(
        output_dir=output_dir,
        train_scenes=[s.scene_name for s in scenes if s.split == 'train'],
        test_scenes=test_names,
        test_question_types=dict(sorted(Counter(r['question_type'] for r in test_rows).items())),
        train_question_types=dict(sorted(Counter(r['question_type'] for r in train_rows).items())),
        seconds=time.perf_counter() - started,
        files=sorted(outputs),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        '--output_dir',
        default='demo_out/scenes',
        help='Folder for videos/ and the question files. (default: %(default)s)',
    )
    parser.add_argument(
        '--num_scenes', type=int, default=6, help='Number of scenes (train + test). (default: %(default)s)'
    )
    parser.add_argument(
        '--test_fraction',
        type=float,
        default=0.34,
        help='Share of scenes held out for test.jsonl. (default: %(default)s)',
    )
    parser.add_argument(
        '--seed', type=int, default=0, help='Seed; the same seed gives the same files. (default: %(default)s)'
    )
    parser.add_argument(
        '--frames', type=int, default=48, help='Frames per video (one full camera turn). (default: %(default)s)'
    )
    parser.add_argument('--width', type=int, default=160, help='Frame width in pixels (even). (default: %(default)s)')
    parser.add_argument('--height', type=int, default=120, help='Frame height in pixels (even). (default: %(default)s)')
    parser.add_argument(
        '--fps', type=int, default=8, help='Constant frame rate of the encoded videos. (default: %(default)s)'
    )
    parser.add_argument(
        '--questions_per_type',
        type=int,
        default=3,
        help='Most questions per scene and type (room size is asked once per scene). (default: %(default)s)',
    )
    args = parser.parse_args(argv)
    try:
        summary = make_scenes(
            args.output_dir,
            args.num_scenes,
            args.seed,
            args.test_fraction,
            args.frames,
            args.width,
            args.height,
            args.fps,
            args.questions_per_type,
        )
    except (ValueError, RuntimeError, OSError) as e:
        print(f'make_synthetic_scenes.py: error: {e}', file=sys.stderr)
        return 1
    print(
        f'{len(summary.train_scenes)} train scenes, {len(summary.test_scenes)} test scenes in '
        f'{summary.seconds:.1f} s -> {summary.output_dir}'
    )
    print(f'test.jsonl: {summary.num_test_questions} questions {summary.test_question_types}')
    print(f'train.json / train_qa.jsonl: {summary.num_train_questions} questions {summary.train_question_types}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
