"""The reward plugin loaded the way `--external_plugins` loads it and called the way the GRPO trainer calls it."""

import json
import logging
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from swift.rewards import orms
from swift.utils import import_external_file

ROOT = Path(__file__).resolve().parents[1]
OPTIONS = ['A. chair', 'B. table', 'C. sofa', 'D. lamp']


@pytest.fixture(scope='module')
def plugin():
    return import_external_file(str(ROOT / 'vsi_reward.py'))


@pytest.fixture
def swift_warnings(caplog):
    # swift's logger does not propagate to the root logger; attach pytest's handler to it directly.
    from swift.utils import get_logger

    logger = get_logger()
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.INFO)
    yield caplog
    logger.removeHandler(caplog.handler)


def _trainer_kwargs(**columns):
    """What `swift.rl_core.grpo_algorithm.compute_rewards_per_func` passes: trainer_state plus batched columns."""
    return {'trainer_state': SimpleNamespace(global_step=columns.pop('step', 0)), **columns}


def test_plugin_registers_three_rewards(plugin):
    assert orms['vsi_reward'] is plugin.VsiReward
    assert orms['vsi_reward_strict'] is plugin.VsiStrictReward
    assert orms['vsi_format'] is plugin.VsiFormatReward


def test_trainer_shaped_call(plugin):
    reward = orms['vsi_reward'](args=None)
    completions = ['(B)', 'The answer is A.', '3.5 m', '350 cm', 'twelve']
    kwargs = _trainer_kwargs(
        solution=['B', 'B', '3.5', '3.5', '12'],
        question_type=['object_rel_distance'] * 2 + ['object_abs_distance'] * 2 + ['object_counting'],
        options=[OPTIONS, OPTIONS, None, None, None],
        id=['q0', 'q1', 'q2', 'q3', 'q4'],
        messages=[[{'role': 'user', 'content': 'x'}]] * 5,
        images=[[]] * 5,
    )
    assert reward(completions, **kwargs) == [1.0, 0.0, 1.0, 1.0, 1.0]
    strict = orms['vsi_reward_strict'](args=None)
    assert strict(completions, **kwargs) == [0.0, 0.0, 1.0, 0.0, 0.0]
    fmt = orms['vsi_format'](args=None)
    assert fmt(['<think>a</think><answer>B</answer>', 'B'], **_trainer_kwargs()) == [1.0, 0.0]


def test_the_options_column_reaches_the_reward(plugin):
    """An answer naming an option's text, and a solution given as an option's text, are read through the row's
    options: without them both scored 0, silently, all through training."""
    reward = orms['vsi_reward'](args=None)
    kwargs = _trainer_kwargs(
        solution=['C', 'sofa', 'C'], question_type=['object_rel_distance'] * 3, options=[OPTIONS, OPTIONS, None]
    )
    assert reward(['The sofa.', 'C', 'The sofa.'], **kwargs) == [1.0, 1.0, 0.0]  # the last row has no options


def test_strict_reward_reads_think_rows_as_the_evaluator_does(plugin):
    strict = orms['vsi_reward_strict'](args=None)
    completions = ['<think>two chairs</think><answer>B</answer>', '<think>B</think>', 'B because', '<answer>B</answer>']
    kwargs = _trainer_kwargs(
        solution=['B'] * 4, question_type=['object_rel_distance'] * 4, prompt_style=['think', 'think', 'direct', None]
    )
    # think: the last <answer> block, which must be closed (none: 0); direct and no style: the first word
    assert strict(completions, **kwargs) == [1.0, 0.0, 1.0, 0.0]
    without_column = _trainer_kwargs(solution=['B'] * 4, question_type=['object_rel_distance'] * 4)
    assert strict(completions, **without_column) == [0.0, 0.0, 1.0, 0.0]


@pytest.mark.parametrize('name', ['vsi_reward', 'vsi_reward_strict'])
def test_bad_rows_score_zero_and_warn_once(plugin, swift_warnings, name):
    reward = orms[name](args=None)
    completions = ['B', 'B', 'B', 'B']
    rewards = reward(
        completions,
        **_trainer_kwargs(
            solution=['B', None, 'B', 'C'],
            question_type=['object_rel_distance', 'object_rel_distance', 7, 7],
            options=[OPTIONS, OPTIONS, OPTIONS, 7],
        ),
    )
    assert rewards == [1.0, 0.0, 0.0, 0.0]  # no solution, a type that is not text: 0
    again = reward(completions, **_trainer_kwargs(solution=[None] * 4, question_type=['route_planning'] * 4))
    assert again == [0.0] * 4
    warnings = [r.getMessage() for r in swift_warnings.records if r.levelno == logging.WARNING]
    assert sum("no 'solution'" in w for w in warnings) == 1  # once per kind, not once per row
    assert sum('question_type is not text (int)' in w for w in warnings) == 1


