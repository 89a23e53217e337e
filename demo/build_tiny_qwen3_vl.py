"""Build a tiny, randomly initialised Qwen3-VL that swift loads like the real one, without any download.

The folder holds the real transformers classes at toy sizes: `Qwen3VLForConditionalGeneration` (text hidden 32,
2 layers; vision depth 2, patch 16, temporal patch 2, merge 2, deepstack at layer 1), a `Qwen3VLProcessor` with
its real image processor (`Qwen2VLImageProcessor`) and video processor (`Qwen3VLVideoProcessor`), a byte-level
BPE `Qwen2Tokenizer` trained on a small built-in corpus, and the Qwen3-VL-Instruct chat template. Qwen's 26
added tokens sit at their real ids 151643-151668 and the vocabulary has the real size 151936, because swift's
Qwen3-VL template hard-codes the image/video pad ids. About 24 MB, built in seconds on CPU (6 s on 2 busy cores).

Its answers are meaningless: it exists so the pipeline (preprocessing, GRPO, evaluation) runs end to end on a
laptop. With its tied embeddings, greedy decoding tends to repeat the last prompt token (a newline after
`<|im_start|>assistant`); sampling mostly yields filler tokens that decode as `<unusedN>`.

`--size 8b` builds Qwen3-VL-8B-Instruct's architecture instead (8.77B parameters, 17.5 GB in bfloat16, made on the
GPU when there is one), random and with the same tokenizer, so that GRPO's memory and step time can be measured on
a GPU node that cannot download the real weights (`MODEL_SIZE=8b bash bench/gpu_check.sh`).

Usage:
    python demo/build_tiny_qwen3_vl.py --output_dir demo_out/tiny_qwen3_vl --seed 0
    python demo/build_tiny_qwen3_vl.py --output_dir /tmp/gpu_model --head_dim 64   # for vLLM (bench/gpu_check.sh)
    python demo/build_tiny_qwen3_vl.py --output_dir /tmp/random_8b --size 8b        # 8B architecture, random

From Python: `build_tiny_qwen3_vl('demo_out/tiny_qwen3_vl', seed=0)` returns the folder; load it with
`TransformersEngine(folder, model_type='qwen3_vl')` or `swift rlhf --model folder --model_type qwen3_vl
--check_model false ...`. A complete folder (its marker file records the seed and the builder's source hash) is
reused as is; the model is built in a temporary sibling folder and renamed into place, so an interrupted build
never looks complete.
"""

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

MARKER_NAME = 'tiny_model_complete.json'
VOCAB_SIZE = 151936  # Qwen3-VL's embedding rows (the tokenizer itself has 151669 tokens, as in the real model)
FIRST_SPECIAL_ID = 151643
HEAD_DIM = 8  # attention head size of the text and vision layers (--head_dim)
SIZES = ('tiny', '8b')
TINY_TEXT = {
    'hidden_size': 32,
    'intermediate_size': 64,
    'num_hidden_layers': 2,
    'num_attention_heads': 4,
    'num_key_value_heads': 2,
}
TINY_VISION = {
    'depth': 2,
    'intermediate_size': 64,
    'num_heads': 4,
    'out_hidden_size': 32,
    'deepstack_visual_indexes': [1],
}
# Qwen/Qwen3-VL-8B-Instruct config.json, the architecture of `--size 8b` (8.77B parameters, head_dim 128).
QWEN3_VL_8B_TEXT = {
    'hidden_size': 4096,
    'intermediate_size': 12288,
    'num_hidden_layers': 36,
    'num_attention_heads': 32,
    'num_key_value_heads': 8,
}
QWEN3_VL_8B_VISION = {
    'depth': 27,
    'hidden_size': 1152,
    'intermediate_size': 4304,
    'num_heads': 16,
    'out_hidden_size': 4096,
    'deepstack_visual_indexes': [8, 16, 24],
}
QWEN3_VL_8B_HEAD_DIM = 128
BPE_TRAIN_VOCAB_SIZE = 1024  # merges learned from the corpus; the rest of the 151643 regular ids are fillers

