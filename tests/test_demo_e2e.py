"""The CPU demo at its smallest size: every stage's real command, and checks on every artefact it leaves.

Scenes -> frames -> preprocessing -> GRPO through run_vsi_grpo.sh (MODE=local, the production YAML) -> evaluation
of the base model and of the adapter -> comparison. About a minute on 2 cores.
"""

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import demo.run_demo as run_demo_module
from demo.run_demo import DemoConfig, DemoPaths, evaluate, grpo_command, read_rewards, run_demo, train
from tests.report_oracle import recompute_scores
from train_vsi_grpo import DEFAULT_CONFIG, load_config

pytestmark = pytest.mark.slow

STEPS = 2


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp('demo')
    config = DemoConfig(output_dir=out, num_scenes=4, grpo_steps=STEPS, num_generations=4, questions_per_step=1)
    with pytest.MonkeyPatch.context() as patch:  # `make demo` from a shell without a pixel budget of its own
        patch.delenv('MAX_PIXELS', raising=False)
        return config, run_demo(config)


def test_training_data_excludes_every_test_scene(demo):
    config, artefacts = demo
    scenes = artefacts['scenes (videos, test.jsonl, train.json)']
    test_scenes = {json.loads(line)['scene_name'] for line in (scenes / 'test.jsonl').read_text().splitlines()}
    rows = [json.loads(line) for line in artefacts['training data'].read_text().splitlines()]
    assert rows and test_scenes
    assert not {row['scene_name'] for row in rows} & test_scenes
    # One <image> tag per frame, each frame a file that exists.
    for row in rows:
        assert row['messages'][0]['content'].count('<image>') == len(row['images']) == config.num_frames
        assert all((artefacts['training data'].parent / path).is_file() for path in row['images'])


def test_lora_checkpoint_exists_and_loads(demo):
    _, artefacts = demo
    adapter = artefacts['LoRA adapter']
    config = json.loads((adapter / 'adapter_config.json').read_text())
    assert config['r'] == 16 and config['peft_type'] == 'LORA'
    weights = load_file(adapter / 'adapter_model.safetensors')
    lora_b = [w for name, w in weights.items() if 'lora_B' in name]
    assert lora_b and all(torch.isfinite(w).all() for w in weights.values())
    # Only the language model is adapted: the vision tower stays frozen (the YAML's freeze_vit).
    assert not [name for name in weights if '.visual.' in name]

    from peft import PeftModel
    from transformers import Qwen3VLForConditionalGeneration

    base = Qwen3VLForConditionalGeneration.from_pretrained(artefacts['tiny model'])
    model = PeftModel.from_pretrained(base, adapter)
    assert sum(p.numel() for n, p in model.named_parameters() if 'lora_' in n) > 0


def test_rewards_were_logged_for_every_step_and_are_in_range(demo):
    _, artefacts = demo
    rewards = read_rewards(artefacts['LoRA adapter'].parent)
    assert len(rewards) == STEPS
    assert all(math.isfinite(r) and 0.0 <= r <= 1.0 for r in rewards)
    log = artefacts['GRPO log (logging.jsonl in grpo/)'].read_text()
    # the plugin's per-question-type line: one per step, numbered as swift numbers them (the last one at exit)
    steps = re.findall(r'vsi_reward per type at step (\d+):', log)
    assert sorted(map(int, steps)) == list(range(1, STEPS + 1))


def test_every_test_question_has_a_prediction_and_the_report_equals_vsi_scoring(demo):
    _, artefacts = demo
    scenes = artefacts['scenes (videos, test.jsonl, train.json)']
    questions = {str(json.loads(line)['id']) for line in (scenes / 'test.jsonl').read_text().splitlines()}
    for name in ('base model results', 'adapter results'):
        folder = artefacts[name].parent
        predictions = [json.loads(line) for line in (folder / 'predictions.jsonl').read_text().splitlines()]
        assert {str(p['id']) for p in predictions} == questions
        official, lenient = recompute_scores(predictions)
        results = json.loads((folder / 'results.json').read_text())
        # evaluated at the pixel budget training used: the YAML's MAX_PIXELS (the README's advice, followed)
        assert results['config']['image_env'].get('MAX_PIXELS') == load_config(DEFAULT_CONFIG)[0]['MAX_PIXELS']
        # JSON keeps Python floats exactly: the report must be the very numbers vsi_scoring computes.
        assert results['official'] == official
        assert results['lenient'] == lenient
    comparison = json.loads(artefacts['comparison'].with_suffix('.json').read_text())
    assert comparison['same_questions'] is True and comparison['rows']