@pytest.mark.parametrize('name', ['vsi_reward', 'vsi_reward_strict', 'vsi_format'])
def test_columns_named_like_the_call_arguments_reach_the_reward_as_columns(plugin, name):
    """swift passes every dataset column as a keyword: `completions` or `self` raised a TypeError (multiple values
    for the argument) before the never-raise guard, in every call of the run."""
    reward = orms[name](args=None)
    completion = '<think>a</think><answer>B</answer>' if name == 'vsi_format' else 'B'
    kwargs = _trainer_kwargs(solution=['B'], question_type=['route_planning'], completions=['x'], self=['y'])
    assert reward([completion], **kwargs) == [1.0]


@pytest.mark.parametrize('name', ['vsi_reward', 'vsi_reward_strict', 'vsi_format'])
def test_a_completion_that_is_not_text_scores_zero_with_a_warning(plugin, swift_warnings, name):
    """swift 4.6 passes the text of the last assistant turn; were a version to pass the turn itself, every reward
    would be 0 and a run would learn nothing while looking healthy: say so once."""
    reward = orms[name](args=None)
    turns = [[{'role': 'assistant', 'content': 'B'}], None]
    assert reward(turns, **_trainer_kwargs(solution=['B', 'B'], question_type=['route_planning'] * 2)) == [0.0, 0.0]
    warnings = [r.getMessage() for r in swift_warnings.records if r.levelno == logging.WARNING]
    assert warnings == [f'{name}: a completion is a list, not text; it scores 0 (logged once)']


@pytest.mark.parametrize('name', ['vsi_reward', 'vsi_reward_strict'])
def test_rows_without_a_question_type_are_scored_by_their_solution(plugin, swift_warnings, name):
    """Data from other tools may lack the column: all-zero rewards would train nothing for hours, looking fine."""
    reward = orms[name](args=None)
    completions = ['B', 'C', '3', '4', '2.0']
    solutions = ['B', 'B', '3', '3', '2']
    # a letter is multiple choice (exact), anything else a number scored with MRA: |4-3|/3 passes thresholds
    # 0.50 ... 0.65 of the ten (0.50, 0.55, ..., 0.95), so 4 of 10
    expected = [1.0, 0.0, 1.0, 0.4, 1.0]
    assert reward(completions, **_trainer_kwargs(solution=solutions)) == pytest.approx(expected)
    assert reward(completions, **_trainer_kwargs(solution=solutions, question_type=[None] * 5)) == pytest.approx(
        expected
    )
    warnings = [r.getMessage() for r in swift_warnings.records if r.levelno == logging.WARNING]
    assert sum('no question_type' in w for w in warnings) == 1  # once, not per row or per call


def test_missing_columns_and_garbage_never_raise(plugin, swift_warnings):
    reward = orms['vsi_reward'](args=None)
    assert reward(['B', 'C']) == [0.0, 0.0]  # no columns at all
    assert reward(['B'], solution=['B', 'C'], question_type=['route_planning']) == [0.0]  # wrong length
    assert reward(None) == []
    assert reward([None, 3, ['B']], **_trainer_kwargs(solution=['B'] * 3, question_type=['route_planning'] * 3)) == [
        0.0,
        0.0,
        0.0,
    ]
    # The benchmark layout's `ground_truth` column is accepted when `solution` is absent.
    assert reward(['B'], ground_truth=['B'], question_type=['route_planning']) == [1.0]
    assert any('missing' in r.getMessage() for r in swift_warnings.records)


def test_scoring_errors_are_contained(plugin, monkeypatch, swift_warnings):
    reward = orms['vsi_reward'](args=None)

    def broken(*args, **kwargs):
        raise RuntimeError('boom')

    monkeypatch.setattr(plugin.vsi_scoring, 'reward_score', broken)
    assert reward(['B', 'B'], solution=['B', 'B'], question_type=['route_planning'] * 2) == [0.0, 0.0]
    assert sum('RuntimeError: boom' in r.getMessage() for r in swift_warnings.records) == 1