# Patching, pixel budgets, frame sampling and normalisation of Qwen/Qwen3-VL-*-Instruct's preprocessor_config.json
# and video_preprocessor_config.json (bench/visual_tokens.py counts tokens with them too).
_QWEN3_VL_VISION = {
    'patch_size': 16,
    'temporal_patch_size': 2,
    'merge_size': 2,
    'image_mean': [0.5, 0.5, 0.5],
    'image_std': [0.5, 0.5, 0.5],
}
QWEN3_VL_IMAGE_PROCESSOR = {**_QWEN3_VL_VISION, 'size': {'shortest_edge': 65536, 'longest_edge': 16777216}}
QWEN3_VL_VIDEO_PROCESSOR = {
    **_QWEN3_VL_VISION,
    'size': {'shortest_edge': 4096, 'longest_edge': 25165824},
    'fps': 2,
    'min_frames': 4,
    'max_frames': 768,
}

# (content, special) in id order from 151643, as in Qwen/Qwen3-VL-*-Instruct tokenizer_config.json
# `added_tokens_decoder`. The tool/fim/think tokens are added tokens with special=false there too, so
# `skip_special_tokens` keeps them in decoded text.
QWEN_ADDED_TOKENS: list[tuple[str, bool]] = [
    ('<|endoftext|>', True),
    ('<|im_start|>', True),
    ('<|im_end|>', True),
    ('<|object_ref_start|>', True),
    ('<|object_ref_end|>', True),
    ('<|box_start|>', True),
    ('<|box_end|>', True),
    ('<|quad_start|>', True),
    ('<|quad_end|>', True),
    ('<|vision_start|>', True),
    ('<|vision_end|>', True),
    ('<|vision_pad|>', True),
    ('<|image_pad|>', True),
    ('<|video_pad|>', True),
    ('<tool_call>', False),
    ('</tool_call>', False),
    ('<|fim_prefix|>', False),
    ('<|fim_middle|>', False),
    ('<|fim_suffix|>', False),
    ('<|fim_pad|>', False),
    ('<|repo_name|>', False),
    ('<|file_sep|>', False),
    ('<tool_response>', False),
    ('</tool_response>', False),
    ('<think>', False),
    ('</think>', False),
]
# Qwen's `additional_special_tokens`: the special added tokens other than <|endoftext|> (which is pad/unk).
EXTRA_SPECIAL_TOKENS = [content for content, special in QWEN_ADDED_TOKENS[1:] if special]

