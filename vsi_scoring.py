"""The VSI-Bench protocol in one place: prompt building, per-sample scoring and aggregation.

This module is the single source of truth for answer parsing and metrics. The reward plugin
(`vsi_reward.py`), the evaluator (`eval_vsi_bench.py`), the preprocessing script, the demo and the tests all
call it; nothing else re-implements a metric. It is pure Python plus numpy (no torch, no swift), so it is
cheap to import inside reward workers and easy to audit next to the official code.

Two scorers share one metric:

* `official_score` reproduces the official VSI-Bench rule (thinking-in-space,
  `lmms_eval/tasks/vsibench/utils.py`): keep the first space-separated token of the prediction, strip
  trailing dots, then exact letter match (case-insensitive) for multiple choice or Mean Relative Accuracy
  for numbers. This is what papers report. For the `think` prompt the same rule reads the last `<answer>` block,
  which must be closed (else 0).
* `reward_score` is the training reward: it finds the answer leniently (`(B)`, `The answer is B.`, `3.5m`,
  `1,250`, `twelve`, the option's text, the last `<answer>` block ...) and scores it with the same metric,
  so the policy is rewarded for being right, not for one output format.

Usage::

    >>> from vsi_scoring import official_score, reward_score, aggregate
    >>> official_score('B.', 'B', 'object_rel_distance')
    1.0
    >>> reward_score('<answer>The answer is (B).</answer>', 'B', 'object_rel_distance')
    1.0
    >>> reward_score('1.2 m', '120', 'object_size_estimation')  # sizes are in centimetres
    1.0
    >>> aggregate([{'question_type': 'object_counting', 'score': 1.0}])['per_type']['object_counting']
    {'score': 100.0, 'count': 1}
"""

from __future__ import annotations

import collections
import difflib
import functools
import math
import numbers
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np

# ----------------------------------------------------------------------------------------------------------
# Question types
# ----------------------------------------------------------------------------------------------------------

NA_QUESTION_TYPES = ('object_abs_distance', 'object_counting', 'object_size_estimation', 'room_size_estimation')
REL_DIRECTION_LEVELS = ('object_rel_direction_easy', 'object_rel_direction_medium', 'object_rel_direction_hard')
MCA_QUESTION_TYPES = REL_DIRECTION_LEVELS + ('object_rel_distance', 'route_planning', 'obj_appearance_order')
BENCHMARK_QUESTION_TYPES = NA_QUESTION_TYPES + MCA_QUESTION_TYPES

# Training generators (VLM-3R / vsGRPO) version the relative types. Direction: _v1 has four quadrants
# (hardest), _v2 left/right/back, _v3 left/right (easiest), so they are the benchmark's hard/medium/easy.
# Distance: _v1/_v2/_v3 offer 4/3/2 candidates; the benchmark's single type has 4.
TRAINING_VARIANT_BASE = {
    'object_rel_direction_v1': 'object_rel_direction_hard',
    'object_rel_direction_v2': 'object_rel_direction_medium',
    'object_rel_direction_v3': 'object_rel_direction_easy',
    'object_rel_distance_v1': 'object_rel_distance',
    'object_rel_distance_v2': 'object_rel_distance',
    'object_rel_distance_v3': 'object_rel_distance',
}
KNOWN_QUESTION_TYPES = BENCHMARK_QUESTION_TYPES + tuple(TRAINING_VARIANT_BASE)

REL_DIRECTION_CATEGORY = 'object_rel_direction'

# The unit each numeric question type is asked in; answers in other units are converted (reward only).
TARGET_UNITS = {
    'object_abs_distance': 'm',
    'object_size_estimation': 'cm',
    'room_size_estimation': 'm2',
}


def base_question_type(question_type: str) -> str:
    """Map a training variant (`object_rel_direction_v1`) to the benchmark type it corresponds to."""
    return TRAINING_VARIANT_BASE.get(question_type, question_type)


def check_question_type(question_type: object) -> None:
    """Raise ValueError unless the question type is a benchmark type or a training variant of one.

    Aggregation and the evaluator refuse what the official code refuses (it raises on an unknown type): a
    misspelt type would otherwise become a category of its own and shift the overall score. Training variants
    are accepted as the benchmark type they stand for. The reward never calls this: it scores any type.
    """
    if not isinstance(question_type, str):
        hint = 'it is not text'
    elif base_question_type(question_type) in BENCHMARK_QUESTION_TYPES:
        return
    elif question_type == REL_DIRECTION_CATEGORY:
        hint = f'that is the reporting category; a question is one of its levels {", ".join(REL_DIRECTION_LEVELS)}'
    else:
        hint = _did_you_mean(question_type, KNOWN_QUESTION_TYPES)
        hint += (' ' if hint else '') + f'expected one of {", ".join(BENCHMARK_QUESTION_TYPES)}, '
        hint += 'or a training variant of one'
    raise ValueError(f'question type {question_type!r} is not a VSI-Bench question type: {hint}')


def _did_you_mean(name: str, valid: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, valid, n=1)
    return f'did you mean {close[0]!r}?' if close else ''