def test_an_error_whose_message_raises_is_named_by_its_type(plugin, monkeypatch, swift_warnings):
    class Unprintable(Exception):
        def __str__(self):
            raise RuntimeError('str')

    def broken(*args, **kwargs):
        raise Unprintable

    monkeypatch.setattr(plugin.vsi_scoring, 'reward_score', broken)
    reward = orms['vsi_reward'](args=None)
    assert reward(['B'], solution=['B'], question_type=['route_planning']) == [0.0]
    warnings = [r.getMessage() for r in swift_warnings.records if r.levelno == logging.WARNING]
    assert 'vsi_reward: scoring failed (Unprintable); the completion scores 0 (logged once)' in warnings


def test_per_type_means_logged_once_per_step(plugin, swift_warnings):
    plugin._flush_all()  # what rewards of earlier tests still hold
    swift_warnings.clear()
    reward = orms['vsi_reward'](args=None)
    types = ['object_counting', 'object_counting', 'route_planning', 'route_planning']
    reward(['3', '4', 'B', 'A'], **_trainer_kwargs(step=1, solution=['3', '3', 'B', 'B'], question_type=types))
    reward(['3', '3', 'A', 'A'], **_trainer_kwargs(step=1, solution=['3', '3', 'B', 'B'], question_type=types))
    assert not [r for r in swift_warnings.records if 'per type' in r.getMessage()]
    reward(['3'], **_trainer_kwargs(step=2, solution=['3'], question_type=['object_counting']))
    lines = [r.getMessage() for r in swift_warnings.records if 'per type' in r.getMessage()]
    # global_step 1 while computing rewards is swift's step 2 (the optimizer step comes after)
    assert len(lines) == 1 and 'at step 2:' in lines[0]
    # Counting at step 2: 1, MRA(4 vs 3) = 0.4 (error 1/3 passes tolerances 0.5, 0.45, 0.4, 0.35), 1, 1.
    assert 'object_counting 0.850 (n=4)' in lines[0]
    assert 'route_planning 0.250 (n=4)' in lines[0]
    # the last step has no next one: its line comes when the process ends
    plugin._flush_all()
    lines = [r.getMessage() for r in swift_warnings.records if 'per type' in r.getMessage()]
    assert len(lines) == 2 and lines[1] == 'vsi_reward per type at step 3: object_counting 1.000 (n=1)'
    plugin._flush_all()  # logged once
    assert sum('per type' in r.getMessage() for r in swift_warnings.records) == 2


def test_per_type_line_is_sorted_by_type_and_names_rows_without_one(plugin, swift_warnings):
    plugin._flush_all()
    swift_warnings.clear()
    reward = orms['vsi_reward'](args=None)
    # Given out of name order; the row without a type is scored by its solution: MRA(4 vs 3) = 0.4 (see above).
    # A type that is not text scores 0, in a bucket of its own, so the scored rows' mean stays readable.
    kwargs = _trainer_kwargs(
        solution=['B', '3', '3', '3', '3'], question_type=['route_planning', None, 'object_counting', '', 7]
    )
    assert reward(['A', '4', '3', '3', '3'], **kwargs) == [0.0, 0.4, 1.0, 1.0, 0.0]
    reward.flush_per_type()
    lines = [r.getMessage() for r in swift_warnings.records if 'per type' in r.getMessage()]
    assert lines == [
        'vsi_reward per type at step 1: (no type) 0.700 (n=2) | (type not text) 0.000 (n=1) | '
        'object_counting 1.000 (n=1) | route_planning 0.000 (n=1)'
    ]


@pytest.mark.parametrize('name', ['vsi_reward_strict', 'vsi_format'])
def test_only_the_main_reward_logs_per_type_means(plugin, swift_warnings, name):
    """One per-type line per step, from `vsi_reward`: the others would repeat it (or log `(no type)` only)."""
    reward = orms[name](args=None)
    kwargs = {'solution': ['B'], 'question_type': ['route_planning']}
    for step in (0, 1, 2):
        reward(['B'], **_trainer_kwargs(step=step, **kwargs))
    reward.flush_per_type()
    assert not [r for r in swift_warnings.records if 'per type' in r.getMessage()]