# Chat template of Qwen/Qwen3-VL-8B-Instruct (chat_template.json, Apache-2.0), verbatim.
QWEN3_VL_CHAT_TEMPLATE = (
    "{%- if tools %}\n    {{- '<|im_start|>system\\n' }}\n    {%- if messages[0].role == 'system' %}\n"
    '        {%- if messages[0].content is string %}\n            {{- messages[0].content }}\n'
    '        {%- else %}\n            {%- for content in messages[0].content %}\n'
    "                {%- if 'text' in content %}\n                    {{- content.text }}\n"
    '                {%- endif %}\n            {%- endfor %}\n        {%- endif %}\n'
    "        {{- '\\n\\n' }}\n    {%- endif %}\n"
    '    {{- "# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\n'
    'You are provided with function signatures within <tools></tools> XML tags:\\n<tools>" }}\n'
    '    {%- for tool in tools %}\n        {{- "\\n" }}\n        {{- tool | tojson }}\n    {%- endfor %}\n'
    '    {{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments '
    'within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": '
    '<args-json-object>}\\n</tool_call><|im_end|>\\n" }}\n'
    "{%- else %}\n    {%- if messages[0].role == 'system' %}\n        {{- '<|im_start|>system\\n' }}\n"
    '        {%- if messages[0].content is string %}\n            {{- messages[0].content }}\n'
    '        {%- else %}\n            {%- for content in messages[0].content %}\n'
    "                {%- if 'text' in content %}\n                    {{- content.text }}\n"
    '                {%- endif %}\n            {%- endfor %}\n        {%- endif %}\n'
    "        {{- '<|im_end|>\\n' }}\n    {%- endif %}\n{%- endif %}\n"
    '{%- set image_count = namespace(value=0) %}\n{%- set video_count = namespace(value=0) %}\n'
    '{%- for message in messages %}\n    {%- if message.role == "user" %}\n'
    "        {{- '<|im_start|>' + message.role + '\\n' }}\n        {%- if message.content is string %}\n"
    '            {{- message.content }}\n        {%- else %}\n            {%- for content in message.content %}\n'
    "                {%- if content.type == 'image' or 'image' in content or 'image_url' in content %}\n"
    '                    {%- set image_count.value = image_count.value + 1 %}\n'
    '                    {%- if add_vision_id %}Picture {{ image_count.value }}: {% endif -%}\n'
    '                    <|vision_start|><|image_pad|><|vision_end|>\n'
    "                {%- elif content.type == 'video' or 'video' in content %}\n"
    '                    {%- set video_count.value = video_count.value + 1 %}\n'
    '                    {%- if add_vision_id %}Video {{ video_count.value }}: {% endif -%}\n'
    '                    <|vision_start|><|video_pad|><|vision_end|>\n'
    "                {%- elif 'text' in content %}\n                    {{- content.text }}\n"
    '                {%- endif %}\n            {%- endfor %}\n        {%- endif %}\n'
    "        {{- '<|im_end|>\\n' }}\n"
    '    {%- elif message.role == "assistant" %}\n'
    "        {{- '<|im_start|>' + message.role + '\\n' }}\n        {%- if message.content is string %}\n"
    '            {{- message.content }}\n        {%- else %}\n'
    '            {%- for content_item in message.content %}\n'
    "                {%- if 'text' in content_item %}\n                    {{- content_item.text }}\n"
    '                {%- endif %}\n            {%- endfor %}\n        {%- endif %}\n'
    '        {%- if message.tool_calls %}\n            {%- for tool_call in message.tool_calls %}\n'
    '                {%- if (loop.first and message.content) or (not loop.first) %}\n'
    "                    {{- '\\n' }}\n                {%- endif %}\n"
    '                {%- if tool_call.function %}\n                    {%- set tool_call = tool_call.function %}\n'
    '                {%- endif %}\n'
    '                {{- \'<tool_call>\\n{"name": "\' }}\n                {{- tool_call.name }}\n'
    '                {{- \'", "arguments": \' }}\n                {%- if tool_call.arguments is string %}\n'
    '                    {{- tool_call.arguments }}\n                {%- else %}\n'
    '                    {{- tool_call.arguments | tojson }}\n                {%- endif %}\n'
    "                {{- '}\\n</tool_call>' }}\n            {%- endfor %}\n        {%- endif %}\n"
    "        {{- '<|im_end|>\\n' }}\n"
    '    {%- elif message.role == "tool" %}\n'
    '        {%- if loop.first or (messages[loop.index0 - 1].role != "tool") %}\n'
    "            {{- '<|im_start|>user' }}\n        {%- endif %}\n        {{- '\\n<tool_response>\\n' }}\n"
    '        {%- if message.content is string %}\n            {{- message.content }}\n        {%- else %}\n'
    '            {%- for content in message.content %}\n'
    "                {%- if content.type == 'image' or 'image' in content or 'image_url' in content %}\n"
    '                    {%- set image_count.value = image_count.value + 1 %}\n'
    '                    {%- if add_vision_id %}Picture {{ image_count.value }}: {% endif -%}\n'
    '                    <|vision_start|><|image_pad|><|vision_end|>\n'
    "                {%- elif content.type == 'video' or 'video' in content %}\n"
    '                    {%- set video_count.value = video_count.value + 1 %}\n'
    '                    {%- if add_vision_id %}Video {{ video_count.value }}: {% endif -%}\n'
    '                    <|vision_start|><|video_pad|><|vision_end|>\n'
    "                {%- elif 'text' in content %}\n                    {{- content.text }}\n"
    '                {%- endif %}\n            {%- endfor %}\n        {%- endif %}\n'
    "        {{- '\\n</tool_response>' }}\n"
    '        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}\n'
    "            {{- '<|im_end|>\\n' }}\n        {%- endif %}\n    {%- endif %}\n{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n    {{- '<|im_start|>assistant\\n' }}\n{%- endif %}\n"
)

