"""Open-answer VQA metrics: the official VQA accuracy (`vqa`), a lenient variant of it
(`vqa_lenient`), and exact match.

`vqa` is the accuracy of the VQA authors' evaluation script, `vqaEval.py` (class
`VQAEval`, in `PythonEvaluationTools/vqaEvaluation/` of github.com/GT-Vision-Lab/VQA),
the script behind the published VQA v1/v2 numbers; re-implemented here from its rules:

1. The prediction has newlines and tabs turned into spaces and is stripped, then goes
   through the punctuation step and then the word step (both below), so it ends lowercased.
2. The human answers are taken as given: never stripped, never lowercased, never through
   the word step. Only when the answers of a question are not all identical (compared
   as given) does each of them go through the punctuation step.
3. For each of the n human answers, the score is `min(#matches among the other n-1 / 3, 1)`,
   a match being string equality of the two forms above; the question's accuracy is the
   mean over the n. For ten answers: 1 match gives 0.3, 2 give 0.6, 3 give 0.9, 4 or
   more 1.0.

Punctuation step: each mark of `PUNCTUATION` is deleted when it touches a space in the
text (or the text holds a digit-comma-digit group such as `1,000`), and otherwise
becomes a space; the two tests read the text as it came in, not as edited so far. Then a
period is deleted unless a digit follows it (`2.5` keeps its point; the official
pattern's `(?!<=\\d)` is a look-ahead that never fails before a period, so no look-behind
applies), at most 32 of them: the script passes `re.UNICODE` (32) where `Pattern.sub`
takes its count. Word step: lowercase, split on whitespace, number words `none`, `zero`
... `ten` become digits, the articles `a`, `an`, `the` are dropped, contractions written
without their apostrophe get it back (`dont` -> `don't`), words joined by single spaces.

So the prediction `A` scores 0 against the answer `a` (the prediction loses its article,
the answer does not), `yes` scores 0 against ten answers `Yes` (identical, so untouched,
and not lowercased), and `Two` matches `2` but never `two`. Those are the official
numbers, kept on purpose.

The punctuation list is the 21 marks of `VQAEval.punct` in that script (`; / [ ] " { } ( )
= + \\ _ - > < @ ` , ? !`, with the period handled apart): not the apostrophe, colon,
`#`, `$`, `%`, `&`, `*`, `|`, `~` or `^` of Python's `string.punctuation`, which some
re-implementations strip. That version is followed because it is the one the VQA v2
challenge numbers were computed with, and the TextVQA evaluation (the EvalAI answer
processor that MMF ships for M4C) carries the same list, so one list serves both corpora;
`it's` keeps its apostrophe (the contraction table needs it) and `10:30` its colon.

One deviation, on purpose: with a single human answer (VLMEvalKit-style VQA) leaving it
out would always score 0, so one answer is scored by exact match of the two full normal
forms, the lenient comparison below.

`vqa_lenient` is mmbench's earlier `vqa`: the same leave-one-out average, but the human
answers get the full normalisation (punctuation and word step, after stripping) like the
prediction, always (and, new, the same 32-period limit). It is more forgiving (`Yes`
matches `yes`, `two` matches `2`) and is not comparable with published VQA numbers; it is
kept so that older results can be read against the official ones. (TextVQA results are
usually computed with the TextVQA evaluator that MMF ships, which, as far as known here,
also normalises the human answers, with a tokenisation step of its own; neither variant
claims to reproduce that one.) Of the (question, distinct human answer used as the prediction)
pairs of the real samples in `../shared/realdata`, 63 of 615 TextVQA pairs (10.2%) and 9 of
941 VQA v2 pairs (1.0%) score differently under the two (pinned in the tests).

`exact_match` is a diagnostic, not an official metric: 1 where the fully normalised
prediction equals the most common fully normalised human answer (`majority_answer`, the
target the vqa task trains on), 0 otherwise, including for a question without answers.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from mmbench.metrics import Metric, register_metric

PUNCTUATION = (";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<",
               "@", "`", ",", "?", "!")
NUMBER_WORDS = {"none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4",
                "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10"}
ARTICLES = frozenset({"a", "an", "the"})
_DIGIT_COMMA_DIGIT = re.compile(r"\d,\d")
_PERIOD_NOT_BEFORE_DIGIT = re.compile(r"\.(?!\d)")
_PERIOD_LIMIT = 32  # the official count argument (re.UNICODE == 32)

# The official contraction table as `written form: accepted spellings`. Entries of the
# official table that can never fire (capitalised keys, seen only after lowercasing, and
# identity entries) are left out. `somebodyd` keeps the official table's reversed entry.
_CONTRACTIONS = """
ain't: aint | aren't: arent | can't: cant | could've: couldve | couldn't: couldnt
couldn't've: couldn'tve couldnt've | didn't: didnt | doesn't: doesnt | don't: dont
hadn't: hadnt | hadn't've: hadnt've hadn'tve | hasn't: hasnt | haven't: havent | he'd: hed
he'd've: hed've he'dve | he's: hes | how'd: howd | how'll: howll | how's: hows
isn't: isnt | it'd: itd | it'd've: itd've it'dve | it'll: itll | ma'am: maam
mightn't: mightnt | mightn't've: mightnt've mightn'tve | might've: mightve | mustn't: mustnt
must've: mustve | needn't: neednt | not've: notve | o'clock: oclock | oughtn't: oughtnt
'ow's'at: ow's'at 'ows'at 'ow'sat | shan't: shant | she'd've: shed've she'dve
should've: shouldve | shouldn't: shouldnt | shouldn't've: shouldnt've shouldn'tve
somebodyd: somebody'd | somebody'd've: somebodyd've somebody'dve | somebody'll: somebodyll
somebody's: somebodys | someone'd: someoned | someone'd've: someoned've someone'dve
someone'll: someonell | someone's: someones | something'd: somethingd
something'd've: somethingd've something'dve | something'll: somethingll | that's: thats
there'd: thered | there'd've: thered've there'dve | there're: therere | there's: theres
they'd: theyd | they'd've: theyd've they'dve | they'll: theyll | they're: theyre
they've: theyve | 'twas: twas | wasn't: wasnt | we'd've: wed've we'dve | we've: weve
weren't: werent | what'll: whatll | what're: whatre | what's: whats | what've: whatve
when's: whens | where'd: whered | where's: wheres | where've: whereve | who'd: whod
who'd've: whod've who'dve | who'll: wholl | who's: whos | who've: whove | why'll: whyll
why're: whyre | why's: whys | won't: wont | would've: wouldve | wouldn't: wouldnt
wouldn't've: wouldnt've wouldn'tve | y'all: yall | y'all'll: yall'll y'allll
y'all'd've: yall'd've y'alld've y'all'dve | you'd: youd | you'd've: youd've you'dve
you'll: youll | you're: youre | you've: youve
"""


@lru_cache(maxsize=1)
def contractions() -> dict[str, str]:
    """Accepted spelling -> written form."""
    table: dict[str, str] = {}
    for entry in _CONTRACTIONS.replace("\n", " | ").split("|"):
        if entry.strip():
            written, _, spellings = entry.partition(": ")
            table.update({s: written.strip() for s in spellings.split()})
    return table


def _punctuation(text: str) -> str:
    # The tests read the text as it came in, not as edited so far (the official order).
    delete_all = _DIGIT_COMMA_DIGIT.search(text) is not None
    out = text
    for mark in PUNCTUATION:
        touches_space = f"{mark} " in text or f" {mark}" in text
        out = out.replace(mark, "" if touches_space or delete_all else " ")
    return _PERIOD_NOT_BEFORE_DIGIT.sub("", out, count=_PERIOD_LIMIT)


def _words(text: str) -> str:
    table = contractions()
    words = [NUMBER_WORDS.get(w, w) for w in text.lower().split()]
    return " ".join(table.get(w, w) for w in words if w not in ARTICLES)


@lru_cache(maxsize=1 << 16)  # answers repeat a lot across a dataset
def normalize_answer(answer: str) -> str:
    """An answer in the full normal form: what the official evaluation does to a prediction."""
    text = answer.replace("\n", " ").replace("\t", " ").strip()
    return _words(_punctuation(text))


@lru_cache(maxsize=1 << 16)
def strip_punctuation(answer: str) -> str:
    """The punctuation step alone, on the text as given (no strip, no lowercasing)."""
    return _punctuation(answer)


def reference_forms(answers: Sequence[str]) -> list[str]:
    """Human answers as the official evaluation compares them with the normalised prediction:
    the punctuation step only, and only when the answers are not all identical."""
    if len(set(answers)) > 1:
        return [strip_punctuation(a) for a in answers]
    return list(answers)


def _leave_one_out(matches: int, n: int) -> float:
    """Mean over the n annotators left out of min(matches among the others / 3, 1)."""
    # Leaving out a matching annotator leaves matches - 1; any other leaves matches.
    total = matches * min((matches - 1) / 3, 1.0) + (n - matches) * min(matches / 3, 1.0)
    return total / n


def answer_accuracy(prediction: str, answers: Sequence[str]) -> float:
    """Official VQA accuracy of one predicted answer against its human answers."""
    if len(answers) < 2:  # none: NaN; one: the documented exact-match deviation
        return lenient_answer_accuracy(prediction, answers)
    pred = normalize_answer(prediction)
    return _leave_one_out(sum(r == pred for r in reference_forms(answers)), len(answers))


def lenient_answer_accuracy(prediction: str, answers: Sequence[str]) -> float:
    """VQA accuracy with the human answers fully normalised too (`vqa_lenient`)."""
    if not answers:
        return float("nan")
    pred = normalize_answer(prediction)
    matches = sum(normalize_answer(a) == pred for a in answers)
    return float(matches) if len(answers) == 1 else _leave_one_out(matches, len(answers))


def majority_answer(answers: Sequence[str]) -> str | None:
    """The most common normalised answer; a tie goes to the one given first."""
    if not answers:
        return None
    return Counter(normalize_answer(a) for a in answers).most_common(1)[0][0]


def vqa_per_sample(answers: Sequence[Sequence[str]], predictions: Sequence[str]) -> np.ndarray:
    return np.array([answer_accuracy(p, a) for a, p in zip(answers, predictions, strict=True)],
                    dtype=np.float64)


def vqa_accuracy(answers: Sequence[Sequence[str]], predictions: Sequence[str]) -> float:
    scores = vqa_per_sample(answers, predictions)
    return float(scores.mean()) if len(scores) else float("nan")


def vqa_lenient_per_sample(answers: Sequence[Sequence[str]], predictions: Sequence[str]) -> np.ndarray:
    return np.array([lenient_answer_accuracy(p, a) for a, p in zip(answers, predictions, strict=True)],
                    dtype=np.float64)


def vqa_lenient_accuracy(answers: Sequence[Sequence[str]], predictions: Sequence[str]) -> float:
    scores = vqa_lenient_per_sample(answers, predictions)
    return float(scores.mean()) if len(scores) else float("nan")


def exact_match_per_sample(answers: Sequence[Sequence[str]], predictions: Sequence[str]) -> np.ndarray:
    """1.0 where the normalised prediction is the most common normalised answer."""
    return np.array([float(bool(a) and normalize_answer(p) == majority_answer(a))
                     for a, p in zip(answers, predictions, strict=True)], dtype=np.float64)


def exact_match(answers: Sequence[Sequence[str]], predictions: Sequence[str]) -> float:
    scores = exact_match_per_sample(answers, predictions)
    return float(scores.mean()) if len(scores) else float("nan")


VQA = register_metric(Metric("vqa", vqa_accuracy, True, per_sample=vqa_per_sample))
VQA_LENIENT = register_metric(Metric("vqa_lenient", vqa_lenient_accuracy, True,
                                     per_sample=vqa_lenient_per_sample))
EXACT_MATCH = register_metric(Metric("exact_match", exact_match, True, per_sample=exact_match_per_sample))