@pytest.mark.parametrize('name', ['vsi_reward', 'vsi_reward_strict', 'vsi_format'])
def test_each_reward_is_named_as_it_is_registered_and_keeps_swifts_args(plugin, name):
    assert orms[name].name == name  # its log lines name the reward as --reward_funcs does
    args = SimpleNamespace(num_generations=2)
    assert orms[name](args=args).args is args  # swift's ORM contract


@pytest.mark.parametrize('value', [float('nan'), float('inf'), float('-inf')])
def test_a_non_finite_score_becomes_zero_with_one_warning(plugin, monkeypatch, swift_warnings, value):
    monkeypatch.setattr(plugin.vsi_scoring, 'reward_score', lambda *args: value)
    reward = orms['vsi_reward'](args=None)
    assert reward(['B', 'B'], solution=['B', 'B'], question_type=['route_planning'] * 2) == [0.0, 0.0]
    assert sum('non-finite' in r.getMessage() for r in swift_warnings.records) == 1


def test_an_empty_batch_scores_nothing_and_warns_nothing(plugin, swift_warnings):
    reward = orms['vsi_reward'](args=None)
    assert reward([], **_trainer_kwargs(solution=[], question_type=[], options=[])) == []
    assert [r.getMessage() for r in swift_warnings.records if r.levelno >= logging.WARNING] == []


@pytest.mark.parametrize(
    ('completions', 'columns', 'expected'),
    [
        # No usable completions: the batched columns say how many rows (trainer_state is no column, even a list).
        (None, {'messages': [[], []], 'trainer_state': [0, 0, 0]}, [0.0, 0.0]),
        (None, {'messages': [[], []], 'solution': ('B', 'B')}, [0.0, 0.0]),
        (None, {'messages': [[], []], 'solution': ['B']}, []),  # they disagree: nothing is known
        (None, {'trainer_state': [0, 0]}, []),
    ],
)
def test_rows_counted_from_the_batch_without_usable_completions(plugin, completions, columns, expected):
    assert orms['vsi_reward'](args=None)(completions, **columns) == expected


@pytest.mark.parametrize(
    ('solution', 'expected'),
    [
        (['B', 'B'], [1.0, 1.0]),
        (('B', 'B'), [1.0, 1.0]),
        (np.array(['B', 'B']), [1.0, 1.0]),
        # Text, bytes or a mapping of the right length is one value, not one per completion: the column is missing.
        ('BB', [0.0, 0.0]),
        (b'BB', [0.0, 0.0]),
        ({'x': 'B', 'y': 'B'}, [0.0, 0.0]),
        ({'B': 'x', 'b': 'y'}, [0.0, 0.0]),  # not read as its keys, which here are right answers
    ],
)
def test_a_column_is_a_sequence_of_one_value_per_completion(plugin, solution, expected):
    reward = orms['vsi_reward'](args=None)
    assert reward(['B', 'B'], **_trainer_kwargs(solution=solution, question_type=['route_planning'] * 2)) == expected


def test_optional_columns_may_be_absent_without_a_warning(plugin, swift_warnings):
    # Numeric-only data has no options, data from other tools no prompt_style: neither is worth a warning.
    for name in ('vsi_reward', 'vsi_reward_strict'):
        assert orms[name](args=None)(['3'], **_trainer_kwargs(solution=['3'], question_type=['object_counting'])) == [
            1.0
        ]
    assert [r.getMessage() for r in swift_warnings.records if r.levelno >= logging.WARNING] == []


def test_completions_whose_length_disagrees_with_their_items_score_zero(plugin, swift_warnings):
    class Liar(list):
        def __len__(self):
            return 3

    reward = orms['vsi_reward'](args=None)
    columns = _trainer_kwargs(solution=['B'] * 3, question_type=['route_planning'] * 3)
    assert reward(Liar(['B']), **columns) == [0.0, 0.0, 0.0]
    assert sum('reading the batch failed (IndexError' in r.getMessage() for r in swift_warnings.records) == 1