# What the tokenizer learns merges from: the VSI-Bench prompt texts and question wordings, answer forms
# (option letters, numbers, <think>/<answer> tags) and room/object words, so the prompts the bundle builds
# tokenize into a few hundred ids rather than one id per byte.
_OBJECTS = (
    'chair table sofa bed lamp door window tv cabinet shelf desk toilet sink bathtub refrigerator stove '
    'microwave washer monitor keyboard pillow plant trash can bookshelf counter dresser mirror stool box '
    'picture curtain nightstand printer backpack bag laptop suitcase towel radiator oven fireplace cup'
)
_CORPUS_LINES = [
    'These are frames of a video.',
    'Please answer the question using a single word or phrase.',
    'Options:',
    "Answer with the option's letter from the given choices directly.",
    'How many {obj}(s) are in this room?',
    'What is the length of the longest dimension (length, width, or height) of the {obj}, measured in centimeters?',
    'What is the size of this room (in square meters)? If multiple rooms are shown, estimate the size of the '
    'combined space.',
    'Measuring from the closest point of each object, what is the direct distance between the {obj} and the '
    'table (in meters)?',
    'Measuring from the closest point of each object, which of these objects (chair, table, sofa, bed) is the '
    'closest to the {obj}?',
    'If I am standing by the {obj} and facing the table, is the sofa to my front-left, front-right, back-left, '
    'or back-right? The directions refer to the quadrants of a Cartesian plane (if I am standing at the origin '
    'and facing along the positive y-axis).',
    'If I am standing by the {obj} and facing the door, is the bed to my left, right, or back? An object is to '
    'my back if I would have to turn at least 135 degrees in order to face it.',
    'You are a robot beginning at the {obj} facing the door. You want to navigate to the bed. You will perform '
    "the following actions (Note: for each [please fill in], choose either 'turn back,' 'turn left,' or "
    "'turn right.'): 1. Go forward until the table 2. [please fill in] 3. Go forward until the bed. You have "
    'reached the final destination.',
    'What will be the first-time appearance order of the following categories in the video: {obj}, chair, table, lamp?',
    'A. {obj}',
    'B. {obj}',
    'C. {obj}',
    'D. {obj}',
    'A',
    'B',
    'C',
    'D',
    'A.',
    'B.',
    'C.',
    'D.',
    '<think>The {obj} is about 1.5 meters from the table.</think> <answer>B</answer>',
    'The answer is 3. It is 2.5 meters long, 120 centimeters wide and 0.8 meters high.',
    'You are a helpful assistant. Look at the frames and answer the question about the room.',
]
_NUMBERS = [str(n) for n in range(0, 101)] + ['0.5', '1.2', '1.5', '2.5', '3.7', '12.5', '150', '200', '1000']


def _corpus() -> list[str]:
    lines = [line.format(obj=obj) for obj in _OBJECTS.split() for line in _CORPUS_LINES]
    return lines + [' '.join(_NUMBERS), ' '.join(_OBJECTS.split()), 'abcdefghijklmnopqrstuvwxyz ' * 2]


