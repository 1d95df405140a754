"""Open-answer VQA metrics: the VQA accuracy of the official evaluation, and exact match.

Written from the rules the VQA challenge publishes for its evaluation:

- An answer is normalised before matching: newlines and tabs become spaces; each
  punctuation mark of a fixed set is deleted when it touches a space in the answer (or
  the answer holds a digit-comma-digit group such as `1,000`) and otherwise becomes a
  space; a period is deleted unless a digit follows it (so `2.5` keeps its point);
  then the answer is lowercased and split on whitespace, number words `none`, `zero`
  ... `ten` become digits, the articles `a`, `an`, `the` are dropped, contractions
  written without their apostrophe get it back (`dont` -> `don't`), and the words are
  joined by single spaces.
- A predicted answer is scored against the ten human answers: for each of the ten
  subsets of nine answers that leave one annotator out, the score is
  `min(#matches / 3, 1)`; the question's accuracy is the mean over the ten subsets.
  So 1 match gives 0.3, 2 give 0.6, 3 give 0.9 and 4 or more give 1.0.

Deviations, each on purpose: the official script normalises only when the ten answers
disagree; here both sides are always normalised, so `Two` scores against `2`. With a
single reference answer (VLMEvalKit-style VQA) leaving it out would always score 0,
so one answer is scored by exact match.
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
    # The test reads the answer as given, not as edited so far (the official order).
    delete_all = _DIGIT_COMMA_DIGIT.search(text) is not None
    out = text
    for mark in PUNCTUATION:
        touches_space = f"{mark} " in text or f" {mark}" in text
        out = out.replace(mark, "" if touches_space or delete_all else " ")
    return _PERIOD_NOT_BEFORE_DIGIT.sub("", out)


def _words(text: str) -> str:
    table = contractions()
    words = [NUMBER_WORDS.get(w, w) for w in text.lower().split()]
    return " ".join(table.get(w, w) for w in words if w not in ARTICLES)


@lru_cache(maxsize=1 << 16)  # answers repeat a lot across a dataset
def normalize_answer(answer: str) -> str:
    """An answer in the official normal form (see the module docstring)."""
    text = answer.replace("\n", " ").replace("\t", " ").strip()
    return _words(_punctuation(text))


def answer_accuracy(prediction: str, answers: Sequence[str]) -> float:
    """VQA accuracy of one predicted answer against its human answers."""
    if not answers:
        return float("nan")
    pred = normalize_answer(prediction)
    matches = sum(normalize_answer(a) == pred for a in answers)
    n = len(answers)
    if n == 1:
        return float(matches)
    # Leaving out a matching annotator leaves matches - 1; any other leaves matches.
    total = matches * min((matches - 1) / 3, 1.0) + (n - matches) * min(matches / 3, 1.0)
    return total / n


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


def exact_match_per_sample(answers: Sequence[Sequence[str]], predictions: Sequence[str]) -> np.ndarray:
    """1.0 where the normalised prediction is the most common normalised answer."""
    return np.array([float(bool(a) and normalize_answer(p) == majority_answer(a))
                     for a, p in zip(answers, predictions, strict=True)], dtype=np.float64)


def exact_match(answers: Sequence[Sequence[str]], predictions: Sequence[str]) -> float:
    scores = exact_match_per_sample(answers, predictions)
    return float(scores.mean()) if len(scores) else float("nan")


VQA = register_metric(Metric("vqa", vqa_accuracy, True, per_sample=vqa_per_sample))
EXACT_MATCH = register_metric(Metric("exact_match", exact_match, True, per_sample=exact_match_per_sample))