def test_plumbing_that_used_to_raise_now_scores_zero(plugin, swift_warnings):
    class Broken:
        """Raises from everything the plumbing might call."""

        def __len__(self):
            raise RuntimeError('len')

        def __str__(self):
            raise RuntimeError('str')

        @property
        def global_step(self):
            raise RuntimeError('step')

    reward = orms['vsi_reward'](args=None)
    columns = {'solution': ['B'], 'question_type': ['object_rel_distance']}
    assert reward({'B'}, **columns) == [1.0]  # a set: its items are scored
    assert reward({'x': 'B'}, **columns) == [0.0]  # a dict: its keys are
    # A 0-d numpy column has a __len__ that raises: the column counts as missing.
    assert reward(['3'], solution=np.array('3'), question_type=['object_counting']) == [0.0]
    assert reward(['3'], solution=Broken(), question_type=['object_counting']) == [0.0]
    assert reward(['3'], solution=['3'], question_type=[Broken()]) == [0.0]  # not text: scores 0, logs
    assert reward(['3'], solution=['3'], question_type=['object_counting'], trainer_state=Broken()) == [1.0]
    step = SimpleNamespace(global_step=np.array([1, 2]))
    assert reward(['3'], solution=['3'], question_type=['object_counting'], trainer_state=step) == [1.0]
    # completions without a length: swift sizes its reward tensor by the batch, so the other columns say how many.
    assert reward(None, messages=[[], []], solution=['B', 'B']) == [0.0, 0.0]
    assert reward(Broken(), messages=[[], [], []]) == [0.0, 0.0, 0.0]
    assert reward((c for c in ['B']), solution=['B', 'C'], messages=[[]]) == []  # columns disagree: nothing known
    assert any('per-type logging failed (RuntimeError: step)' in r.getMessage() for r in swift_warnings.records)


class _Hostile:
    """A value whose every dunder the plumbing might touch raises."""

    def __len__(self):
        raise RuntimeError('len')

    def __iter__(self):
        raise RuntimeError('iter')

    def __str__(self):
        raise RuntimeError('str')

    def __eq__(self, other):
        raise RuntimeError('eq')

    __hash__ = object.__hash__

    @property
    def global_step(self):
        raise RuntimeError('step')


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=20),
    st.binary(max_size=4),
    st.sampled_from(['B', '3', '<think>x</think><answer>B</answer>', 'object_counting', 'route_planning']),
    st.just(_Hostile()),
    st.builds(np.array, st.sampled_from(['3', 'B', 3.0])),  # 0-d arrays
)
_columns = st.one_of(
    _scalars,
    st.lists(_scalars, max_size=4),
    st.lists(_scalars, max_size=4).map(tuple),
    st.lists(_scalars, max_size=4).map(lambda values: np.array(values, dtype=object)),
    st.sets(st.text(max_size=3), max_size=3),
    st.dictionaries(st.text(max_size=3), _scalars, max_size=3),
    st.iterables(_scalars, max_size=3),
)
_trainer_states = st.one_of(
    st.none(),
    st.just(_Hostile()),
    st.builds(
        SimpleNamespace, global_step=st.one_of(_scalars, st.builds(np.array, st.lists(st.integers(), max_size=3)))
    ),
)


def _expected_length(completions, kwargs) -> int:
    """The spec: len(completions) when it has one and can be listed and is no one value (text, bytes, a mapping),
    else the length every list or tuple column shares (swift's batch size), else 0."""
    try:
        assert not isinstance(completions, (str, bytes, dict))
        n = len(completions)
        list(completions)
        return n
    except Exception:
        lengths = {len(v) for k, v in kwargs.items() if k != 'trainer_state' and isinstance(v, (list, tuple))}
        return lengths.pop() if len(lengths) == 1 else 0


@settings(max_examples=300, deadline=None)
@given(
    completions=_columns,
    columns=st.dictionaries(
        st.sampled_from(['solution', 'ground_truth', 'question_type', 'options', 'messages', 'id']), _columns
    ),
    trainer_state=_trainer_states,
    name=st.sampled_from(['vsi_reward', 'vsi_reward_strict', 'vsi_format']),
)
def test_every_reward_is_total(plugin, completions, columns, trainer_state, name):
    kwargs = {**columns, 'trainer_state': trainer_state}
    expected = _expected_length(completions, kwargs)
    rewards = orms[name](args=None)(completions, **kwargs)
    assert isinstance(rewards, list) and all(type(r) is float and 0.0 <= r <= 1.0 for r in rewards)
    assert len(rewards) == expected


