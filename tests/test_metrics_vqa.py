"""VQA accuracy and answer normalisation, against hand-computed values and a brute force."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest

from mmbench.metrics import METRICS
from mmbench.metrics.vqa import (
    answer_accuracy,
    contractions,
    exact_match,
    majority_answer,
    normalize_answer,
    vqa_accuracy,
    vqa_per_sample,
)


def brute_force(prediction: str, answers: list[str]) -> float:
    """The published rule, literally: every leave-one-annotator-out subset of the answers."""
    pred = normalize_answer(prediction)
    subsets = list(itertools.combinations(range(len(answers)), len(answers) - 1))
    scores = [min(sum(normalize_answer(answers[i]) == pred for i in keep) / 3, 1.0) for keep in subsets]
    return sum(scores) / len(scores)


@pytest.mark.parametrize(("matches", "expected"), [
    (0, 0.0), (1, 0.3), (2, 0.6), (3, 0.9), (4, 1.0), (9, 1.0), (10, 1.0)])
def test_accuracy_of_m_matching_answers_out_of_ten(matches: int, expected: float) -> None:
    # m matches: m subsets (a match left out) hold m-1, the other 10-m hold m, each capped at 3.
    # 2 matches: (2 * 1/3 + 8 * 2/3) / 10 = 0.6; 3 matches: (3 * 2/3 + 7 * 1) / 10 = 0.9.
    answers = ["cat"] * matches + ["dog"] * (10 - matches)
    assert answer_accuracy("cat", answers) == pytest.approx(expected, abs=1e-12)
    assert brute_force("cat", answers) == pytest.approx(expected, abs=1e-12)


def test_closed_form_equals_brute_force_on_random_answers() -> None:
    rng = random.Random(7)
    words = ["yes", "no", "2", "two", "red", "a red", "Red."]
    for _ in range(200):
        answers = [rng.choice(words) for _ in range(rng.randint(2, 10))]
        prediction = rng.choice(words)
        assert answer_accuracy(prediction, answers) == pytest.approx(brute_force(prediction, answers))


def test_single_reference_is_exact_match_and_no_reference_is_nan() -> None:
    assert answer_accuracy("Two", ["2"]) == 1.0
    assert answer_accuracy("3", ["2"]) == 0.0
    assert answer_accuracy("x", []) != answer_accuracy("x", [])  # NaN


@pytest.mark.parametrize(("raw", "normal"), [
    ("Two", "2"),
    ("none", "0"),
    ("  Ten\tdogs \n", "10 dogs"),
    ("the dog.", "dog"),
    ("A Dog!", "dog"),                # '!' touches no space: becomes a space, then stripped
    ("an apple", "apple"),
    ("dont", "don't"),
    ("youre", "you're"),
    ("oclock", "o'clock"),
    ("it's", "it's"),                 # the apostrophe is not punctuation here
    ("somebody'd", "somebodyd"),      # the official table's reversed entry, kept
    ("1,000", "1000"),                # digit-comma-digit: the comma is deleted
    ("red,blue", "red blue"),         # a comma between words becomes a space
    ("red, blue", "red blue"),        # touching a space: deleted
    ("t-shirt", "t shirt"),
    ("t - shirt", "t shirt"),
    ("2,5 and a-b", "25 and ab"),     # a digit-comma-digit anywhere deletes every mark
    ("3.5", "3.5"),                   # a period before a digit stays
    ("3.5.", "3.5"),
    ("i.e.", "ie"),
    ("black/white", "black white"),
    ("Hello?", "hello"),
    ("(yes)", "yes"),
])
def test_official_normalisation(raw: str, normal: str) -> None:
    assert normalize_answer(raw) == normal


def test_contraction_table_is_complete_where_it_can_fire() -> None:
    table = contractions()
    assert len(table) == 114  # the official 120 entries less 6 that cannot fire (see the module)
    assert table["dont"] == "don't" and table["yall'd've"] == "y'all'd've"
    assert all(k == k.lower() for k in table)  # capitalised official keys never fire after lowercasing


def test_majority_answer_and_exact_match() -> None:
    assert majority_answer(["Two", "2", "3", "three", "three"]) == "3"
    assert majority_answer(["no", "yes"]) == "no"  # a tie goes to the first given
    assert exact_match([["2", "2", "3"], ["yes"]], ["two", "no"]) == 0.5


def test_registered_with_direction() -> None:
    for name in ("vqa", "exact_match"):
        metric = METRICS.get(name)
        assert metric.higher_is_better and metric.per_sample is not None
    answers = [["cat"] * 2 + ["dog"] * 8, ["dog"] * 10]
    assert METRICS.get("vqa").fn(answers, ["cat", "dog"]) == pytest.approx((0.6 + 1.0) / 2)
    assert list(vqa_per_sample(answers, ["dog", "cat"])) == pytest.approx([1.0, 0.0])


def test_real_vqav2_answers(realdata: Path, isolated_home: Path) -> None:
    """The allennlp VQA v2 sample: ten real answers per question, scored by hand."""
    from mmbench.adapters import ADAPTERS
    from mmbench.data import build, load

    adapter = ADAPTERS.get("vqav2")(questions="questions.json", annotations="annotations.json",
                                     images="images/COCO_{image_subtype}_{image_id:012d}.jpg")
    build(adapter, realdata / "vqav2", home=isolated_home)
    rows = {r["id"]: r["answers"] for r in load("vqav2", isolated_home)["train"]}
    net = rows["train2014-458752000"]      # net x6, netting, mesh, pitcher, orange
    pitcher = rows["train2014-458752001"]  # pitcher x9, catcher
    orange = rows["train2014-458752002"]   # orange x10
    assert net.count("net") == 6 and pitcher.count("pitcher") == 9 and orange.count("orange") == 10
    assert answer_accuracy("net", net) == 1.0
    assert answer_accuracy("Net.", net) == 1.0
    assert answer_accuracy("netting", net) == pytest.approx(0.3)
    assert answer_accuracy("the mesh", net) == pytest.approx(0.3)
    assert answer_accuracy("nets", net) == 0.0
    assert answer_accuracy("catcher", pitcher) == pytest.approx(0.3)
    assert answer_accuracy("Pitcher!", pitcher) == 1.0
    # One prediction per question: (1.0 + 0.3 + 1.0) / 3.
    assert vqa_accuracy([net, pitcher, orange], ["net", "catcher", "orange"]) == pytest.approx(2.3 / 3)
    assert exact_match([net, pitcher, orange], ["net", "catcher", "orange"]) == pytest.approx(2 / 3)