def test_a_rerun_reports_its_own_training_and_evaluation(tmp_path, monkeypatch):
    """Into the same folder: swift appends to logging.jsonl and the new adapter has the old one's path, which the
    evaluator would resume from; neither may leak the previous run's numbers into this one's."""
    config = DemoConfig(output_dir=tmp_path, grpo_steps=2)
    paths = DemoPaths(tmp_path)
    commands = []

    def fake_run(command, env=None, log=None):  # what swift and the evaluator leave, without a model
        commands.append(command)
        if log is not None:
            # the previous run's reports describe an adapter about to be replaced: gone before training starts
            assert not paths.eval_dir.exists() and not paths.grpo_dir.exists()
            (paths.grpo_dir / 'checkpoint-2').mkdir(parents=True, exist_ok=True)
            (paths.grpo_dir / 'checkpoint-2' / 'adapter_config.json').write_text('{}')
            with open(paths.grpo_dir / 'logging.jsonl', 'a') as f:  # appended, as swift's trainer does
                f.writelines(json.dumps({'rewards/VsiReward/mean': r}) + '\n' for r in (0.25, 0.75))
        else:
            out = paths.eval_dir / 'grpo'
            out.mkdir(parents=True, exist_ok=True)
            (out / 'results.json').write_text('{}')

    monkeypatch.setattr(run_demo_module, '_run', fake_run)
    for _ in range(2):
        adapter = train(config, paths)
        assert read_rewards(paths.grpo_dir) == [0.25, 0.75]
        evaluate(config, paths, 'grpo', adapter)
        assert '--overwrite' in commands[-1]


def test_too_few_training_questions_for_one_step_are_refused_before_training(tmp_path, monkeypatch):
    """Fewer rows than --questions_per_step: swift trained no step and the demo failed a minute later saying only that
    no checkpoint was written, after removing the previous run's adapter."""
    config = DemoConfig(output_dir=tmp_path, questions_per_step=4)
    paths = DemoPaths(tmp_path)
    paths.dataset.parent.mkdir(parents=True)
    paths.dataset.write_text('{}\n' * 3 + '\n')
    (paths.grpo_dir / 'checkpoint-2').mkdir(parents=True)
    monkeypatch.setattr(run_demo_module, '_run', lambda *args, **kwargs: pytest.fail('training ran'))
    with pytest.raises(RuntimeError) as refused:
        train(config, paths)
    assert str(refused.value).startswith(
        f'{paths.dataset} holds 3 training questions, fewer than --questions_per_step 4: GRPO would train no step'
    )
    assert (paths.grpo_dir / 'checkpoint-2').is_dir()  # the previous run's adapter stays


STAGE = """
import pathlib, signal, sys, time
marker = pathlib.Path(sys.argv[1])
signal.signal(signal.SIGTERM, lambda *args: (marker.write_text('stopped by TERM'), sys.exit(0)))
marker.write_text('running')
time.sleep(120)
"""
DEMO = """
import sys
sys.path.insert(0, sys.argv[1])
import demo.run_demo as run_demo
stage, output_dir = [sys.executable, '-c', sys.argv[2], sys.argv[3]], sys.argv[4]
run_demo.run_demo = lambda config: run_demo._run(stage, log=config.output_dir / 'stage.log')
if sys.argv[5] == 'main':
    sys.argv = ['run_demo.py', '--output_dir', output_dir]
    run_demo.main()
else:  # as bench/bench_learning.py calls it, without the demo's main
    run_demo._run(stage)
"""