def builder_source_hash() -> str:
    """sha256 of this file: a changed builder invalidates folders (and test caches) built by an older one."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


def is_complete(
    model_dir: Path, seed: int, answer_prior: bool = False, head_dim: int = HEAD_DIM, size: str = 'tiny'
) -> bool:
    """True when `model_dir` was fully built by this version of the builder with these settings."""
    marker = Path(model_dir) / MARKER_NAME
    try:
        info = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    return (
        info.get('seed') == seed
        and info.get('answer_prior', False) == answer_prior
        and info.get('head_dim', HEAD_DIM) == head_dim
        and info.get('size', 'tiny') == size
        and info.get('builder_sha256') == builder_source_hash()
    )


def _train_vocab_and_merges() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Learn a small byte-level BPE with Qwen's own normaliser and pre-tokeniser, then pad it with filler tokens
    up to id 151642 and place Qwen's added tokens at their real ids 151643-151668."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    bpe = Tokenizer(models.BPE())
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior='isolated', invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=BPE_TRAIN_VOCAB_SIZE,
        min_frequency=1,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(_corpus(), trainer=trainer)
    model_json = json.loads(bpe.to_str())['model']
    vocab: dict[str, int] = dict(model_json['vocab'])
    merges = [tuple(m.split(' ', 1)) if isinstance(m, str) else tuple(m) for m in model_json['merges']]
    # Fillers are never produced by encoding (no merge leads to them); a random model does sample them, and
    # their ASCII names keep decoded text printable.
    for token_id in range(len(vocab), FIRST_SPECIAL_ID):
        vocab[f'<unused{token_id}>'] = token_id
    for offset, (content, _) in enumerate(QWEN_ADDED_TOKENS):
        vocab[content] = FIRST_SPECIAL_ID + offset
    return vocab, merges


def _build_processor():
    from tokenizers import AddedToken
    from transformers import Qwen2Tokenizer, Qwen2VLImageProcessor, Qwen3VLProcessor, Qwen3VLVideoProcessor

    vocab, merges = _train_vocab_and_merges()
    tokenizer = Qwen2Tokenizer(
        vocab=vocab,
        merges=merges,
        unk_token=None,
        bos_token=None,
        eos_token='<|im_end|>',
        pad_token='<|endoftext|>',
        extra_special_tokens=EXTRA_SPECIAL_TOKENS,
        model_max_length=262144,
        errors='replace',
        split_special_tokens=False,
        clean_up_tokenization_spaces=False,
    )
    # The tokens are in the vocabulary already, so adding them keeps their ids; it marks them unsplittable.
    tokenizer.add_tokens(
        [AddedToken(content, special=special, normalized=False) for content, special in QWEN_ADDED_TOKENS]
    )
    image_processor = Qwen2VLImageProcessor(**QWEN3_VL_IMAGE_PROCESSOR)
    video_processor = Qwen3VLVideoProcessor(**QWEN3_VL_VIDEO_PROCESSOR)
    return Qwen3VLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        chat_template=QWEN3_VL_CHAT_TEMPLATE,
    )


def mrope_section(head_dim: int) -> list[int]:
    """Split head_dim / 2 rotary pairs over (time, height, width) in the real model's proportions: its head_dim 128
    has [24, 20, 20]."""
    pairs = head_dim // 2
    spatial = pairs * 5 // 16
    return [pairs - 2 * spatial, spatial, spatial]


def check_head_dim(head_dim: int) -> None:
    """A head size the text and vision attention can use: a multiple of 8 (8 is the smallest with all three rotary
    sections non-empty), up to 256 (the largest flash-attention kernels take)."""
    if head_dim % 8 or not 8 <= head_dim <= 256:
        raise ValueError(f'head_dim must be a multiple of 8 from 8 to 256, got {head_dim}')


def build_config(head_dim: int = HEAD_DIM, size: str = 'tiny'):
    """The model's `Qwen3VLConfig`: toy sizes, or with `size` '8b' Qwen3-VL-8B-Instruct's (`head_dim` as
    resolve_head_dim gives it: 128)."""
    from transformers import Qwen3VLConfig

    ids = {content: FIRST_SPECIAL_ID + i for i, (content, _) in enumerate(QWEN_ADDED_TOKENS)}
    if size == '8b':
        text_sizes, vision_sizes = QWEN3_VL_8B_TEXT, QWEN3_VL_8B_VISION
    else:
        text_sizes = TINY_TEXT
        vision_sizes = {**TINY_VISION, 'hidden_size': 4 * head_dim}  # vision head size is hidden_size / num_heads
    # Tied like the 2B/4B checkpoints, which halves the tiny model (the 151936 x 32 embedding is most of it); the
    # 8B checkpoint has its own output layer.
    tied = size == 'tiny'
    return Qwen3VLConfig(
        text_config=dict(
            **text_sizes,
            vocab_size=VOCAB_SIZE,
            head_dim=head_dim,  # may differ from hidden_size / heads, as in Qwen3
            max_position_embeddings=262144,
            rope_parameters={
                'rope_type': 'default',
                'rope_theta': 5000000.0,
                'mrope_section': mrope_section(head_dim),
                'mrope_interleaved': True,
            },
            bos_token_id=ids['<|endoftext|>'],
            eos_token_id=ids['<|im_end|>'],
            tie_word_embeddings=tied,
        ),
        vision_config=dict(**vision_sizes, patch_size=16, temporal_patch_size=2, spatial_merge_size=2),
        image_token_id=ids['<|image_pad|>'],
        video_token_id=ids['<|video_pad|>'],
        vision_start_token_id=ids['<|vision_start|>'],
        vision_end_token_id=ids['<|vision_end|>'],
        tie_word_embeddings=tied,
    )


def resolve_head_dim(head_dim: int | None, size: str) -> int:
    """The head size to build: the tiny model's default or the one asked for; always 128 for '8b'."""
    if size not in SIZES:
        raise ValueError(f'size must be one of {", ".join(SIZES)}, got {size!r}')
    if size == '8b':
        if head_dim not in (None, QWEN3_VL_8B_HEAD_DIM):
            raise ValueError(f'--size 8b has head_dim {QWEN3_VL_8B_HEAD_DIM}, got --head_dim {head_dim}')
        return QWEN3_VL_8B_HEAD_DIM
    head_dim = HEAD_DIM if head_dim is None else head_dim
    check_head_dim(head_dim)
    return head_dim


