"""The tiny Qwen3-VL (demo/build_tiny_qwen3_vl.py) behaves like the real model wherever the bundle depends on it.

Expected values are Qwen's published ones (token ids from Qwen/Qwen3-VL-*-Instruct tokenizer_config.json) or are
worked out by hand from Qwen3-VL's image geometry (16 px patches, 2x2 merge, sides rounded to multiples of 32).
"""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

import demo.build_tiny_qwen3_vl as builder

# id -> token in Qwen/Qwen3-VL-8B-Instruct tokenizer_config.json `added_tokens_decoder` (same list as Qwen3).
QWEN_TOKEN_IDS = {
    151643: '<|endoftext|>',
    151644: '<|im_start|>',
    151645: '<|im_end|>',
    151646: '<|object_ref_start|>',
    151647: '<|object_ref_end|>',
    151648: '<|box_start|>',
    151649: '<|box_end|>',
    151650: '<|quad_start|>',
    151651: '<|quad_end|>',
    151652: '<|vision_start|>',
    151653: '<|vision_end|>',
    151654: '<|vision_pad|>',
    151655: '<|image_pad|>',
    151656: '<|video_pad|>',
    151657: '<tool_call>',
    151658: '</tool_call>',
    151659: '<|fim_prefix|>',
    151660: '<|fim_middle|>',
    151661: '<|fim_suffix|>',
    151662: '<|fim_pad|>',
    151663: '<|repo_name|>',
    151664: '<|file_sep|>',
    151665: '<tool_response>',
    151666: '</tool_response>',
    151667: '<think>',
    151668: '</think>',
}
NOT_SPECIAL = {'<tool_call>', '</tool_call>', '<tool_response>', '</tool_response>', '<think>', '</think>'} | {
    f'<|{name}|>' for name in ('fim_prefix', 'fim_middle', 'fim_suffix', 'fim_pad', 'repo_name', 'file_sep')
}
QWEN3_VL_VOCAB_SIZE = 151936
QUESTION = 'These are frames of a video.\nHow many chair(s) are in this room?'


def _image(width: int, height: int, seed: int) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8))


@pytest.fixture(scope='module')
def processor(tiny_model_dir):
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(tiny_model_dir)


@pytest.fixture(scope='module')
def model(tiny_model_dir):
    from transformers import AutoModelForImageTextToText

    return AutoModelForImageTextToText.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()


def test_auto_classes_load_the_real_qwen3_vl_classes(tiny_model_dir, processor, model):
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(tiny_model_dir)
    assert type(config).__name__ == 'Qwen3VLConfig'
    assert type(processor).__name__ == 'Qwen3VLProcessor'
    assert type(processor.image_processor).__name__ == 'Qwen2VLImageProcessor'
    assert type(processor.video_processor).__name__ == 'Qwen3VLVideoProcessor'
    assert type(processor.tokenizer).__name__ == 'Qwen2Tokenizer'
    assert type(model).__name__ == 'Qwen3VLForConditionalGeneration'
    assert model.get_input_embeddings().weight.shape == (QWEN3_VL_VOCAB_SIZE, 32)
    vision = config.vision_config
    assert (vision.patch_size, vision.temporal_patch_size, vision.spatial_merge_size) == (16, 2, 2)
    assert sum(config.text_config.rope_parameters['mrope_section']) * 2 == config.text_config.head_dim


def test_special_tokens_sit_at_qwens_real_ids(processor, model):
    tokenizer = processor.tokenizer
    for token_id, token in QWEN_TOKEN_IDS.items():
        assert tokenizer.convert_tokens_to_ids(token) == token_id, token
        assert tokenizer.encode(token, add_special_tokens=False) == [token_id], token  # never split
        assert (token in tokenizer.all_special_tokens) == (token not in NOT_SPECIAL), token
    assert len(tokenizer) == 151669
    assert (tokenizer.eos_token, tokenizer.pad_token, tokenizer.bos_token) == ('<|im_end|>', '<|endoftext|>', None)
    assert (processor.image_token_id, processor.video_token_id) == (151655, 151656)
    config = model.config
    ids = (config.image_token_id, config.video_token_id, config.vision_start_token_id, config.vision_end_token_id)
    assert ids == (151655, 151656, 151652, 151653)
    assert model.generation_config.eos_token_id == [151645, 151643]


