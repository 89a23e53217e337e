"""Visual tokens and sequence length per training sample, counted by Qwen3-VL's own processor classes.

For the configured frame count and pixel budget (vsi_grpo_config.yaml: the image limit of
`vllm_limit_mm_per_prompt`, the ENV block's MAX_PIXELS / VIDEO_MAX_PIXELS, a shell variable winning as in the
launchers) it loads frames the way swift's Qwen3-VL template does (qwen-vl-utils, configured by swift's own code
from those variables), runs transformers' `Qwen2VLImageProcessor` and `Qwen3VLVideoProcessor` built with
Qwen3-VL-8B-Instruct's preprocessing parameters (patch 16, 2 x 2 merge, temporal patch 2, its size limits and
normalisation; nothing is downloaded) with `do_resize=False` as swift calls them, and counts the tokens their grids
imply. Video media is what training uses: the frames written as one clip by preprocess_vsi_data.py's `write_clip`
and read back with its `video_env` (every frame). It then adds the prompt text and the completion budget, and the
KV cache one such sequence takes in Qwen3-VL-8B.

Usage::

    python bench/visual_tokens.py                                    # the YAML's settings, 640x480 frames
    python bench/visual_tokens.py --frames 16 --max_pixels 147456 --frame_size 640x480 1920x1440
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from demo.build_tiny_qwen3_vl import QWEN3_VL_IMAGE_PROCESSOR, QWEN3_VL_VIDEO_PROCESSOR  # noqa: E402
from eval_vsi_bench import QWEN_VL_UTILS_MAX_TOKENS  # noqa: E402
from extract_frames import QWEN3_VL_TOKEN_PIXELS  # noqa: E402
from preprocess_vsi_data import DEFAULT_VIDEO_FPS, video_env, write_clip  # noqa: E402
from train_vsi_grpo import DEFAULT_CONFIG, load_config  # noqa: E402

# Qwen3-VL-8B-Instruct config.json text_config: 36 layers, 8 key/value heads of 128 dims, bf16 cache.
KV_BYTES_PER_TOKEN = 2 * 36 * 8 * 128 * 2  # K and V, layers, heads, head dim, bytes
MARKUP_PER_IMAGE = 2  # <|vision_start|> and <|vision_end|> around every image's pads
GIB = 1024**3


@dataclass
class SampleTokens:
    """What one training sample costs the model, for one frame size and one way of passing the frames."""

    frame_size: str  # as extracted, WxH
    media: str  # 'images' or 'video'
    model_size: str  # WxH after qwen-vl-utils' resize, what the vision tower sees
    visual: int  # visual tokens, from the processor's grid: t * h * w / merge^2
    markup: int  # vision start/end tokens (and, for video, the per-group timestamps: estimated)
    text: int  # prompt text and chat template (estimated)
    completion: int  # max_completion_length

    @property
    def prompt(self) -> int:
        return self.visual + self.markup + self.text

    @property
    def sequence(self) -> int:
        return self.prompt + self.completion


QWEN_VL_UTILS_MAX_PIXELS = QWEN_VL_UTILS_MAX_TOKENS * QWEN3_VL_TOKEN_PIXELS  # an image's budget without MAX_PIXELS


def configured(config: str) -> dict:
    """Frames, pixel budgets and length limits from the YAML, with the shell's variables winning."""
    env, args = load_config(config)
    limits = args.get('vllm_limit_mm_per_prompt') or {}
    return {
        'frames': int(limits.get('image') or 32),
        'max_pixels': int(os.environ.get('MAX_PIXELS', env.get('MAX_PIXELS', QWEN_VL_UTILS_MAX_PIXELS))),
        'video_max_pixels': int(os.environ.get('VIDEO_MAX_PIXELS', env.get('VIDEO_MAX_PIXELS', 768 * 32 * 32))),
        'max_completion_length': int(args.get('max_completion_length', 512)),
        'max_length': args.get('max_length'),
        'vllm_max_model_len': args.get('vllm_max_model_len'),
        'per_engine_sequences': int(args.get('per_device_train_batch_size', 1))
        * int(args.get('vllm_tensor_parallel_size', 1))
        * int(args.get('gradient_accumulation_steps', 1)),
    }


def setup_qwen_vl_utils(frames: int, max_pixels: int, video_max_pixels: int):
    """qwen-vl-utils configured exactly as swift's Qwen3-VL loader configures it from the environment."""
    os.environ.update(video_env(frames), MAX_PIXELS=str(max_pixels), VIDEO_MAX_PIXELS=str(video_max_pixels))
    from qwen_vl_utils import vision_process
    from swift.model.models.qwen import compat_qwen_vl_utils, patch_qwen_vl_utils

    compat_qwen_vl_utils(image_patch_size=QWEN3_VL_IMAGE_PROCESSOR['patch_size'])
    patch_qwen_vl_utils(vision_process)
    return vision_process