def test_under_enable_thinking_swift_hands_the_rewards_the_prefix_too(plugin, tiny_model_dir):
    """swift's --enable_thinking true ends the prompt with `<think>\n` and writes it at the start of the completion
    (Template.decode_generate_ids, as swift's GRPO vLLM engine decodes a rollout), so the rewards need no variant:
    swift's own rollout-to-reward path, on what the model sampled after the prompt's `<think>\n`."""
    import torch
    from swift.infer_engine.protocol import (
        ChatCompletionResponse,
        ChatCompletionResponseChoice,
        ChatMessage,
        RolloutOutput,
        UsageInfo,
    )
    from swift.model import get_processor
    from swift.rl_core.data import GRPOSample
    from swift.rl_core.grpo_algorithm import compute_rewards_per_func
    from swift.template import get_template
    from swift.template.template_inputs import StdTemplateInputs

    processor = get_processor(str(tiny_model_dir), model_type='qwen3_vl')
    sampled = 'The chair is left of the bed.\n</think>\n\n<answer>B</answer>'
    names = ['vsi_reward', 'vsi_reward_strict', 'vsi_format']
    rewards = {}
    for thinking in (True, False):
        template = get_template(processor, enable_thinking=thinking)
        ids = template.tokenizer.encode(sampled, add_special_tokens=False)
        content = template.decode_generate_ids(ids, template_inputs=StdTemplateInputs(messages=[]))
        assert content == ('<think>\n' if thinking else '') + sampled
        message = ChatMessage(role='assistant', content=content)
        usage = UsageInfo(prompt_tokens=1, completion_tokens=1, total_tokens=2)
        response = ChatCompletionResponse(
            model='m',
            choices=[ChatCompletionResponseChoice(index=0, message=message, finish_reason='stop')],
            usage=usage,
        )
        extra = {'solution': 'B', 'question_type': 'object_rel_distance', 'options': OPTIONS, 'prompt_style': 'think'}
        sample = GRPOSample(messages=[{'role': 'user', 'content': 'q'}], extra=extra)
        sample.apply_rollout_output(rollout_output=RolloutOutput(response=response))
        scores = compute_rewards_per_func([sample], [orms[n](args=None) for n in names], None, torch.device('cpu'))
        rewards[thinking] = dict(zip(names, scores[0].tolist(), strict=True))
    assert rewards[True] == {'vsi_reward': 1.0, 'vsi_reward_strict': 1.0, 'vsi_format': 1.0}
    # without the flag the same text never opened its reasoning: the format reward says so
    assert rewards[False] == {'vsi_reward': 1.0, 'vsi_reward_strict': 1.0, 'vsi_format': 0.0}


def test_the_strict_reward_at_weight_zero_is_watched_without_changing_the_advantages(plugin):
    """The README's `--reward_funcs vsi_reward vsi_reward_strict --reward_weights 1 0`: swift logs both rewards'
    means, and with weight 0 the advantages are those of the lenient reward alone."""
    import torch
    from swift.rl_core.advantage import compute_advantages

    import train_vsi_grpo

    args = {'reward_funcs': ['vsi_reward', 'vsi_reward_strict'], 'reward_weights': ['1', '0']}
    assert train_vsi_grpo.reward_weights_problem(args) is None
    completions = ['(B)', 'B', 'The answer is B.', 'A']  # lenient 1, 1, 1, 0; strict 0, 1, 0, 0
    kwargs = _trainer_kwargs(solution=['B'] * 4, question_type=['route_planning'] * 4)
    lenient, strict = (orms[name](args=None)(completions, **kwargs) for name in args['reward_funcs'])
    assert (lenient, strict) == ([1.0, 1.0, 1.0, 0.0], [0.0, 1.0, 0.0, 0.0])
    for scale in ('group', 'batch', 'gdpo'):
        weights = torch.tensor([1.0, 0.0])
        both, _ = compute_advantages(torch.tensor([lenient, strict]).T, weights, 4, scale_rewards=scale)
        alone, _ = compute_advantages(torch.tensor([lenient]).T, torch.tensor([1.0]), 4, scale_rewards=scale)
        assert torch.allclose(both, alone), scale


@pytest.mark.parametrize('name', ['vsi_reward', 'vsi_reward_strict'])
def test_a_solution_no_answer_can_match_warns_once(plugin, swift_warnings, name):
    """`3 m` for a count, or an option text that is no option: every completion of the question scores 0, which
    looked like a hard question; wrong answers to readable solutions warn nothing."""
    reward = orms[name](args=None)
    kwargs = _trainer_kwargs(
        solution=['3', 'B', 'table', '3 m', 'bed'],
        question_type=['object_counting', 'route_planning', 'object_rel_distance', 'object_counting', 'route_planning'],
        options=[None, OPTIONS, OPTIONS, None, OPTIONS],
    )
    rewards = reward(['5', 'A', 'A', '3', 'A'], **kwargs)
    assert rewards == [0.0] * 5
    warnings = [r.getMessage() for r in swift_warnings.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"{name}: a solution reads as neither an option nor a number ('3 m' for question type 'object_counting'): "
        'its row scores 0 whatever the answer (logged once)'
    ]