def test_swift_template_ids_agree_with_the_tokenizer(processor):
    # swift's Qwen3-VL template hard-codes these ids instead of asking the tokenizer.
    from swift.template.templates.qwen import Qwen3VLTemplate

    tokenizer = processor.tokenizer
    assert tokenizer.convert_ids_to_tokens(Qwen3VLTemplate.image_token_id) == '<|image_pad|>'
    assert tokenizer.convert_ids_to_tokens(Qwen3VLTemplate.video_token_id) == '<|video_pad|>'


def test_prompt_text_round_trips_through_the_tokenizer(processor):
    tokenizer = processor.tokenizer
    text = f'{QUESTION}\nOptions:\nA. chair\nB. table\nAnswer with the option letter. <think>x</think> 2.5 meters'
    ids = tokenizer.encode(text, add_special_tokens=False)
    assert tokenizer.decode(ids) == text
    # The corpus taught it the benchmark wording: whole words, not bytes.
    assert len(ids) < len(text) / 2.5
    assert tokenizer.convert_ids_to_tokens(tokenizer.encode(' chair', add_special_tokens=False)) == ['Ġchair']


def test_chat_template_renders_like_qwen3_vl_instruct(processor):
    messages = [
        {'role': 'system', 'content': 'You are a helpful assistant.'},
        {'role': 'user', 'content': [{'type': 'image'}, {'type': 'image'}, {'type': 'text', 'text': QUESTION}]},
        {'role': 'assistant', 'content': '3'},
        {'role': 'user', 'content': [{'type': 'video'}, {'type': 'text', 'text': 'And tables?'}]},
    ]
    rendered = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    image = '<|vision_start|><|image_pad|><|vision_end|>'
    assert rendered == (
        '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n'
        f'<|im_start|>user\n{image}{image}{QUESTION}<|im_end|>\n'
        '<|im_start|>assistant\n3<|im_end|>\n'
        '<|im_start|>user\n<|vision_start|><|video_pad|><|vision_end|>And tables?<|im_end|>\n'
        '<|im_start|>assistant\n'
    )
    numbered = processor.apply_chat_template(messages[1:2], add_vision_id=True, tokenize=False)
    assert numbered.startswith(f'<|im_start|>user\nPicture 1: {image}Picture 2: {image}These')