# What a selection (`--question_types`, VSI_QUESTION_TYPES) may name: a benchmark type (which also selects its
# training variants), the reporting category `object_rel_direction` (its three levels and their variants), or one
# training variant alone.
SELECTABLE_QUESTION_TYPES = BENCHMARK_QUESTION_TYPES + (REL_DIRECTION_CATEGORY,) + tuple(TRAINING_VARIANT_BASE)


def check_type_selection(names: Iterable[str]) -> tuple[str, ...]:
    """The requested question types as a tuple, or ValueError naming every unknown one with a did-you-mean.

    The one selection rule of preprocessing (script and `vsi_raw`) and the evaluator: a misspelt name must fail
    loudly, since selecting nothing for it looks like a type the data lacks.
    """
    names = tuple(names)
    unknown = [name for name in names if name not in SELECTABLE_QUESTION_TYPES]
    if unknown:
        listed = ', '.join(
            f'{name!r}' + (f' ({hint})' if (hint := _did_you_mean(name, SELECTABLE_QUESTION_TYPES)) else '')
            for name in unknown
        )
        raise ValueError(
            f'unknown question type{"s" if len(unknown) > 1 else ""} {listed}; valid: '
            f'{", ".join(BENCHMARK_QUESTION_TYPES)}, {REL_DIRECTION_CATEGORY} (its three levels), '
            f'or a training variant ({", ".join(TRAINING_VARIANT_BASE)})'
        )
    return names


def type_selected(question_type: str, selection: Iterable[str] | None) -> bool:
    """Whether a question of this type is kept by a selection `check_type_selection` accepted (None or empty: all).

    A name keeps its own type, the types it stands for (`object_rel_direction_medium` keeps `_v2` rows) and its
    category's members (`object_rel_direction` keeps every level and variant).
    """
    if not selection:
        return True
    return not {question_type, base_question_type(question_type), category_of(question_type)}.isdisjoint(selection)


def is_multiple_choice(question_type: str, ground_truth: object = None) -> bool:
    """True when the question is answered with an option letter.

    Known types decide by name. An unknown type decides by its ground truth: a single letter means multiple
    choice, anything else is treated as numeric (and scores 0 if it is not a number either).
    """
    base = base_question_type(question_type) if isinstance(question_type, str) else ''
    if base in MCA_QUESTION_TYPES:
        return True
    if base in NA_QUESTION_TYPES:
        return False
    return _as_letter(ground_truth) is not None


def _as_letter(value: object) -> str | None:
    if isinstance(value, str):
        value = value.strip().rstrip('.').strip()
        if len(value) == 1 and 'A' <= value.upper() <= 'Z':
            return value.upper()
    return None


# ----------------------------------------------------------------------------------------------------------
# Prompts (the official benchmark prompt, word for word, and the reasoning variant)
# ----------------------------------------------------------------------------------------------------------


def prompt_is_multiple_choice(question_type: str, options: Sequence[str] | None) -> bool:
    """Whether a question gets the options block: a multiple-choice type, or an unknown type that has options."""
    return is_multiple_choice(question_type) or (question_type not in KNOWN_QUESTION_TYPES and bool(options))


PRE_PROMPT = 'These are frames of a video.'
NA_POST_PROMPT = 'Please answer the question using a single word or phrase.'
MCA_POST_PROMPT = "Answer with the option's letter from the given choices directly."
THINK_NA_POST_PROMPT = (
    'Think step by step inside <think> </think> tags, then give only the final number inside <answer> </answer> tags.'
)
THINK_MCA_POST_PROMPT = (
    "Think step by step inside <think> </think> tags, then give only the option's letter inside "
    '<answer> </answer> tags.'
)
PROMPT_STYLES = ('direct', 'think')


def build_prompt(question: str, question_type: str, options: Sequence[str] | None = None, style: str = 'direct') -> str:
    """The text prompt for one question (without image tags).

    `direct` is the official lmms-eval VSI-Bench prompt: pre-prompt, question, then either the numeric
    post-prompt or the options block and the letter post-prompt. `think` keeps the same question and options
    and asks for reasoning in `<think>` and the answer in `<answer>`.
    """
    if style not in PROMPT_STYLES:
        raise ValueError(f'unknown prompt style {style!r}; expected one of {PROMPT_STYLES}')
    if prompt_is_multiple_choice(question_type, options):
        if not options:
            raise ValueError(f'multiple-choice question of type {question_type!r} has no options')
        post = MCA_POST_PROMPT if style == 'direct' else THINK_MCA_POST_PROMPT
        return '\n'.join([PRE_PROMPT, question, 'Options:\n' + '\n'.join(options), post])
    post = NA_POST_PROMPT if style == 'direct' else THINK_NA_POST_PROMPT
    return PRE_PROMPT + '\n' + question + '\n' + post


def option_letters(options: Sequence[str] | None) -> list[str]:
    """Letters of options written as `A. chair` (the benchmark layout); empty if none parse."""
    return [letter for letter, _ in _parse_options(options)]


def _parse_options(options: object) -> tuple[tuple[str, str], ...]:
    """((letter, normalised text), ...) for options like `A. chair`; malformed entries are skipped."""
    if not isinstance(options, (list, tuple)) or not all(isinstance(option, str) for option in options):
        return ()
    return _parse_option_strings(tuple(options))