@pytest.mark.parametrize('name', ['vsi_reward', 'vsi_reward_strict', 'vsi_format'])
def test_completions_given_by_keyword_or_as_one_string_score_one_value_per_row(plugin, swift_warnings, name):
    """TRL's trainer passes `completions=`: that raised a TypeError before the never-raise guard. One string is one
    value, not one completion per character: 5 rewards for `hello` would not fit swift's reward tensor of 1 row."""
    reward = orms[name](args=None)
    completion = '<think>a</think><answer>B</answer>' if name == 'vsi_format' else 'B'
    columns = _trainer_kwargs(solution=['B'], question_type=['route_planning'])
    assert reward(completions=[completion], prompts=['p'], completion_ids=[[1]], **columns) == [1.0]
    assert reward(**columns) == [0.0]  # no completions at all: one row, as the columns say
    assert reward('hello', **columns) == [0.0]
    assert reward(completions='hello', **columns) == [0.0]
    warnings = [r.getMessage() for r in swift_warnings.records if r.levelno == logging.WARNING]
    assert warnings == [f'{name}: completions is a NoneType, not a list; 1 rows score 0 (logged once)']


def test_the_strict_reward_scores_a_text_solution_against_its_options_letter(plugin, swift_warnings):
    """The benchmark's ground truth is the letter: a solution written as the option's text, or as `B.`, scored the
    right letter 0 and the text 1, the reverse of what the benchmark counts, with no warning."""
    strict = orms['vsi_reward_strict'](args=None)
    completions = ['C', 'B', 'sofa', 'C.', 'B', 'B because']
    kwargs = _trainer_kwargs(
        solution=['sofa'] * 4 + ['B.', ' B'],
        question_type=['object_rel_distance'] * 6,
        options=[OPTIONS] * 4 + [None, None],
    )
    assert strict(completions, **kwargs) == [1.0, 0.0, 0.0, 1.0, 1.0, 1.0]
    assert [r.getMessage() for r in swift_warnings.records if r.levelno >= logging.WARNING] == []


@pytest.mark.parametrize('name', ['vsi_reward', 'vsi_reward_strict'])
def test_rows_of_both_layouts_in_one_batch_each_find_their_answer(plugin, name):
    """swift batches a `solution` row with a `ground_truth` row as solution ['B', None], ground_truth [None, 'C']:
    the second row scored 0 whatever it answered."""
    reward = orms[name](args=None)
    kwargs = _trainer_kwargs(solution=['B', None], ground_truth=[None, 'C'], question_type=['route_planning'] * 2)
    assert reward(['B', 'C'], **kwargs) == [1.0, 1.0]
    assert reward(['B', 'C'], **_trainer_kwargs(ground_truth=['B', 'C'], question_type=['route_planning'] * 2)) == [
        1.0,
        1.0,
    ]
    # a blank solution is none, as preprocess_vsi_data reads the row (it wrote `C` as the solution)
    kwargs = _trainer_kwargs(solution=['B', ' '], ground_truth=[None, 'C'], question_type=['route_planning'] * 2)
    assert reward(['B', 'C'], **kwargs) == [1.0, 1.0]


@pytest.mark.parametrize('name', ['vsi_reward', 'vsi_reward_strict'])
def test_unanswerable_multiple_choice_rows_score_zero_in_both_rewards_and_warn(plugin, swift_warnings, name):
    """A letter the options do not offer (`E` of A-D), or an option text without options to find it in: vsi_reward
    scored every answer 0 without a word about the first, while vsi_reward_strict paid 1 for `E` or `table`."""
    reward = orms[name](args=None)
    kwargs = _trainer_kwargs(solution=['E', 'table'], question_type=['route_planning'] * 2, options=[OPTIONS, None])
    assert reward(['E', 'table'], **kwargs) == [0.0, 0.0]
    think = _trainer_kwargs(
        solution=['table'], question_type=['route_planning'], prompt_style=['think'], options=[None]
    )
    assert reward(['<think>x</think><answer>table</answer>'], **think) == [0.0]
    warnings = [r.getMessage() for r in swift_warnings.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"{name}: a solution reads as neither an option nor a number ('E' for question type 'route_planning'): its "
        'row scores 0 whatever the answer (logged once)'
    ]