@pytest.mark.parametrize(
    'sizes, expected_grids',
    [
        # (width, height) -> (t, h / 16, w / 16); tokens = h * w / 4 after the 2x2 merge
        ([(320, 256), (384, 256)], [(1, 16, 20), (1, 16, 24)]),
        # sides are rounded to multiples of 32: 250 -> 256, 300 -> 288
        ([(300, 250), (320, 256)], [(1, 16, 18), (1, 16, 20)]),
    ],
)
def test_processor_expands_each_image_to_its_token_count(processor, sizes, expected_grids):
    images = [_image(w, h, seed) for seed, (w, h) in enumerate(sizes)]
    pad = '<|vision_start|><|image_pad|><|vision_end|>'
    inputs = processor(text=[f'<|im_start|>user\n{pad}{pad}{QUESTION}<|im_end|>\n'], images=images, return_tensors='pt')
    assert inputs['image_grid_thw'].tolist() == [list(g) for g in expected_grids]
    expected_tokens = sum(t * h * w // 4 for t, h, w in expected_grids)
    assert int((inputs['input_ids'] == 151655).sum()) == expected_tokens
    # one row per 16x16 patch, holding 3 channels x 2 frames x 16 x 16 values
    assert inputs['pixel_values'].shape == (sum(t * h * w for t, h, w in expected_grids), 3 * 2 * 16 * 16)


def test_forward_pass_gives_logits_over_the_full_vocabulary(processor, model):
    pad = '<|vision_start|><|image_pad|><|vision_end|>'
    text = processor.apply_chat_template(
        [{'role': 'user', 'content': [{'type': 'image'}, {'type': 'image'}, {'type': 'text', 'text': QUESTION}]}],
        add_generation_prompt=True,
        tokenize=False,
    )
    assert text.count(pad) == 2
    inputs = processor(text=[text], images=[_image(320, 256, 0), _image(320, 256, 1)], return_tensors='pt')
    with torch.no_grad():
        logits = model(**inputs).logits
    seq_len = inputs['input_ids'].shape[1]
    assert seq_len > 2 * 80  # two images of 80 tokens each plus the text
    assert logits.shape == (1, seq_len, QWEN3_VL_VOCAB_SIZE)
    assert torch.isfinite(logits).all()


def test_swift_engine_answers_image_and_video_requests(tiny_model_dir, tmp_path, monkeypatch):
    import av
    from swift.infer_engine import InferRequest, RequestConfig, TransformersEngine

    monkeypatch.setenv('MAX_PIXELS', '4096')
    image_paths = []
    for i in range(3):
        image_paths.append(str(tmp_path / f'frame{i}.png'))
        _image(128, 96, i).save(image_paths[-1])
    video_path = str(tmp_path / 'clip.mp4')
    with av.open(video_path, 'w') as container:
        stream = container.add_stream('libx264', rate=4)
        stream.width, stream.height, stream.pix_fmt = 128, 96, 'yuv420p'
        for i in range(8):
            frame = av.VideoFrame.from_ndarray(np.asarray(_image(128, 96, i)), format='rgb24')
            container.mux(stream.encode(frame))
        container.mux(stream.encode())

    engine = TransformersEngine(str(tiny_model_dir), model_type='qwen3_vl', torch_dtype=torch.float32)
    requests = [
        InferRequest(messages=[{'role': 'user', 'content': '<image>' * 3 + QUESTION}], images=image_paths),
        InferRequest(messages=[{'role': 'user', 'content': '<video>' + QUESTION}], videos=[video_path]),
    ]
    responses = engine.infer(requests, RequestConfig(max_tokens=16, temperature=0))
    assert len(responses) == 2
    for response in responses:
        assert isinstance(response.choices[0].message.content, str)
        assert 1 <= response.usage.completion_tokens <= 16
    # MAX_PIXELS=4096 gives each 128x96 image 4 tokens; the video costs more than the text alone.
    assert responses[1].usage.prompt_tokens > responses[0].usage.prompt_tokens


def test_folder_is_small(tiny_model_dir):
    assert builder.folder_size_bytes(tiny_model_dir) < 30 * 2**20
    assert {'config.json', 'model.safetensors', 'tokenizer.json', builder.MARKER_NAME} <= {
        p.name for p in tiny_model_dir.iterdir()
    }


def test_same_seed_same_weights_other_seed_other_weights(tiny_model_dir, tmp_path):
    cached = load_file(tiny_model_dir / 'model.safetensors')
    rebuilt_dir = builder.build_tiny_qwen3_vl(tmp_path / 'tiny', seed=0)
    rebuilt = load_file(rebuilt_dir / 'model.safetensors')
    assert cached.keys() == rebuilt.keys()
    assert all(torch.equal(cached[k], rebuilt[k]) for k in cached)
    assert (rebuilt_dir / 'tokenizer.json').read_bytes() == (tiny_model_dir / 'tokenizer.json').read_bytes()

    # A complete folder built with another seed is replaced, not reused.
    assert builder.build_tiny_qwen3_vl(tmp_path / 'tiny', seed=1) == rebuilt_dir
    assert json.loads((rebuilt_dir / builder.MARKER_NAME).read_text())['seed'] == 1
    other = load_file(rebuilt_dir / 'model.safetensors')
    assert not torch.equal(
        other['model.language_model.embed_tokens.weight'], cached['model.language_model.embed_tokens.weight']
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ['tiny']  # no temporary folders left behind


def test_complete_folder_is_reused_without_rebuilding(tiny_model_dir, monkeypatch):
    monkeypatch.setattr(builder, '_write_model', lambda *args: pytest.fail('rebuilt a complete folder'))
    before = (tiny_model_dir / 'model.safetensors').stat().st_mtime_ns
    assert builder.build_tiny_qwen3_vl(tiny_model_dir, seed=0) == tiny_model_dir
    assert (tiny_model_dir / 'model.safetensors').stat().st_mtime_ns == before


def test_interrupted_build_leaves_nothing_that_looks_complete(tmp_path, monkeypatch):
    def fail(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(builder, '_build_processor', fail)  # dies after the weights are written
    with pytest.raises(KeyboardInterrupt):
        builder.build_tiny_qwen3_vl(tmp_path / 'tiny', seed=0)
    assert list(tmp_path.iterdir()) == []


STOPPED_BUILD = """
import sys, time
sys.path.insert(0, sys.argv[1])
import demo.build_tiny_qwen3_vl as builder
def write(tmp_dir, *args):  # the model's files written, then a long pause: the TERM comes now
    (tmp_dir / 'model.safetensors').write_bytes(bytes(1000))
    print('written', flush=True)
    time.sleep(120)
builder._write_model = write
sys.argv = ['build_tiny_qwen3_vl.py', '--output_dir', sys.argv[2]]
builder.main()
"""


def test_a_build_stopped_by_sigterm_leaves_no_temporary_folder(tmp_path):
    """run_demo.py stops its running stage with TERM: the build died without unwinding, and each stop left a hidden
    temporary folder of the whole model (24 MB) that no later build removes."""
    out = tmp_path / 'models'
    build = subprocess.Popen(
        [sys.executable, '-c', STOPPED_BUILD, str(Path(builder.__file__).parents[1]), str(out / 'tiny')],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert build.stdout.readline() == 'written\n'
        assert len(list(out.iterdir())) == 1  # the temporary folder
        build.terminate()
        assert build.wait(timeout=60) == 128 + signal.SIGTERM
    finally:
        build.kill()
    assert list(out.iterdir()) == []


def test_foreign_folder_is_never_overwritten(tmp_path):
    target = tmp_path / 'mine'
    target.mkdir()
    (target / 'notes.txt').write_text('keep me')
    with pytest.raises(FileExistsError, match='delete it or choose another --output_dir'):
        builder.build_tiny_qwen3_vl(target, seed=0)
    assert (target / 'notes.txt').read_text() == 'keep me'


def test_cli_reuses_a_complete_folder_and_reports_errors_in_one_line(tiny_model_dir, tmp_path):
    script = Path(builder.__file__)
    copy = tmp_path / 'copy'
    shutil.copytree(tiny_model_dir, copy)
    ok = subprocess.run(
        [sys.executable, str(script), '--output_dir', str(copy)], capture_output=True, text=True, timeout=120
    )
    assert ok.returncode == 0, ok.stderr
    assert f'tiny Qwen3-VL (seed 0) in {copy}' in ok.stdout

    (tmp_path / 'junk').mkdir()
    (tmp_path / 'junk' / 'x').write_text('x')
    bad = subprocess.run(
        [sys.executable, str(script), '--output_dir', str(tmp_path / 'junk')], capture_output=True, text=True
    )
    assert bad.returncode == 1
    assert bad.stderr.count('\n') == 1 and bad.stderr.startswith('error: ')


def test_answer_prior_makes_the_model_sample_answer_tokens(tmp_path, processor):
    """The demo's model variant must put its mass on letters and digits, or GRPO on it sees no reward variance."""
    prior_dir = builder.build_tiny_qwen3_vl(tmp_path / 'prior', seed=0, answer_prior=True)
    assert builder.is_complete(prior_dir, 0, answer_prior=True) and not builder.is_complete(prior_dir, 0)
    from transformers import Qwen3VLForConditionalGeneration

    model = Qwen3VLForConditionalGeneration.from_pretrained(prior_dir).eval()
    messages = [{'role': 'user', 'content': [{'type': 'text', 'text': 'How many chairs are in this room?'}]}]
    inputs = processor.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=True, return_tensors='pt', return_dict=True
    )
    with torch.no_grad():
        probs = model(**inputs).logits[0, -1].softmax(-1)
    answer_ids = processor.tokenizer.convert_tokens_to_ids(builder.ANSWER_TOKENS)
    assert probs[answer_ids].sum() > 0.99
    # ... while no single answer dominates, so sampled groups disagree and rewards vary.
    assert probs[answer_ids].max() < 0.5


def test_head_dim_64_variant_for_vllm(tmp_path, processor):
    """vLLM's GPU attention kernels are not built for head size 8: the GPU check builds the model with head_dim 64
    (run on an H200 with vLLM 0.23.0, see the issue notes). Its rotary sections keep Qwen3-VL-8B's proportions,
    whose config.json has head_dim 128 and mrope_section [24, 20, 20]."""
    assert builder.mrope_section(128) == [24, 20, 20]
    assert builder.mrope_section(8) == [2, 1, 1]  # the default tiny model's
    model_dir = builder.build_tiny_qwen3_vl(tmp_path / 'gpu', seed=0, head_dim=64)
    config = json.loads((model_dir / 'config.json').read_text())
    assert config['text_config']['head_dim'] == 64
    assert config['text_config']['rope_parameters']['mrope_section'] == [12, 10, 10]
    assert config['vision_config']['hidden_size'] // config['vision_config']['num_heads'] == 64
    assert builder.is_complete(model_dir, 0, head_dim=64) and not builder.is_complete(model_dir, 0)
    from transformers import Qwen3VLForConditionalGeneration

    model = Qwen3VLForConditionalGeneration.from_pretrained(model_dir).eval()
    assert model.model.language_model.layers[0].self_attn.q_proj.out_features == 4 * 64
    image = Image.fromarray(np.full((64, 64, 3), 128, dtype=np.uint8))
    messages = [{'role': 'user', 'content': [{'type': 'image'}, {'type': 'text', 'text': 'How many chairs?'}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True)
    inputs = processor(text=[text], images=[image], return_tensors='pt')
    with torch.no_grad():
        logits = model(**inputs).logits
    assert logits.shape == (1, inputs['input_ids'].shape[1], builder.VOCAB_SIZE)
    assert torch.isfinite(logits).all()
    for bad in (4, 60, 264):
        with pytest.raises(ValueError, match='multiple of 8'):
            builder.build_tiny_qwen3_vl(tmp_path / f'bad{bad}', head_dim=bad)


def test_8b_size_has_the_published_parameter_count():
    """`--size 8b` is Qwen3-VL-8B-Instruct's architecture: 8.77B parameters as Qwen publishes (counted here on the
    meta device, nothing allocated), head_dim 128 with mrope_section [24, 20, 20] as in its config.json, and its own
    output layer."""
    from transformers import Qwen3VLForConditionalGeneration

    config = builder.build_config(builder.resolve_head_dim(None, '8b'), '8b')
    with torch.device('meta'):
        model = Qwen3VLForConditionalGeneration(config)
    assert round(sum(p.numel() for p in model.parameters()) / 1e9, 2) == 8.77
    assert config.text_config.head_dim == 128
    assert config.text_config.rope_parameters['mrope_section'] == [24, 20, 20]
    assert model.lm_head.weight is not model.model.language_model.embed_tokens.weight


def test_8b_size_builds_an_untied_bfloat16_model(tmp_path, monkeypatch):
    """The 8B build path (bfloat16, made on the GPU when there is one, untied, marked with its size) at toy widths:
    the real one is 17.5 GB, built on the GPU node (bench/gpu_check.sh with MODEL_SIZE=8b)."""
    monkeypatch.setattr(
        builder,
        'QWEN3_VL_8B_TEXT',
        {**builder.QWEN3_VL_8B_TEXT, 'hidden_size': 64, 'intermediate_size': 64, 'num_hidden_layers': 1},
    )
    monkeypatch.setattr(
        builder,
        'QWEN3_VL_8B_VISION',
        {
            **builder.QWEN3_VL_8B_VISION,
            'depth': 1,
            'hidden_size': 256,
            'intermediate_size': 64,
            'num_heads': 2,
            'out_hidden_size': 64,
            'deepstack_visual_indexes': [0],
        },
    )
    model_dir = builder.build_tiny_qwen3_vl(tmp_path / 'big', size='8b')
    assert torch.get_default_dtype() == torch.float32  # restored after the bfloat16 build
    config = json.loads((model_dir / 'config.json').read_text())
    assert config['dtype'] == 'bfloat16' and config['tie_word_embeddings'] is False
    assert config['text_config']['head_dim'] == 128
    weights = load_file(model_dir / 'model.safetensors')
    assert {tensor.dtype for tensor in weights.values()} == {torch.bfloat16}
    assert not torch.equal(weights['lm_head.weight'], weights['model.language_model.embed_tokens.weight'])
    assert builder.is_complete(model_dir, 0, head_dim=128, size='8b')
    assert not builder.is_complete(model_dir, 0, head_dim=128)  # a tiny model of head_dim 128 is another build
    with pytest.raises(ValueError, match='head_dim 128'):
        builder.build_tiny_qwen3_vl(tmp_path / 'x', size='8b', head_dim=64)
    with pytest.raises(ValueError, match='tiny model only'):
        builder.build_tiny_qwen3_vl(tmp_path / 'x', size='8b', answer_prior=True)
    with pytest.raises(ValueError, match='size must be one of'):
        builder.build_tiny_qwen3_vl(tmp_path / 'x', size='2b')


# Qwen/Qwen3-VL-8B-Instruct's published preprocessor, config and generation files: the tiny model must size frames
# (the demo's 160x120 ones are scaled up to shortest_edge) and sample videos as the real one does.
PUBLISHED_VISION = {'patch_size': 16, 'temporal_patch_size': 2, 'merge_size': 2, 'image_mean': [0.5] * 3}
PUBLISHED_IMAGE = {**PUBLISHED_VISION, 'size': {'longest_edge': 16777216, 'shortest_edge': 65536}}
PUBLISHED_VIDEO = {
    **PUBLISHED_VISION,
    'size': {'longest_edge': 25165824, 'shortest_edge': 4096},
    'fps': 2,
    'min_frames': 4,
    'max_frames': 768,
}


def test_saved_processor_and_configs_are_the_published_qwen3_vls(tiny_model_dir):
    saved = json.loads((tiny_model_dir / 'processor_config.json').read_text())
    for name, published in (('image_processor', PUBLISHED_IMAGE), ('video_processor', PUBLISHED_VIDEO)):
        assert {key: saved[name][key] for key in published} == published, name
        assert saved[name]['image_std'] == [0.5] * 3, name
    text = json.loads((tiny_model_dir / 'config.json').read_text())['text_config']
    assert text['rope_parameters']['rope_theta'] == 5000000.0 and text['rope_parameters']['mrope_interleaved'] is True
    assert text['max_position_embeddings'] == 262144
    assert json.loads((tiny_model_dir / 'config.json').read_text())['vision_config']['num_position_embeddings'] == 2304
    generation = json.loads((tiny_model_dir / 'generation_config.json').read_text())
    assert (generation['temperature'], generation['top_k'], generation['top_p']) == (0.7, 20, 0.8)
    assert json.loads((tiny_model_dir / 'tokenizer_config.json').read_text())['model_max_length'] == 262144


def test_8b_size_has_the_published_deepstack_layers_and_kv_heads():
    """Moving deepstack layers or kv heads keeps the parameter count the count test checks."""
    config = builder.build_config(128, '8b')
    assert config.vision_config.deepstack_visual_indexes == [8, 16, 24]
    assert config.text_config.num_key_value_heads == 8


def test_a_folder_built_by_another_builder_version_is_not_complete(tiny_model_dir, tmp_path):
    """The tests' cached model, or a user's demo folder, is rebuilt when the builder changed."""
    info = json.loads((tiny_model_dir / builder.MARKER_NAME).read_text())
    (tmp_path / builder.MARKER_NAME).write_text(json.dumps(info))
    assert builder.is_complete(tmp_path, 0)
    (tmp_path / builder.MARKER_NAME).write_text(json.dumps({**info, 'builder_sha256': '0' * 64}))
    assert not builder.is_complete(tmp_path, 0)


def test_the_built_folder_has_a_normal_folders_permissions(tiny_model_dir):
    """mkdtemp's 0700 would hide the model from other users and from containers running as another user."""
    umask = os.umask(0)
    os.umask(umask)
    assert tiny_model_dir.stat().st_mode & 0o777 == 0o777 & ~umask
    assert (tiny_model_dir / 'config.json').stat().st_mode & 0o777 == 0o666 & ~umask