def count(
    frame_size: tuple[int, int], frames: int, text: int, completion: int, vision_process, workdir: str
) -> list[SampleTokens]:
    """Tokens for `frames` frames of `frame_size`, as images and as one clip, through the real processors."""
    from transformers import Qwen2VLImageProcessor, Qwen3VLVideoProcessor

    width, height = frame_size
    rng = np.random.default_rng(0)
    paths = []
    for i in range(frames):
        paths.append(os.path.join(workdir, f'{width}x{height}_{i:03d}.jpg'))
        Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(paths[-1], quality=90)
    merge = QWEN3_VL_IMAGE_PROCESSOR['merge_size'] ** 2
    patch = QWEN3_VL_IMAGE_PROCESSOR['patch_size']

    images = [vision_process.fetch_image({'image': path}, image_patch_size=patch) for path in paths]
    grid = Qwen2VLImageProcessor(**QWEN3_VL_IMAGE_PROCESSOR)(images=images, do_resize=False, return_tensors='pt')
    image_tokens = int(grid['image_grid_thw'].prod(dim=-1).sum()) // merge

    clip = os.path.join(workdir, f'{width}x{height}.mp4')
    write_clip(paths, clip, DEFAULT_VIDEO_FPS)
    (video, metadata), _ = vision_process.fetch_video(
        {'video': clip}, image_patch_size=patch, return_video_sample_fps=True, return_video_metadata=True
    )
    processed = Qwen3VLVideoProcessor(**QWEN3_VL_VIDEO_PROCESSOR)(
        videos=[video], video_metadata=[metadata], do_resize=False, do_sample_frames=False, return_tensors='pt'
    )
    t, h, w = (int(x) for x in processed['video_grid_thw'][0])
    if t * QWEN3_VL_VIDEO_PROCESSOR['temporal_patch_size'] < frames:
        raise RuntimeError(f"the processor saw {t * 2} of the clip's {frames} frames: check FPS / FPS_MAX_FRAMES")
    # Qwen3VLProcessor writes "<t seconds>" before each group of temporal_patch_size frames: ~6 text tokens each.
    markup_video = t * (MARKUP_PER_IMAGE + 6)
    size = f'{width}x{height}'
    image_size = f'{images[0].width}x{images[0].height}'
    video_size = f'{video.shape[-1]}x{video.shape[-2]}'
    return [
        SampleTokens(size, 'images', image_size, image_tokens, MARKUP_PER_IMAGE * frames, text, completion),
        SampleTokens(size, 'video', video_size, t * h * w // merge, markup_video, text, completion),
    ]


def parse_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(f'frame size {text!r} is not WIDTHxHEIGHT, e.g. 640x480') from None
    return width, height


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--config', default=DEFAULT_CONFIG, help='the GRPO YAML to read settings from')
    parser.add_argument('--frames', type=int, help='frames per sample (default: the YAML image limit)')
    parser.add_argument('--max_pixels', type=int, help='MAX_PIXELS (default: the shell, else the YAML ENV)')
    parser.add_argument('--video_max_pixels', type=int, help='VIDEO_MAX_PIXELS (default: the shell, else the YAML ENV)')
    parser.add_argument(
        '--frame_size',
        type=parse_size,
        nargs='+',
        default=[(640, 480)],
        help='extracted frame sizes, WxH (default: 640x480, ScanNet; ARKitScenes and ScanNet++ are 4:3 as well)',
    )
    parser.add_argument(
        '--text_tokens', type=int, default=150, help='prompt text + chat template tokens (estimate; default: 150)'
    )
    opts = parser.parse_args(argv)
    for name in ('frames', 'max_pixels', 'video_max_pixels'):
        if getattr(opts, name) is not None and getattr(opts, name) < 1:  # 0 used to mean the YAML's value
            parser.error(f'--{name} must be positive, got {getattr(opts, name)}')
    settings = configured(opts.config)
    frames = settings['frames'] if opts.frames is None else opts.frames
    max_pixels = settings['max_pixels'] if opts.max_pixels is None else opts.max_pixels
    video_max_pixels = settings['video_max_pixels'] if opts.video_max_pixels is None else opts.video_max_pixels
    completion = settings['max_completion_length']
    vision_process = setup_qwen_vl_utils(frames, max_pixels, video_max_pixels)
    with tempfile.TemporaryDirectory() as workdir:
        rows = [
            row
            for size in opts.frame_size
            for row in count(size, frames, opts.text_tokens, completion, vision_process, workdir)
        ]
    print(
        f'Qwen3-VL-8B, {frames} frames per sample, MAX_PIXELS {max_pixels}, VIDEO_MAX_PIXELS {video_max_pixels}, '
        f'{opts.text_tokens} text tokens (estimate), max_completion_length {completion}'
    )
    header = ('frames', 'media', 'model sees', 'visual', 'markup', 'prompt', 'sequence', 'KV/seq GiB')
    print('{:<10} {:<7} {:<11} {:>7} {:>7} {:>7} {:>9} {:>11}'.format(*header))
    for row in rows:
        print(
            f'{row.frame_size:<10} {row.media:<7} {row.model_size:<11} {row.visual:>7} {row.markup:>7} '
            f'{row.prompt:>7} {row.sequence:>9} {row.sequence * KV_BYTES_PER_TOKEN / GIB:>11.2f}'
        )
    longest = max(rows, key=lambda row: row.sequence)
    for key, needed in (('max_length', longest.prompt), ('vllm_max_model_len', longest.sequence)):
        limit = settings[key]
        verdict = 'not set' if limit is None else 'fits' if needed <= int(limit) else 'TOO SMALL'
        print(f'{key} {limit}: longest needs {needed} -> {verdict}')
    engine = settings['per_engine_sequences']
    print(
        f'KV cache of one colocated vLLM engine ({engine} sequences of {longest.sequence} tokens, no prefix sharing): '
        f'{engine * longest.sequence * KV_BYTES_PER_TOKEN / GIB:.1f} GiB'
    )
    return 0


if __name__ == '__main__':
    sys.exit(main())