@pytest.mark.parametrize('name', ['vsi_reward', 'vsi_reward_strict'])
def test_options_as_an_array_are_read_and_unreadable_options_score_zero_with_a_warning(plugin, swift_warnings, name):
    """Options batched as numpy arrays were taken for no options: `The answer is table` scored 0 in vsi_reward. A
    JSON string or non-text items cannot be read: the row scores 0 with a warning, as the docstring says."""
    reward = orms[name](args=None)
    answer = 'The answer is table' if name == 'vsi_reward' else 'B'
    column = np.array([OPTIONS, OPTIONS])  # one 2-D array for the column: each row is an array
    kwargs = _trainer_kwargs(solution=['B', 'B'], question_type=['route_planning'] * 2, options=column)
    assert reward([answer, answer], **kwargs) == [1.0, 1.0]
    assert [r for r in swift_warnings.records if r.levelno >= logging.WARNING] == []
    bad = [json.dumps(OPTIONS), {'A': 'chair'}, [1, 2]]
    kwargs = _trainer_kwargs(solution=['B'] * 3, question_type=['route_planning'] * 3, options=bad)
    assert reward(['B'] * 3, **kwargs) == [0.0, 0.0, 0.0]
    warnings = [r.getMessage() for r in swift_warnings.records if r.levelno == logging.WARNING]
    assert warnings == [f"{name}: a row's options are a str, not a list of option texts; it scores 0 (logged once)"]


@pytest.mark.parametrize('name', ['vsi_reward', 'vsi_reward_strict'])
def test_a_type_that_is_not_text_gives_only_its_own_warning(plugin, swift_warnings, name):
    """Kills: dropping `if row['question_type'] is None: return 0.0` in _safe_score (the row then also got the
    misleading 'solution reads as neither an option nor a number' warning)."""
    reward = orms[name](args=None)
    assert reward(['B'], **_trainer_kwargs(solution=['B'], question_type=[7])) == [0.0]
    warnings = [r.getMessage() for r in swift_warnings.records if r.levelno == logging.WARNING]
    assert warnings == [f"{name}: a row's question_type is not text (int); it scores 0 (logged once)"]


def test_a_column_whose_len_disagrees_with_its_items_is_missing(plugin, swift_warnings):
    """Kills: dropping the final `len(values) == n` check in _one_per_row."""

    class Liar(list):
        def __len__(self):
            return 2

    reward = orms['vsi_reward'](args=None)
    assert reward(['B', 'B'], solution=Liar(['B', 'B', 'B']), question_type=['route_planning'] * 2) == [0.0, 0.0]
    assert any("column 'solution' is missing" in r.getMessage() for r in swift_warnings.records)


def test_a_numpy_integer_step_numbers_the_per_type_line(plugin, swift_warnings):
    """Kills: `isinstance(step, numbers.Integral)` -> `isinstance(step, int)` (a numpy step logged `at step None`)."""
    plugin._flush_all()
    swift_warnings.clear()
    reward = orms['vsi_reward'](args=None)
    reward(['B'], **_trainer_kwargs(step=np.int64(4), solution=['B'], question_type=['route_planning']))
    reward.flush_per_type()
    lines = [r.getMessage() for r in swift_warnings.records if 'per type' in r.getMessage()]
    assert lines == ['vsi_reward per type at step 5: route_planning 1.000 (n=1)']


def test_a_flush_that_fails_at_exit_neither_raises_nor_stops_the_other_rewards_lines(plugin, swift_warnings):
    plugin._flush_all()
    swift_warnings.clear()
    broken, working = orms['vsi_reward'](args=None), orms['vsi_reward'](args=None)
    kwargs = _trainer_kwargs(step=4, solution=['3'], question_type=['object_counting'])
    broken(['3'], **kwargs)
    working(['3'], **kwargs)

    def fail():
        raise RuntimeError('logging is gone')

    broken.flush_per_type = fail
    plugin._flush_all()  # the atexit hook: nothing may fail at exit
    lines = [r.getMessage() for r in swift_warnings.records if 'per type' in r.getMessage()]
    assert lines == ['vsi_reward per type at step 5: object_counting 1.000 (n=1)']