def _build_model(seed: int, head_dim: int = HEAD_DIM, size: str = 'tiny'):
    import torch
    from transformers import GenerationConfig, Qwen3VLForConditionalGeneration

    ids = {content: FIRST_SPECIAL_ID + i for i, (content, _) in enumerate(QWEN_ADDED_TOKENS)}
    config = build_config(head_dim, size)
    # The 8B model is made where it will run, in bfloat16: 17.5 GB, initialised in seconds on a GPU (minutes on CPU
    # cores). The tiny one is float32 on CPU.
    if size == '8b':
        dtype, device = torch.bfloat16, 'cuda' if torch.cuda.is_available() else 'cpu'
    else:
        dtype, device = torch.float32, 'cpu'
    default_dtype = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        # A private RNG stream: the weights depend on `seed` only, and callers' global RNG state is left alone.
        with torch.random.fork_rng(devices=[]), torch.device(device):
            torch.manual_seed(seed)
            model = Qwen3VLForConditionalGeneration(config).eval()
    finally:
        torch.set_default_dtype(default_dtype)
    model.generation_config = GenerationConfig(
        bos_token_id=ids['<|endoftext|>'],
        pad_token_id=ids['<|endoftext|>'],
        eos_token_id=[ids['<|im_end|>'], ids['<|endoftext|>']],
        do_sample=True,
        temperature=0.7,
        top_k=20,
        top_p=0.8,
        repetition_penalty=1.0,
    )
    return model


# Tokens that answer a VSI-Bench question: option letters, digits, the decimal point, and end of turn.
ANSWER_TOKENS = [*'ABCD0123456789.', '<|im_end|>']


def _apply_answer_prior(model, tokenizer) -> None:
    """Make the random model answer with answer-like tokens, so GRPO on it sees rewards that vary.

    A random model samples among 151936 ids, almost all fillers, so every completion scores 0 and GRPO has no
    gradient. With tied embeddings, logits are `norm(h) . E[token]`. Giving every real token's embedding a
    shared positive component in dimension 0 keeps that component dominant in the (tiny, near-identity)
    residual stream; filler rows get it negative and answer rows three times stronger, so the model puts nearly
    all its mass on answer tokens while the other 31 random dimensions still decide which one, and LoRA can
    learn to move that choice. Only this demo model is touched.
    """
    import torch

    weight = model.get_input_embeddings().weight
    first_filler = min(i for token, i in tokenizer.get_vocab().items() if token.startswith('<unused'))
    answer_ids = tokenizer.convert_tokens_to_ids(ANSWER_TOKENS)
    with torch.no_grad():
        weight[:, 0] = -1.0
        weight[:first_filler, 0] = 1.0
        weight[FIRST_SPECIAL_ID:, 0] = 1.0
        weight[answer_ids, 0] = 3.0
        # Answer rows also get a larger spread in the other dimensions: with the 0.02 init, no hidden state a
        # LoRA can reach moves their logits apart by more than ~1, so no answer could ever become likely.
        weight[answer_ids, 1:] *= 25.0


def _write_model(target: Path, seed: int, answer_prior: bool, head_dim: int, size: str) -> None:
    processor = _build_processor()
    model = _build_model(seed, head_dim, size)
    if answer_prior:
        _apply_answer_prior(model, processor.tokenizer)
    model.save_pretrained(target)
    processor.save_pretrained(target)
    # Written last: its presence means every other file is complete.
    marker = {
        'seed': seed,
        'answer_prior': answer_prior,
        'head_dim': head_dim,
        'size': size,
        'builder_sha256': builder_source_hash(),
    }
    (target / MARKER_NAME).write_text(json.dumps(marker, indent=2) + '\n')


def _make_readable(folder: Path) -> None:
    """mkdtemp makes a 0700 folder; give the finished one the permissions of a normally created folder."""
    umask = os.umask(0)
    os.umask(umask)
    for path in [folder, *folder.rglob('*')]:
        path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)


