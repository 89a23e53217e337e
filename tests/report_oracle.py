"""What a results.json must contain for a set of predictions: `vsi_scoring` applied directly, nothing else.

Shared by the evaluator's and the demo's tests so both check reports against the same recomputation.
"""

from vsi_scoring import aggregate, official_score, reward_score


def recompute_scores(predictions: list[dict]) -> tuple[dict, dict]:
    """(official, lenient) aggregates of prediction rows (`prediction`, `ground_truth`, `question_type`, `options`)."""
    official = aggregate(
        {
            'question_type': p['question_type'],
            'score': official_score(p['prediction'], p['ground_truth'], p['question_type']),
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
