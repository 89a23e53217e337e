"""VSI-Bench rewards for ms-swift GRPO: a thin door from swift's trainer into `vsi_scoring`.

Load with ``--external_plugins vsi_reward.py`` and pick rewards with ``--reward_funcs``:

* ``vsi_reward``: accuracy of the leniently extracted answer (`vsi_scoring.reward_score`): an exact letter
  for multiple choice, Mean Relative Accuracy for numbers. The default training signal.
* ``vsi_reward_strict``: the official VSI-Bench extraction (`vsi_scoring.official_score`): exactly what the
  benchmark will count (think-style rows: on their last ``<answer>`` block, as the evaluator scores think runs),
  useful as a second reward or a metric to watch.
* ``vsi_format``: 1 when the completion is ``<think>...</think> <answer>...</answer>``; only for the
  ``think`` prompt style, which asks for that layout.

Usage::

    swift rlhf --rlhf_type grpo --external_plugins vsi_reward.py --reward_funcs vsi_reward ...

swift calls each reward with the completions and one list per dataset column (``solution``,
``question_type``, ``options`` ...). A reward that raises kills a multi-GPU run hours in, so these never
raise, whatever they are given: they return one float per completion; a row with a missing column, a None or a
malformed value scores 0.0, and each kind of problem is logged once. The one exception is ``question_type``: data
made by other tools may lack it, and a run whose every reward is 0 learns nothing for hours while looking healthy,
so a row without a type is scored by its solution (a letter: multiple choice; otherwise a number, scored with
Mean Relative Accuracy, as every numeric VSI-Bench type is), with a warning. Per-question-type mean rewards are logged
as one compact line per training step, so users see which categories learn.
"""

from __future__ import annotations

import atexit
import contextlib
import math
import numbers
import weakref
from collections import defaultdict

import numpy as np
from swift.rewards import ORM, orms
from swift.utils import get_logger

import vsi_scoring

logger = get_logger()


