"""What a results.json must contain for a set of predictions, worked out two ways.

`recompute_scores` applies `vsi_scoring` directly: the report must hold exactly those numbers (the evaluator adds
nothing of its own). `official_overall` is an independent re-implementation of the official code
(thinking-in-space main, `lmms_eval/tasks/vsibench/utils.py`: `vsibench_process_results` and
`vsibench_aggregate_results`, with pandas as there), so that the headline is checked against the official rules
rather than against the code under test. Shared by the evaluator's, the scoring and the demo's tests.
"""

from functools import partial

import numpy as np
import pandas as pd

from vsi_scoring import aggregate, official_score, reward_score

# ---- a copy of the official code (only what scoring needs) --------------------------------------------------

MCA_QUESTION_TYPES = [
    'object_rel_direction_easy',
    'object_rel_direction_medium',
    'object_rel_direction_hard',
    'object_rel_distance',
    'route_planning',
    'obj_appearance_order',
]
NA_QUESTION_TYPES = ['object_abs_distance', 'object_counting', 'object_size_estimation', 'room_size_estimation']


def fuzzy_matching(pred):
    return pred.split(' ')[0].rstrip('.').strip()


def exact_match(pred, target):
    return 1.0 if pred.lower() == target.lower() else 0.0


def mean_relative_accuracy(pred, target, start, end, interval):
    num_pts = (end - start) / interval + 2
    conf_intervs = np.linspace(start, end, int(num_pts))
    accuracy = abs(pred - target) / target <= 1 - conf_intervs
    return accuracy.mean()


def to_float(pred):
    try:
        return float(pred)
    except BaseException:
        return None


def official_row_score(prediction: str, ground_truth: str, question_type: str) -> float:
    """`vsibench_process_results` for one row: accuracy or MRA of the first word; raises on an unknown type."""
    if question_type in MCA_QUESTION_TYPES:
        return exact_match(fuzzy_matching(prediction), ground_truth)
    if question_type in NA_QUESTION_TYPES:
        mra = partial(mean_relative_accuracy, start=0.5, end=0.95, interval=0.05)
        try:
            return float(mra(to_float(fuzzy_matching(prediction)), to_float(ground_truth)))
        except TypeError:
            return 0.0
    raise ValueError(f'Unknown question type: {question_type}')


def official_aggregate(rows: list[dict]) -> float:
    """`vsibench_aggregate_results`: per-type means, relative direction merged, overall = mean of what is left, in
    percent.

    One documented extension (vsi_scoring.aggregate): where the official code cannot score a set (easy direction
    questions without medium or hard ones: KeyError), the absent levels count as 0. Otherwise this is the official
    code line for line, levels without easy ones included (left unmerged).
    """
    results = pd.DataFrame(rows)
    output = {}
    for question_type, indexes in results.groupby('question_type').groups.items():
        output[question_type] = results.iloc[indexes]['score'].mean()
    levels = ['object_rel_direction_easy', 'object_rel_direction_medium', 'object_rel_direction_hard']
    if 'object_rel_direction_easy' in output:
        output['object_rel_direction'] = sum([output.pop(level, 0.0) for level in levels]) / 3.0
    return (sum(output.values()) / len(output)).item() * 100.0


def think_answer(prediction: str) -> str | None:
    """The stripped content of the last `<answer>` block stated after the reasoning, or None when there is none or
    it is not closed (this bundle's think protocol, README "Scoring": after the last `</think>`, up to a `<think>`
    opened there and never closed; an earlier closed block does not count). Lowercase tags only (vsi_scoring takes
    any case)."""
    closed = prediction.rfind('</think>')
    stated = prediction[closed + len('</think>') :] if closed >= 0 else prediction
    stated = stated.split('<think>', 1)[0]  # a <think> after the last </think> is never closed: cut off reasoning
    start = stated.rfind('<answer>')
    end = stated.find('</answer>', start)
    if start < 0 or end < 0:
        return None
    return stated[start + len('<answer>') : end].strip()


def official_overall(predictions: list[dict], prompt_style: str = 'direct') -> float:
    """The official overall score of prediction rows; with `think`, the official rule reads the answer block."""
    rows = []
    for p in predictions:
        prediction = p['prediction'] if prompt_style == 'direct' else think_answer(p['prediction'])
        score = 0.0 if prediction is None else official_row_score(prediction, p['ground_truth'], p['question_type'])
        rows.append({'question_type': p['question_type'], 'score': score})
    return official_aggregate(rows)


# ---- vsi_scoring applied directly ---------------------------------------------------------------------------


def recompute_scores(predictions: list[dict], prompt_style: str = 'direct') -> tuple[dict, dict]:
    """(official, lenient) aggregates of prediction rows (`prediction`, `ground_truth`, `question_type`, `options`)."""
    official = aggregate(
        {
            'question_type': p['question_type'],
            'score': official_score(p['prediction'], p['ground_truth'], p['question_type'], prompt_style),
        }
        for p in predictions
    )
    lenient = aggregate(
        {
            'question_type': p['question_type'],
            'score': reward_score(p['prediction'], p['ground_truth'], p['question_type'], p.get('options')),
        }
        for p in predictions
    )
    return official, lenient