@pytest.mark.parametrize('caller', ['main', '_run'])
def test_stopping_the_demo_stops_its_running_stage(tmp_path, caller):
    """`kill PID` of the demo left its training running without a parent (it went on to write a checkpoint); now the
    stage gets SIGTERM and is waited for, and the demo exits 143. So does bench_learning.py, which calls _run."""
    import subprocess
    import time
    from pathlib import Path

    marker = tmp_path / 'stage'
    root = str(Path(run_demo_module.__file__).parents[1])
    demo = subprocess.Popen(
        [sys.executable, '-c', DEMO, root, STAGE, str(marker), str(tmp_path), caller], stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert marker.read_text() == 'running'
    demo.terminate()
    assert demo.wait(timeout=60) == 143
    assert marker.read_text() == 'stopped by TERM'  # the stage had its TERM before the demo exited
    stopped = 'demo stopped, and its running stage with it' in demo.stderr.read()
    assert stopped == (caller == 'main')


def test_a_quoted_home_folder_is_expanded(monkeypatch):
    """The Makefile quotes DEMO_DIR (a name with a space removed the demo's sources), so `make demo DEMO_DIR=~/demo`
    passes the `~` on: it made a folder named `~` in the checkout."""
    ran = []
    monkeypatch.setattr(run_demo_module, 'run_demo', ran.append)
    monkeypatch.setattr(sys, 'argv', ['run_demo.py', '--output_dir', '~/vsi_demo'])
    run_demo_module.main()
    assert ran[0].output_dir == Path.home() / 'vsi_demo'


@pytest.mark.parametrize(
    'flag, value',
    [
        ('--eval_limit', '0'),
        ('--num_generations', '1'),
        ('--grpo_steps', '0'),
        ('--num_frames', '0'),
        ('--num_scenes', '1'),
    ],
)
def test_a_bad_size_is_refused_before_any_stage_runs(flag, value, monkeypatch, capsys):
    """--eval_limit 0 evaluated every question (0 was taken as unset); the others were refused by a later stage only
    after the scenes and the model had been built."""
    monkeypatch.setattr(run_demo_module, 'run_demo', lambda config: pytest.fail(f'ran with {config}'))
    monkeypatch.setattr(sys, 'argv', ['run_demo.py', flag, value])
    with pytest.raises(SystemExit) as exit_info:
        run_demo_module.main()
    assert exit_info.value.code == 2 and f'{flag} must be at least' in capsys.readouterr().err


def test_eval_limit_reaches_the_evaluator(tmp_path, monkeypatch):
    commands = []
    monkeypatch.setattr(run_demo_module, '_run', lambda command, env=None, log=None: commands.append(command))
    (tmp_path / 'eval' / 'base').mkdir(parents=True)
    (tmp_path / 'eval' / 'base' / 'results_subset.json').write_text('{}')
    evaluate(DemoConfig(output_dir=tmp_path, eval_limit=3), DemoPaths(tmp_path), 'base', None)
    assert commands[0][commands[0].index('--limit') + 1] == '3'


def test_a_folder_of_other_work_keeps_its_grpo_and_eval(tmp_path, monkeypatch):
    """--output_dir at a folder that already holds someone's eval/ and grpo/: they were deleted before training."""
    paths = DemoPaths(tmp_path)
    (paths.eval_dir / 'mine').mkdir(parents=True)
    (paths.grpo_dir / 'checkpoint-9000').mkdir(parents=True)
    monkeypatch.setattr(run_demo_module, '_run', lambda *args, **kwargs: pytest.fail('training ran'))
    with pytest.raises(RuntimeError, match='not made by the demo'):
        train(DemoConfig(output_dir=tmp_path), paths)
    assert (paths.eval_dir / 'mine').is_dir() and (paths.grpo_dir / 'checkpoint-9000').is_dir()


@pytest.mark.parametrize('name', ['scenes', 'frames', 'tiny_qwen3_vl', 'data/train.jsonl', 'grpo', 'eval'])
def test_a_folder_of_other_work_is_refused_before_any_stage_writes_into_it(name, tmp_path, monkeypatch):
    """The check ran before training only: the stages before it had replaced data/train.jsonl and the rest."""
    (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / name).write_text('mine\n')
    monkeypatch.setattr(run_demo_module, '_run', lambda *args, **kwargs: pytest.fail(f'{args[0][1]} ran'))
    with pytest.raises(
        RuntimeError, match=f'not made by the demo, which would replace or remove them: {tmp_path / name};'
    ):
        run_demo(DemoConfig(output_dir=tmp_path))
    assert (tmp_path / name).read_text() == 'mine\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == [name.split('/')[0]]


def test_a_demo_folder_from_before_the_marker_is_the_demos(tmp_path, monkeypatch):
    """Demo runs before the marker existed left grpo.log: their folder is still the demo's to replace."""
    paths = DemoPaths(tmp_path)
    (paths.grpo_dir / 'checkpoint-20').mkdir(parents=True)
    paths.grpo_log.write_text('an older demo run\n')

    def fake_run(command, env=None, log=None):
        assert not paths.grpo_dir.exists()  # the old run's folder was removed
        (paths.grpo_dir / 'checkpoint-20').mkdir(parents=True)
        (paths.grpo_dir / 'checkpoint-20' / 'adapter_config.json').write_text('{}')

    monkeypatch.setattr(run_demo_module, '_run', fake_run)
    assert train(DemoConfig(output_dir=tmp_path), paths) == paths.grpo_dir / 'checkpoint-20'
    assert paths.marker.is_file()


def test_a_checkpoint_without_an_adapter_is_no_adapter(tmp_path, monkeypatch):
    paths = DemoPaths(tmp_path)
    monkeypatch.setattr(run_demo_module, '_run', lambda *a, **k: (paths.grpo_dir / 'checkpoint-20').mkdir(parents=True))
    with pytest.raises(RuntimeError, match='GRPO wrote no LoRA checkpoint at .*checkpoint-20'):
        train(DemoConfig(output_dir=tmp_path), paths)


def test_questions_per_step_sets_the_batch(tmp_path):
    """swift's batch is in completions: num_generations of each question."""
    command, _ = grpo_command(DemoConfig(num_generations=4, questions_per_step=3), tmp_path, tmp_path, tmp_path)
    assert command[command.index('--per_device_train_batch_size') + 1] == '12'


@pytest.mark.parametrize('log', [False, True])
def test_a_stage_killed_by_a_signal_stops_the_demo(tmp_path, log):
    """A stage killed by the kernel (OOM: SIGKILL) exits -9 to Popen, which must not pass for success."""
    command = [sys.executable, '-c', 'import os, signal; os.kill(os.getpid(), signal.SIGKILL)']
    with pytest.raises((subprocess.CalledProcessError, RuntimeError), match='SIGKILL|exit -9'):
        run_demo_module._run(command, log=tmp_path / 'stage.log' if log else None)


def test_a_relative_output_dir_starts_where_the_demo_was_started(tmp_path, monkeypatch):
    """The stages run from the bundle folder, so a relative --output_dir is made absolute from the caller's."""
    monkeypatch.chdir(tmp_path)
    assert DemoPaths(Path('out')).dataset == tmp_path / 'out' / 'data' / 'train.jsonl'


def test_evaluation_uses_the_pixel_budget_training_used(tmp_path, monkeypatch):
    """The YAML's ENV sets MAX_PIXELS only when the shell does not; evaluation forced the YAML's value."""
    monkeypatch.setenv('MAX_PIXELS', '4096')
    paths = DemoPaths(tmp_path)
    envs = []

    def fake_run(command, env=None, log=None):
        envs.append(env)
        (paths.eval_dir / 'base').mkdir(parents=True, exist_ok=True)
        (paths.eval_dir / 'base' / 'results.json').write_text('{}')

    monkeypatch.setattr(run_demo_module, '_run', fake_run)
    evaluate(DemoConfig(output_dir=tmp_path), paths, 'base', None)
    assert envs[-1]['MAX_PIXELS'] == '4096'