@functools.lru_cache(maxsize=4096)
def _parse_option_strings(options: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """Cached: a training run scores the same few option lists thousands of times."""
    parsed = []
    for option in options:
        head, sep, text = option.strip().partition('.')
        if sep and len(head.strip()) == 1 and head.strip().isalpha():
            parsed.append((head.strip().upper(), _normalise_text(text)))
    return tuple(parsed)


# ----------------------------------------------------------------------------------------------------------
# The metric
# ----------------------------------------------------------------------------------------------------------

# Computed with numpy exactly as the official code does, so the comparisons below see the same doubles.
_THRESHOLDS = np.linspace(0.5, 0.95, int((0.95 - 0.5) / 0.05 + 2))
_TOLERANCES = tuple(float(t) for t in 1 - _THRESHOLDS)


def mean_relative_accuracy(pred: float, target: float) -> float:
    """Mean Relative Accuracy: mean over thresholds t in 0.50..0.95 of `|pred - gt| / gt <= 1 - t`.

    Matches the official function for every positive ground truth (all VSI-Bench rows). The official code
    raises on a ground truth of 0 and gives every prediction full marks for a negative one; here 0 requires
    an exact answer and a negative ground truth uses its magnitude, so no input can score by accident.
    """
    if target == 0:
        return 1.0 if pred == 0 else 0.0
    error = abs(pred - target) / abs(target)
    return sum(1 for tol in _TOLERANCES if error <= tol) / len(_TOLERANCES)


def exact_match(pred: str, target: str) -> float:
    """The official `pred.lower() == target.lower()`. Lowering never shortens a string, so a prediction longer than
    the lowered target cannot match: a megabyte of text is not lowered to be compared with a letter."""
    target = target.lower()
    return 1.0 if len(pred) <= len(target) and pred.lower() == target else 0.0


def _to_float(text: object) -> float | None:
    """A prediction's number as the official `to_float` reads it: plain `float()` (so `1_0` is 10, as there)."""
    try:
        return float(text)
    except (TypeError, ValueError, OverflowError):
        return None


# A number as a dataset states it: ASCII digits with an optional sign, decimal point and exponent.
_PLAIN_NUMBER_RE = re.compile(r'[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?')


def ground_truth_number(value: object) -> float | None:
    """The value of a numeric ground truth, or None when it is not a plain finite decimal number.

    The one rule for what a numeric answer in the data may be: preprocessing skips other rows (`non_numeric_answer`),
    the evaluator refuses them, the scorers score them 0. `float()` alone also takes `1_200` (digit grouping in Python
    source), `nan`, `inf`, `1e999` (overflows to inf) and digits of other scripts (`\u0663`): none is a number an
    annotator wrote for the model to learn, and NaN or infinity as a ground truth would make every answer score 0.
    Whitespace around text is ignored, as `float()` ignores it; a JSON number (not a boolean) counts when finite.
    Predictions are not read with this rule but with the official `float()` (`_to_float`).
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:  # an integer beyond the float range
            return None
    elif isinstance(value, str) and _PLAIN_NUMBER_RE.fullmatch(value.strip()):
        number = float(value)
    else:
        return None
    return number if math.isfinite(number) else None


def _score_value(answer: object, ground_truth: object, question_type: str) -> float:
    """Score an already extracted answer (a letter or a number as text) against the ground truth."""
    if is_multiple_choice(question_type, ground_truth):
        if not isinstance(answer, str) or not isinstance(ground_truth, str):
            return 0.0
        return exact_match(answer, ground_truth)
    pred, target = _to_float(answer), ground_truth_number(ground_truth)
    if pred is None or target is None:
        return 0.0
    return mean_relative_accuracy(pred, target)


# ----------------------------------------------------------------------------------------------------------
# Official scoring
# ----------------------------------------------------------------------------------------------------------


def official_extract(prediction: str) -> str:
    """The official "fuzzy matching": the first space-separated token, trailing dots removed.

    `split(' ', 1)` keeps the first element identical to the official `split(' ')` without splitting a long
    completion into a list of every word.
    """
    return prediction.split(' ', 1)[0].rstrip('.').strip()


# What `official_score` reads for each prompt style, in words, for reports.
OFFICIAL_RULES = {
    'direct': 'the first space-separated word of the prediction, trailing dots removed (the official VSI-Bench rule)',
    'think': 'the first space-separated word of the content of the last <answer> block after the reasoning (after the '
    'last </think>, up to a <think> never closed; tags in any case, whitespace around the content stripped), trailing '
    'dots removed: the official rule applied to the answer block. That last block must be closed by </answer>; if it '
    'is not (an answer cut off by the token budget), or there is no block, the prediction scores 0, even when an '
    'earlier block is closed',
}


def official_score(prediction: str, ground_truth: str, question_type: str, prompt_style: str = 'direct') -> float:
    """Score one prediction exactly as the official VSI-Bench code does. Never raises on data; non-text scores 0.

    `direct` (the official prompt) applies the official rule to the whole prediction, bit for bit. `think` asks
    for `<think>...</think><answer>...</answer>`, whose first word is `<think>`: the official rule is applied to
    the content of the last `<answer>` block after the reasoning (`_stated_span`: one drafted inside `<think>`, or
    in reasoning the token budget cut off, does not count), stripped of the whitespace around it. That block must
    be closed: when the last `<answer>` has no `</answer>` after it, or there is none, the prediction is unparseable
    and scores 0, even if an earlier block is closed (the model's last word on the answer is unfinished; reading an
    earlier block would credit an answer the model went on to revise). No published protocol covers `think`, so this
    is the closest reading of the official rule; results say which one was used (OFFICIAL_RULES).

    The ground truth is read by `ground_truth_number`, which refuses what the evaluator and preprocessing refuse
    (`1_200`, digits of other scripts: the official `float()` would take them; no VSI-Bench row has them).
    """
    if prompt_style not in PROMPT_STYLES:
        raise ValueError(f'unknown prompt style {prompt_style!r}; expected one of {PROMPT_STYLES}')
    if not isinstance(prediction, str):
        return 0.0
    if prompt_style == 'think':
        lowered = _lowercase(prediction)
        block = _last_answer_block(lowered, *_stated_span(lowered))
        if block is None or block[1] is None:
            return 0.0
        prediction = prediction[block[0] : block[1]].strip()
    return _score_value(official_extract(prediction), _as_text(ground_truth), question_type)


def _as_text(solution):
    """A number given as the solution (a JSON number, a numpy scalar from a parquet column) as its text; other
    values as they are. Not booleans, which are numbers to Python. A fraction is written as the float the official
    `float(ground_truth)` makes of it: str() writes a float32's shortest text (`1.7` for 1.7000000476837158), which
    scores answers at a threshold's edge otherwise; whole numbers as str(), which float() would overflow for huge
    ones."""
    if isinstance(solution, bool) or not isinstance(solution, numbers.Real):
        return solution
    return str(solution) if isinstance(solution, numbers.Integral) else repr(float(solution))


# ----------------------------------------------------------------------------------------------------------
# Lenient extraction for the reward
# ----------------------------------------------------------------------------------------------------------

_ANSWER_OPEN, _ANSWER_CLOSE, _THINK_OPEN, _THINK_CLOSE = '<answer>', '</answer>', '<think>', '</think>'
# `answer` as a word (`answered`, `unanswerable`, `answers` do not announce the answer); the literal comes first so
# that the regex engine scans for it quickly.
_ANSWER_KEYWORD_RE = re.compile(r'answer(?!\w)(?<!\wanswer)')

# No pattern below repeats a group that itself repeats (only optional `?` groups nest), so the regex engine cannot
# backtrack catastrophically and extraction stays linear in the completion's length.
_SMALL_NUMBERS = (
    'zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen '
    'sixteen seventeen eighteen nineteen'
).split()
_TENS = 'twenty thirty forty fifty sixty seventy eighty ninety'.split()
_NUMBER_WORDS = {word: value for value, word in enumerate(_SMALL_NUMBERS)}
_NUMBER_WORDS.update({word: 20 + 10 * i for i, word in enumerate(_TENS)})
_NUMBER_WORDS['a'] = 1  # only as `a hundred`, `a thousand`, `a dozen`: the grammar below admits no other `a`
_SCALE_WORDS = {'dozen': 12, 'hundred': 100, 'thousand': 1000}


def _number_words_grammar() -> str:
    """English number words up to the thousands: `three`, `twenty-one`, `a dozen`, `two hundred and five`.

    Nested optional groups with no repetition, so matching stays linear; `_words_value` reads what it matches.
    """
    below_100 = (
        f'(?:(?:{"|".join(_TENS)})(?:[- ](?:{"|".join(_SMALL_NUMBERS[1:10])}))?'
        f'|{"|".join(sorted(_SMALL_NUMBERS, key=len, reverse=True))})'
    )
    below_1000 = f'(?:(?:a|{below_100})[- ]hundred(?:[- ](?:and[- ])?{below_100})?|{below_100}|hundred)'
    # a look-ahead for the first word: most words are no number word, and it turns them away before the copies
    first = '|'.join(['a[- ]', *sorted(_NUMBER_WORDS.keys() - {'a'} | _SCALE_WORDS.keys(), key=len, reverse=True)])
    return (
        f'(?=(?:{first}))'
        f'(?:(?:a|{below_1000})[- ]thousand(?:[- ](?:and[- ])?{below_1000})?|{below_1000}|thousand|(?:a[- ])?dozen)'
    )


def _words_value(words: str) -> int:
    """The value of a phrase `_number_words_grammar` matched: `two hundred and five` is 205."""
    total, current = 0, None  # None: no word since the last `thousand` (`hundred` alone is one hundred)
    for word in re.split(r'[- ]', words.lower()):
        if word in _SCALE_WORDS:
            current = (1 if current is None else current) * _SCALE_WORDS[word]
            if word == 'thousand':
                total, current = total + current, None
        elif word != 'and':
            current = (current or 0) + _NUMBER_WORDS[word]
    return total + (current or 0)


# Group 5: number words, matched in ASCII mode: with IGNORECASE, Unicode mode lets `ſix` or `fıve` match words that
# `str.lower` does not turn back into the ASCII keys of _NUMBER_WORDS. No number starts after `^` (`20 m^2`), nor
# after a full stop (`chairs.2`, `3...5`); one may start with its decimal point (`about .5`, as the official
# rule reads `.5`).
_NUMBER_RE = re.compile(
    r'(?<![A-Za-z0-9.^])(-?)(\d{1,3}(?:,\d{3})+(?![\d])|\d+|(?=\.\d))(\.\d+)?(?:[eE]([-+]?\d+))?'
    rf'|\b((?a:{_number_words_grammar()}))\b',
    re.IGNORECASE,
)
# A unit right after a number: `3.5m`, `350 cm`, `150 cms`, `20 square meters`, `20 m²`, `12 ft`.
_UNIT_RE = re.compile(
    r'\s?(square\s+|sq\.?\s*)?(millimet(?:er|re)s?|mms?|centimet(?:er|re)s?|cms?|kilomet(?:er|re)s?|kms?|met(?:er|re)s?|'
    r'mtrs?|m|inch(?:es)?|feet|foot|ft|yards?|yd)(²|2|\^2)?(?![A-Za-z])',
    re.IGNORECASE,
)
_LENGTH_IN_METRES = {'mm': 0.001, 'cm': 0.01, 'm': 1.0, 'km': 1000.0, 'in': 0.0254, 'ft': 0.3048, 'yd': 0.9144}
# Spelled-out unit names (singular, as left after stripping a plural `s`) to their symbols.
_UNIT_ALIASES = {
    'millimeter': 'mm',
    'centimeter': 'cm',
    'kilometer': 'km',
    'meter': 'm',
    'mtr': 'm',
    'inche': 'in',
    'inch': 'in',
    'feet': 'ft',
    'foot': 'ft',
    'yard': 'yd',
}
# `A` (and `I`) followed by a lowercase word is an article or pronoun (`A chair is ...`, `I think`), not an
# option, unless that word joins options (`A or B`: hedging) or is a verb (`A is closer`).
_NOT_ARTICLE_WORDS = (
    'or and nor vs versus then is was seems appears has looks would should must can could will because'.split()
)
_ARTICLE_GUARD = r'(?! (?!(?:' + '|'.join(_NOT_ARTICLE_WORDS) + r')\b)[a-z])'
# Numbers are looked for near the end of the answer: explanations state their conclusion last, and a bounded
# window keeps a megabyte of digits from costing more than a few microseconds.
_NUMBER_WINDOW = 1000
# An ordinal (`the 2nd chair`, `3RD`) numbers a thing; it is no quantity, so it is not the answer. Spelled out, the
# number words stop before its last word (`twenty` of `the twenty-first chair`, or of `twenty first`: after a tens
# word only, so that `one first` stays a number).
_ORDINAL_SUFFIX_RE = re.compile(r'(?:st|nd|rd|th)\b', re.IGNORECASE)
_WORD_ORDINAL_TAIL_RE = re.compile(
    r'(?:-|(?<=ty)[ \t]+)(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth)\b', re.IGNORECASE
)
# Option texts are matched only in short answers (`The chair.`); in long prose, naming an option is not choosing.
_OPTION_TEXT_WINDOW = 300


_NON_ALNUM_RE = re.compile(r'[^0-9a-z]+')


def _normalise_text(text: str) -> str:
    return ' '.join(_NON_ALNUM_RE.sub(' ', text.lower()).split())


def _lowercase(text: str) -> str:
    """`text.lower()` with the length of `text`, so that an index found in it slices the original.

    Tags and keywords are looked for case-insensitively. 'İ' is the one character whose lowercase is longer (two
    characters, Unicode SpecialCasing), so it becomes 'i' first. Lowering and `rfind` are a few ms per megabyte, where
    a case-insensitive regex scanning back from the end costs tens.
    """
    return (text.replace('\u0130', 'i') if '\u0130' in text else text).lower()


def _stated_span(lowered: str) -> tuple[int, int]:
    """(start, end) of the part of `_lowercase(completion)` that can state the answer: after the last `</think>` (all
    of it without one), up to a `<think>` opened there and never closed. Reasoning states no answer, finished (an
    `<answer>` drafted inside it is not the final one) or cut off by the token budget (crediting what it mentioned
    last would reward running out of tokens over a wrong answer)."""
    end_think = lowered.rfind(_THINK_CLOSE)
    start = end_think + len(_THINK_CLOSE) if end_think >= 0 else 0
    unclosed = lowered.find(_THINK_OPEN, start)
    return start, unclosed if unclosed >= 0 else len(lowered)


def _last_answer_block(lowered: str, start: int, end: int) -> tuple[int, int | None] | None:
    """(start, end) of the content of the last `<answer>` block within lowered[start:end], end None when it is not
    closed there; None without a block."""
    opening = lowered.rfind(_ANSWER_OPEN, start, end)
    if opening < 0:
        return None
    opening += len(_ANSWER_OPEN)
    closing = lowered.find(_ANSWER_CLOSE, opening, end)
    return opening, closing if closing >= 0 else None


def answer_region(completion: str) -> str:
    """The part of a completion that states the answer: within what follows the reasoning (`_stated_span`), the
    last `<answer>...</answer>` block if there is one (an unclosed final block runs to the end: the reward still
    credits a right answer cut off by the token budget), otherwise all of it.
    """
    lowered = _lowercase(completion)
    start, end = _stated_span(lowered)
    block = _last_answer_block(lowered, start, end)
    if block is not None:
        return completion[block[0] : end if block[1] is None else block[1]]
    return completion[start:end]


def _after_answer_keyword(text: str) -> str:
    """Text after the last `answer` keyword (`The answer is B`, `Answer: 3`), or the text itself."""
    lowered = _lowercase(text)
    keyword = _last_match(_ANSWER_KEYWORD_RE, lowered) if 'answer' in lowered else None
    if keyword is None:
        return text
    tail = text[keyword.end() :]
    return tail if tail.strip(' \t\n:.-*') else text


def _last_match(regex: re.Pattern, text: str) -> re.Match | None:
    """The last match of `regex`, searched for in windows growing from the end: conclusions come last, so this is
    usually one short scan, and a text full of matches does not cost a match object for each. Searching from an
    offset keeps the look-behind context."""
    window = 4096
    while True:
        start = max(0, len(text) - window)
        found = collections.deque(regex.finditer(text, start), maxlen=1)
        if found or start == 0:
            return found[0] if found else None
        window *= 16


def _tail_then_text(text: str) -> tuple[str, ...]:
    """Where to look for the answer, in order: after the `answer` keyword, then (if that finds nothing) the whole
    text, because the keyword can follow the answer (`12 is the answer`, `B (final answer)`)."""
    tail = _after_answer_keyword(text)
    return (tail, text) if tail is not text else (text,)


@functools.lru_cache(maxsize=512)
def _letter_pattern(letters: str) -> re.Pattern:
    """Matches a lone capital among `letters` (`B`, `(B)`, `B.`, `Option B`), `A`/`I` only when not an article."""
    plain = ''.join(letter for letter in letters if letter not in 'AI')
    alternatives = [f'[{plain}](?![A-Za-z0-9])'] if plain else []
    alternatives += [f'{word}(?![A-Za-z0-9]){_ARTICLE_GUARD}' for word in 'AI' if word in letters]
    return re.compile(r'(?<![A-Za-z0-9])(?:' + '|'.join(alternatives) + ')')


def _letter_mention(text: str, valid: frozenset[str]) -> tuple[str | None, bool]:
    """(the letter mentioned, whether another one is mentioned too). Two C-level scans, whatever the length."""
    first = _letter_pattern(''.join(sorted(valid))).search(text)
    if first is None:
        return None, False
    others = ''.join(sorted(valid - {first.group()}))
    return first.group(), bool(others) and _letter_pattern(others).search(text) is not None


def extract_choice(text: str, options: Sequence[str] | None = None) -> str | None:
    """The one option letter a text commits to, or None (no answer, or hedging between options)."""
    parsed = _parse_options(options)
    valid = frozenset(letter for letter, _ in parsed) or frozenset('ABCDEFGH')
    for region in _tail_then_text(text):
        bare = region.strip().strip('()[]{}*"\'.:,;!').strip()
        if len(bare) == 1 and bare.upper() in valid:
            return bare.upper()
        letter, hedged = _letter_mention(region, valid)
        if hedged:
            return None
        if letter is not None:
            return letter
        if len(region) <= _OPTION_TEXT_WINDOW:
            by_text = _match_option_text(region, parsed)
            if by_text is not None:
                return by_text
    # Last, where no letter or option text was found, the official reading, which takes a first word `b` too (`b is
    # correct`), so that such an answer is not scored lower than the benchmark scores it; but not a lowercase `a` or
    # `i`, mostly an article or a pronoun. A text naming two letters returned None above, even one the official rule
    # credits by its first word (`B. Because A is farther.`): the reward does not guess which one it commits to.
    first = official_extract(text)
    return first.upper() if len(first) == 1 and first.upper() in valid and first not in 'ai' else None


def _match_option_text(text: str, parsed: tuple[tuple[str, str], ...]) -> str | None:
    """The letter whose option text the answer names, when exactly one option (not a part of another) fits."""
    if not parsed:
        return None
    answer = _normalise_text(text)
    exact = [letter for letter, option in parsed if option and option == answer]
    if len(exact) == 1:
        return exact[0]
    padded = f' {answer} '
    named = [(letter, option) for letter, option in parsed if option and f' {option} ' in padded]
    named = [
        (letter, option)
        for letter, option in named
        if not any(option != other and f' {option} ' in f' {other} ' for _, other in named)
    ]
    letters = {letter for letter, _ in named}
    return letters.pop() if len(letters) == 1 else None


def extract_number(text: str, question_type: str = '') -> float | None:
    """The number an answer states, converted to the unit the question type is asked in.

    Handles `1,250`, `3.5m`, `-2`, `2.5e1`, number words (`three`, `twenty-one`, `a dozen`, `two hundred and
    five`) and units, a length in two (`5 feet 6 inches`) too. When several numbers appear, the last one counts:
    explanations state the conclusion last. An ordinal (`the 2nd chair`) is not one of them.
    Number words count only where no number is written in digits: after `3 chairs.`, `One is by the window` and
    `the one near the bed` are words of the explanation, not a revised answer.
    The text after an `answer` keyword is searched first, then the whole text, so an answer in the official form
    (the number first, whatever follows without numbers or units) is read as the official rule reads it.
    """
    for region in _tail_then_text(text):
        value = _number_in(region, question_type)
        if value is not None:
            return value
    return None


def _number_in(region: str, question_type: str) -> float | None:
    direct = _to_float(region.strip().rstrip('.'))
    if direct is not None:
        return direct
    # Searching from an offset keeps the look-behind context, so no number is cut at the window's edge.
    last = last_word = previous = None
    for match in _NUMBER_RE.finditer(region, max(0, len(region) - _NUMBER_WINDOW)):
        if match.group(5):
            if not _WORD_ORDINAL_TAIL_RE.match(region, match.end()):
                last_word = (match, previous)
        elif not _ORDINAL_SUFFIX_RE.match(region, match.end()):
            last = (match, previous)
        previous = match
    if last is None and last_word is None:
        return None
    match, before = last or last_word
    value = _match_value(match)
    if value is None:
        return None
    return _convert_unit(value, region[match.end() : match.end() + 32], question_type) + _larger_part(
        region, before, match, question_type
    )


def _match_value(match: re.Match) -> float | None:
    """The finite value of a `_NUMBER_RE` match (number words or digits), else None."""
    if match.group(5):
        return float(_words_value(match.group(5)))
    literal = match.group(1) + match.group(2).replace(',', '') + (match.group(3) or '')
    if match.group(4):
        literal += 'e' + match.group(4)
    value = _to_float(literal)
    return value if value is not None and math.isfinite(value) else None


def _larger_part(region: str, before: re.Match | None, match: re.Match, question_type: str) -> float:
    """The first part of a length stated in two units (`5 feet 6 inches`, `1 m and 20 cm`), `before` being the
    number before `match`, in the question type's unit; 0 where the two are no such pair."""
    if before is None or TARGET_UNITS.get(question_type) not in ('m', 'cm'):
        return 0.0
    gap = region[before.end() : match.start()]
    larger = _UNIT_RE.match(gap)
    if larger is None or not re.fullmatch(r'\s*(?:and\s+)?', gap[larger.end() :]):
        return 0.0
    smaller = _UNIT_RE.match(region, match.end())
    larger_metres, smaller_metres = _unit_metres(larger, square=False), _unit_metres(smaller, square=False)
    if larger_metres is None or smaller_metres is None or larger_metres <= smaller_metres:
        return 0.0
    value = _match_value(before)
    return 0.0 if value is None else _convert_unit(value, gap, question_type)


def _unit_metres(unit: re.Match | None, square: bool = True) -> float | None:
    """Metres in the length unit `_UNIT_RE` matched (in its side for a square one: `20 square feet`, which `square`
    False refuses); None for no unit."""
    if unit is None or not square and (unit.group(1) or unit.group(3)):
        return None
    name = unit.group(2).lower().replace('metre', 'meter').rstrip('s')
    return _LENGTH_IN_METRES.get(_UNIT_ALIASES.get(name, name))


def _convert_unit(value: float, following: str, question_type: str) -> float:
    target = TARGET_UNITS.get(question_type)
    metres = _unit_metres(_UNIT_RE.match(following))
    if target is None or metres is None:
        return value
    if target == 'm2':  # `20 m` for a room size means square metres: nobody reports an area in metres
        return value * metres * metres
    return value * metres / _LENGTH_IN_METRES[target]


def reward_score(completion: str, solution: str, question_type: str, options: Sequence[str] | None = None) -> float:
    """The training reward: a leniently extracted answer scored with the official metric. Never raises.

    Multiple choice accepts `B`, `B.`, `(B)`, `B)`, `Option B`, `Answer: B`, `The answer is B.` or the
    option's own text; naming more than one option (`A or B`, `A B C D`) scores 0. Numbers accept the forms
    listed in `extract_number`. Only the last `<answer>` block counts when there is one, and never the inside of a
    `<think>` block, closed or not (`answer_region`).
    """
    if not isinstance(completion, str) or not completion.strip() or not isinstance(question_type, str):
        return 0.0
    target = solution_target(solution, question_type, options)
    if target is None:
        return 0.0
    region = answer_region(completion)
    if isinstance(target, str):
        return 1.0 if extract_choice(region, options) == target else 0.0
    pred = extract_number(region, base_question_type(question_type))
    return 0.0 if pred is None else mean_relative_accuracy(pred, target)


def solution_target(solution: object, question_type: str, options: Sequence[str] | None = None) -> str | float | None:
    """What a solution asks for: the option letter (multiple choice: a letter, `B.`, or the option's own text) or
    the number; None when it reads as neither (`3 m`, an option text not among `options`), so that every answer
    scores 0: the reward plugin warns about such rows. A letter the row's options do not offer is None too: the
    lenient extraction reads only the letters offered, so no answer could match it."""
    solution = _as_text(solution)
    if not isinstance(solution, str) or not isinstance(question_type, str):
        return None
    if is_multiple_choice(question_type, solution):
        parsed = _parse_options(options)
        letter = _as_letter(solution) or _match_option_text(solution, parsed)
        return letter if not parsed or any(letter == offered for offered, _ in parsed) else None
    return ground_truth_number(solution)


# ----------------------------------------------------------------------------------------------------------
# Format
# ----------------------------------------------------------------------------------------------------------

_FORMAT_RE = re.compile(r'\s*<think>(.*?)</think>\s*<answer>(.*?)</answer>\s*', re.DOTALL)
_FORMAT_TAGS = (_THINK_OPEN, _THINK_CLOSE, _ANSWER_OPEN, _ANSWER_CLOSE)


def format_score(completion: str) -> float:
    """1.0 when the completion is `<think>...</think> <answer>...</answer>` (any whitespace around), else 0.

    Exactly one of each block, in that order, both non-empty: an empty `<think></think>` (what Qwen3 writes with
    thinking switched off) is the layout without the reasoning the prompt asks for, and would earn the reward free.
    """
    if not isinstance(completion, str) or any(completion.count(tag) != 1 for tag in _FORMAT_TAGS):
        return 0.0
    match = _FORMAT_RE.fullmatch(completion)
    return 1.0 if match is not None and match.group(1).strip() and match.group(2).strip() else 0.0


# ----------------------------------------------------------------------------------------------------------
# Aggregation
# ----------------------------------------------------------------------------------------------------------


def category_of(question_type: str) -> str:
    """The official reporting category: the three relative-direction levels merge into one."""
    base = base_question_type(question_type)
    return REL_DIRECTION_CATEGORY if base in REL_DIRECTION_LEVELS else base


def aggregate(records: Iterable[dict]) -> dict:
    """Per-type and per-category means and the official overall score, all in percent.

    Reproduces the official aggregation (thinking-in-space main) exactly: the mean score per question type
    (numpy pairwise summation, as pandas computes it); when the easy relative-direction level is present, the
    three `object_rel_direction_*` means are replaced by their sum divided by 3; `overall` is the plain mean of
    the category means, summed in the official order (categories sorted by name, relative direction last). A
    category without questions is left out of the overall, as the official code does, with a warning since
    such an overall is not comparable with a full-benchmark score. So are direction levels without the easy one:
    the official code merges only when it finds easy questions, and otherwise scores each level present as a
    category of its own. Where it cannot score a set (easy questions and not all of the other levels: KeyError),
    an absent level counts as 0 and a warning says so. Training variants pool into the level or type they stand
    for. (Only main's aggregation does this with subsets, checked at 51e089c: the `cogmap` branch counts absent levels
    as 0 and always adds relative direction; lmms-eval's copy raises KeyError on any subset lacking a level.)

    Raises ValueError (`check_question_type`) for any other question type, as the official code does.
    """
    scores: dict[str, list[float]] = defaultdict(list)
    for record in records:
        check_question_type(record['question_type'])
        scores[record['question_type']].append(float(record['score']))
    per_type = {qt: _mean_count(values) for qt, values in sorted(scores.items())}
    pooled: dict[str, list[float]] = defaultdict(list)
    for qt, values in scores.items():
        pooled[base_question_type(qt)].extend(values)
    means = {qt: _mean_count(values) for qt, values in pooled.items()}

    merge = REL_DIRECTION_LEVELS[0] in means  # the official code's test: `'..._easy_accuracy' in output`
    categories = {base: means[base] for base in sorted(means) if not (merge and base in REL_DIRECTION_LEVELS)}
    warnings = []
    unmerged = [level for level in REL_DIRECTION_LEVELS if level in categories]
    if unmerged:
        warnings.append(
            f'no questions for {REL_DIRECTION_LEVELS[0]}: ' + ', '.join(unmerged) + ' scored as categories of their '
            f'own, not averaged into {REL_DIRECTION_CATEGORY}, as the official code does'
        )
    if merge:
        absent = [level for level in REL_DIRECTION_LEVELS if level not in means]
        if absent:
            warnings.append(
                f'{REL_DIRECTION_CATEGORY} is the mean of its three levels and there are no questions for '
                + ', '.join(absent)
                + ': they count as 0 in it (the official code cannot score such a subset)'
            )
        direction = [means.get(level, (0.0, 0)) for level in REL_DIRECTION_LEVELS]
        categories[REL_DIRECTION_CATEGORY] = (
            _sum_in_order(mean for mean, _ in direction) / 3.0,
            sum(count for _, count in direction),
        )
    overall = _sum_in_order(mean for mean, _ in categories.values()) / len(categories)

    missing = [c for c in _BENCHMARK_CATEGORIES if c not in categories]
    if missing:
        warnings.append(
            'no questions for '
            + ', '.join(missing)
            + ': left out of the overall score, as the official code does, so it is not comparable with a '
            'full-benchmark score'
        )
    return {
        'overall': overall * 100,
        'categories': {name: {'score': mean * 100, 'count': count} for name, (mean, count) in categories.items()},
        'per_type': {qt: {'score': mean * 100, 'count': count} for qt, (mean, count) in per_type.items()},
        'num_questions': sum(count for _, count in per_type.values()),
        'warnings': warnings,
    }


_BENCHMARK_CATEGORIES = tuple(sorted({category_of(qt) for qt in BENCHMARK_QUESTION_TYPES}))


def _sum_in_order(values: Iterable[float]) -> float:
    """Left-to-right float addition, as the official code's `sum()` over the numpy floats pandas returns.

    Not the built-in `sum()`: from Python 3.12 it adds Python floats with compensation (Neumaier), which numpy
    floats do not get, so on 3.12+ it can differ from the official overall in the last bit (e.g. 77.77777777777779
    against 77.77777777777777 for relative-direction means 1/3, 1, 1).
    """
    total = 0.0
    for value in values:
        total += value
    return total


def _mean_count(values: list[float]) -> tuple[float, int]:
    return float(np.sum(np.asarray(values, dtype=np.float64)) / len(values)), len(values)