def build_tiny_qwen3_vl(
    output_dir: str | os.PathLike,
    seed: int = 0,
    answer_prior: bool = False,
    head_dim: int | None = None,
    size: str = 'tiny',
) -> Path:
    """Build the tiny Qwen3-VL into `output_dir` (or reuse it when complete) and return its path.

    Raises FileExistsError when `output_dir` exists but is not a folder this builder completed, so nothing the
    user put there is ever overwritten. A complete folder built with another seed or builder version is
    replaced. `head_dim` (default 8) 64 gives a model vLLM's GPU attention kernels take (they are not built for
    head size 8). `size` '8b' gives Qwen3-VL-8B's architecture, whose head_dim is 128.
    Safe to call from parallel processes (e.g. pytest-xdist workers): the first to finish wins.
    """
    head_dim = resolve_head_dim(head_dim, size)
    if answer_prior and size != 'tiny':
        raise ValueError('--answer_prior works on the tiny model only (it relies on its tied embeddings)')
    output_dir = Path(output_dir).resolve()
    if is_complete(output_dir, seed, answer_prior, head_dim, size):
        return output_dir
    if output_dir.exists() and not (output_dir / MARKER_NAME).is_file():
        raise FileExistsError(
            f'{output_dir} exists but is not a tiny Qwen3-VL built by {Path(__file__).name} '
            f'(no {MARKER_NAME}); delete it or choose another --output_dir'
        )
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f'.{output_dir.name}.tmp-', dir=output_dir.parent))
    try:
        _write_model(tmp_dir, seed, answer_prior, head_dim, size)
        _make_readable(tmp_dir)
        if is_complete(output_dir, seed, answer_prior, head_dim, size):  # another process finished it meanwhile
            return output_dir
        if output_dir.exists():  # complete but stale: move it aside so the rename below can take its place
            stale_dir = Path(tempfile.mkdtemp(prefix=f'.{output_dir.name}.old-', dir=output_dir.parent))
            with contextlib.suppress(FileNotFoundError):  # another process moved it first
                os.replace(output_dir, stale_dir / 'model')
            shutil.rmtree(stale_dir, ignore_errors=True)
        try:
            os.rename(tmp_dir, output_dir)
        except OSError:
            if not is_complete(output_dir, seed, answer_prior, head_dim, size):
                raise
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return output_dir


def folder_size_bytes(path: Path) -> int:
    """Total size of the regular files under `path`."""
    return sum(f.stat().st_size for f in Path(path).rglob('*') if f.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument(
        '--output_dir',
        default='demo_out/tiny_qwen3_vl',
        help='folder to create (reused when already complete) [demo_out/tiny_qwen3_vl]',
    )
    parser.add_argument('--seed', type=int, default=0, help='seed of the random weights; same seed, same weights [0]')
    parser.add_argument(
        '--answer_prior',
        action='store_true',
        help='bias the random model towards answer tokens (letters, digits) so GRPO rewards vary (demo, bench)',
    )
    parser.add_argument(
        '--head_dim',
        type=int,
        help=f'attention head size of the text and vision layers [{HEAD_DIM}]; 64 for vLLM on a GPU, whose attention '
        'kernels are not built for tiny heads',
    )
    parser.add_argument(
        '--size',
        choices=SIZES,
        default='tiny',
        help="[tiny]; '8b': Qwen3-VL-8B-Instruct's architecture with random weights (17.5 GB, built on the GPU when "
        'there is one), to measure memory and step time',
    )
    args = parser.parse_args()
    # A TERM (run_demo.py passes one to the stage it stops) unwinds like an exception: the temporary folder is removed.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        model_dir = build_tiny_qwen3_vl(
            args.output_dir, seed=args.seed, answer_prior=args.answer_prior, head_dim=args.head_dim, size=args.size
        )
    except (OSError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        sys.exit(1)
    files = sorted(f.name for f in model_dir.iterdir())
    print(
        f'{args.size} Qwen3-VL (seed {args.seed}) in {model_dir}: {folder_size_bytes(model_dir) / 2**20:.1f} MiB, '
        f'{len(files)} files: {", ".join(files)}'
    )


if __name__ == '__main__':
    main()