class _VsiReward(ORM):
    """Shared plumbing: per-row columns, the never-raise guard, warnings once per kind, per-type logging.

    `__call__` is total: whatever swift (or a custom trainer) passes, it returns one float per completion. swift
    writes the returned list into a column of its reward tensor, one row per sample, so the length matters as much
    as the values: when `completions` has no usable length it is taken from the batched columns that come with it
    (swift passes `messages`, `solution` ... with one value per completion), and is 0 when they disagree or
    there are none.
    """

    name = ''
    columns: tuple[str, ...] = ()
    # columns a dataset may lack: numeric-only data has no options, data from other tools no prompt_style (and
    # perhaps no question_type: see `_question_type`)
    optional: tuple[str, ...] = ('options', 'prompt_style', 'question_type')
    log_per_type = False

    def __init__(self, args=None, **kwargs):
        super().__init__(args, **kwargs)
        self._warned: set[str] = set()
        self._step = None
        self._sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
        _LIVE.add(self)  # the last step's means are logged when the process ends (_flush_all)

    def score(self, completion: str, row: dict) -> float:
        raise NotImplementedError

    def __call__(self, /, *args, **kwargs) -> list[float]:
        # No named parameter: swift passes the completions first and every dataset column as a keyword, where one
        # named `completions` or `self` would raise a TypeError before the guard below; TRL passes `completions=`
        completions = args[0] if args else kwargs.pop('completions', None)
        try:
            if isinstance(completions, (str, bytes, dict)):  # sized, but one value: not one per completion
                raise TypeError
            n = len(completions)
            completions = list(completions)
        except Exception:  # noqa: BLE001 - not a sized iterable (None, a generator, a broken object)
            n = _batch_length(kwargs)
            self._warn('completions', f'completions is a {type(completions).__name__}, not a list; {n} rows score 0')
            return [0.0] * n
        try:
            columns = {key: self._column(kwargs, key, n) for key in self.columns}
            rewards = [
                self._safe_score(completions[i], {key: values[i] for key, values in columns.items()}) for i in range(n)
            ]
        except Exception as error:  # noqa: BLE001 - e.g. a len() that disagrees with the items
            self._warn(f'call:{type(error).__name__}', f'reading the batch failed ({_describe(error)}); it scores 0')
            return [0.0] * n
        if self.log_per_type:
            try:
                self._log_per_type(kwargs.get('trainer_state'), columns.get('question_type'), rewards)
            except Exception as error:  # noqa: BLE001 - logging must not cost the rewards
                self._warn(f'log:{type(error).__name__}', f'per-type logging failed ({_describe(error)})')
        return rewards

    def _column(self, kwargs: dict, key: str, n: int) -> list:
        values = _one_per_row(kwargs.get(key), n)
        if key == 'solution':
            # raw benchmark-layout rows name the answer `ground_truth`; swift batches rows of both layouts with None
            # in the column a row lacks, so the fallback is row by row
            truths = _one_per_row(kwargs.get('ground_truth'), n)
            if truths is not None:
                pairs = zip(values or [None] * n, truths, strict=True)
                # (a blank solution is none, as preprocess_vsi_data reads a row)
                values = [truth if value is None or _blank(value) else value for value, truth in pairs]
        if values is None:
            if key not in self.optional:
                self._warn(
                    f'column:{key}',
                    f'dataset column {key!r} is missing or not one value per completion; those completions score 0',
                )
            return [None] * n
        return values

    def _safe_score(self, completion, row: dict) -> float:
        if not isinstance(completion, str):  # swift 4.6 passes the assistant turn's text: a change would zero all
            self._warn('completion_type', f'a completion is a {type(completion).__name__}, not text; it scores 0')
            return 0.0
        missing = [key for key in self.columns if key not in self.optional and row.get(key) is None]
        if missing:
            self._warn(f'none:{missing[0]}', f'a row has no {missing[0]!r}; it scores 0')
            return 0.0
        if 'question_type' in row:
            row = {**row, 'question_type': self._question_type(row)}
            if row['question_type'] is None:
                return 0.0
        if row.get('options') is not None:
            options = _option_list(row['options'])
            if options is None:
                self._warn(
                    'options',
                    f"a row's options are a {type(row['options']).__name__}, not a list of option texts; it scores 0",
                )
                return 0.0
            row = {**row, 'options': options}
        try:
            reward = float(self.score(completion, row))
            if reward == 0.0 and 'solution' in row and self._unreadable(row):
                self._warn(
                    'solution',
                    f'a solution reads as neither an option nor a number ({row["solution"]!r} for question type '
                    f'{row["question_type"]!r}): its row scores 0 whatever the answer',
                )
        except Exception as error:  # noqa: BLE001 - a reward must never take the training run down
            self._warn(
                f'error:{type(error).__name__}',
                f'scoring failed ({_describe(error)}); the completion scores 0',
            )
            return 0.0
        if not math.isfinite(reward):
            self._warn('nonfinite', 'a non-finite reward was replaced by 0')
            return 0.0
        return reward

    @staticmethod
    def _unreadable(row: dict) -> bool:
        """Whether the row's solution asks for nothing an answer can match: data made by other tools (`3 m`), which
        would zero the reward of every completion of that question while the run looks healthy."""
        return vsi_scoring.solution_target(row['solution'], row['question_type'], row.get('options')) is None

    def _question_type(self, row: dict) -> str | None:
        """The row's type; '' (the scorers then read the kind of answer from the solution) when there is none."""
        question_type = row['question_type']
        if question_type is None:
            self._warn(
                'no_type',
                'a row has no question_type: scored by its solution (a letter: multiple choice, else a number)',
            )
            return ''
        if not isinstance(question_type, str):
            self._warn('bad_type', f"a row's question_type is not text ({type(question_type).__name__}); it scores 0")
            return None  # _safe_score scores it 0
        return question_type

    def _warn(self, kind: str, message: str) -> None:
        if kind not in self._warned:
            self._warned.add(kind)
            logger.warning(f'{self.name}: {message} (logged once)')

    def _log_per_type(self, trainer_state, question_types: list | None, rewards: list[float]) -> None:
        """Accumulate per-type rewards; when the step advances, log the previous step's means in one line.

        A step's rewards may come in several calls, so its line is written once the next step starts, and the last
        step's when the process ends. Steps are numbered as swift logs them: rewards are computed before the
        optimizer step, while trainer_state.global_step still counts the steps done, so step N is global_step + 1.
        The means are this process's (swift's logger prints only on each node's first process), and the rewards of
        evaluation rollouts join the next step's: swift scores them through the same call with nothing to tell
        them apart, and gathering across processes here could hang a run on a reward.
        """
        step = getattr(trainer_state, 'global_step', None)
        step = int(step) + 1 if isinstance(step, numbers.Integral) else None  # not an array, nor anything odd
        if step != self._step:
            self.flush_per_type()
        self._step = step
        for question_type, reward in zip(question_types or [None] * len(rewards), rewards, strict=True):
            entry = self._sums[_type_label(question_type)]
            entry[0] += reward
            entry[1] += 1

    def flush_per_type(self) -> None:
        """Log the current step's per-type means, if any (see _log_per_type)."""
        if self._sums:
            means = ' | '.join(
                f'{qt} {total / count:.3f} (n={count})' for qt, (total, count) in sorted(self._sums.items())
            )
            logger.info(f'{self.name} per type at step {self._step}: {means}')
            self._sums.clear()


# Every reward object alive, so that the last step's line is logged at exit; weak, so none is kept alive for it.
_LIVE: weakref.WeakSet[_VsiReward] = weakref.WeakSet()


@atexit.register  # registered after logging's own exit hook, so it runs first, while the handlers still work
def _flush_all() -> None:
    for reward in list(_LIVE):
        with contextlib.suppress(Exception):  # nothing may fail at exit
            reward.flush_per_type()


def _one_per_row(values, n: int) -> list | None:
    """`values` as a list of one value per completion, or None: absent, text, bytes or a mapping (one value, even of
    the right length), or of another length."""
    try:
        if values is None or isinstance(values, (str, bytes, dict)) or len(values) != n:
            return None
        values = list(values)
    except Exception:  # noqa: BLE001 - a 0-d numpy array, an object whose len() raises ...
        return None
    return values if len(values) == n else None  # a len() that disagrees with the items


def _blank(value) -> bool:
    return isinstance(value, str) and not value.strip()


def _option_list(value) -> list | None:
    """A row's options as a list of texts (a numpy array too, as a custom trainer may batch them); None for anything
    else (a JSON string, a mapping, items that are not text), whose option texts could not be read."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)) and all(isinstance(option, str) for option in value):
        return list(value)
    return None


def _batch_length(kwargs: dict) -> int:
    """The number of samples the other batched columns agree on (what swift sizes its reward tensor by), or 0."""
    lengths = set()
    for key, value in kwargs.items():
        if key != 'trainer_state' and isinstance(value, (list, tuple)):
            lengths.add(len(value))
    return lengths.pop() if len(lengths) == 1 else 0


def _type_label(question_type) -> str:
    """The per-type line's label: rows without a type (scored by their solution) apart from rows whose type is not
    text (which score 0), so that neither bucket's mean hides the other."""
    if question_type is None or question_type == '':
        return '(no type)'
    return question_type if isinstance(question_type, str) else '(type not text)'


def _describe(error: Exception) -> str:
    """`Type: message`, even for an exception whose str() raises."""
    try:
        return f'{type(error).__name__}: {error}'
    except Exception:  # noqa: BLE001
        return type(error).__name__


class VsiReward(_VsiReward):
    """Accuracy of the leniently extracted answer, scored with the official metric."""

    name = 'vsi_reward'
    columns = ('solution', 'question_type', 'options')
    log_per_type = True

    def score(self, completion: str, row: dict) -> float:
        return vsi_scoring.reward_score(completion, row['solution'], row['question_type'], row['options'])


class VsiStrictReward(_VsiReward):
    """What the benchmark counts: the official first-token extraction, read as eval_vsi_bench.py reads it.

    The rows' `prompt_style` column (written by preprocess_vsi_data.py) picks the rule: `think` rows are scored on
    their last `<answer>` block, as the evaluator scores think runs; rows without the column are `direct`.
    """

    name = 'vsi_reward_strict'
    columns = ('solution', 'question_type', 'prompt_style', 'options')  # options: only to read a solution's text

    def score(self, completion: str, row: dict) -> float:
        style = row['prompt_style'] or 'direct'
        # The benchmark's ground truth of a multiple-choice question is its letter: a solution given as the option's
        # text (`sofa`) or as `B.` is scored against that letter, as the benchmark would score the question
        # (a solution that reads as no option nor number scores 0, with the warning vsi_reward gives)
        target = vsi_scoring.solution_target(row['solution'], row['question_type'], row['options'])
        if target is None:
            return 0.0
        truth = target if isinstance(target, str) else row['solution']
        return vsi_scoring.official_score(completion, truth, row['question_type'], style)


class VsiFormatReward(_VsiReward):
    """1 for `<think>...</think> <answer>...</answer>`; pair it with the `think` prompt style only."""

    name = 'vsi_format'

    def score(self, completion: str, row: dict) -> float:
        return vsi_scoring.format_score(completion)


orms['vsi_reward'] = VsiReward
orms['vsi_reward_strict'] = VsiStrictReward
orms['vsi_format'] = VsiFormatReward
