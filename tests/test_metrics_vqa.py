"""VQA accuracy (official and lenient) and answer normalisation, against hand-computed
values and a brute force."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import pytest

from mmbench.metrics import METRICS
from mmbench.metrics.vqa import (
    answer_accuracy,
    contractions,
    exact_match,
    lenient_answer_accuracy,
    majority_answer,
    normalize_answer,
    reference_forms,
    strip_punctuation,
    vqa_accuracy,
    vqa_lenient_accuracy,
    vqa_lenient_per_sample,
    vqa_per_sample,
)


def _leave_one_out(pred: str, refs: list[str]) -> float:
    subsets = list(itertools.combinations(range(len(refs)), len(refs) - 1))
    scores = [min(sum(refs[i] == pred for i in keep) / 3, 1.0) for keep in subsets]
    return sum(scores) / len(scores)


def brute_force(prediction: str, answers: list[str]) -> float:
    """The official rule, literally: the prediction fully normalised, the answers through
    the punctuation step only if they are not all the same, every leave-one-out subset."""
    refs = [strip_punctuation(a) for a in answers] if len(set(answers)) > 1 else list(answers)
    return _leave_one_out(normalize_answer(prediction), refs)


def brute_force_lenient(prediction: str, answers: list[str]) -> float:
    """The lenient rule, literally: both sides fully normalised, every leave-one-out subset."""
    return _leave_one_out(normalize_answer(prediction), [normalize_answer(a) for a in answers])


@pytest.mark.parametrize(("matches", "expected"), [
    (0, 0.0), (1, 0.3), (2, 0.6), (3, 0.9), (4, 1.0), (9, 1.0), (10, 1.0)])
def test_accuracy_of_m_matching_answers_out_of_ten(matches: int, expected: float) -> None:
    # m matches: m subsets (a match left out) hold m-1, the other 10-m hold m, each capped at 3.
    # 2 matches: (2 * 1/3 + 8 * 2/3) / 10 = 0.6; 3 matches: (3 * 2/3 + 7 * 1) / 10 = 0.9.
    answers = ["cat"] * matches + ["dog"] * (10 - matches)
    for accuracy in (answer_accuracy, lenient_answer_accuracy, brute_force, brute_force_lenient):
        assert accuracy("cat", answers) == pytest.approx(expected, abs=1e-12)


def test_closed_form_equals_brute_force_on_random_answers() -> None:
    rng = random.Random(7)
    words = ["yes", "Yes", "no", "2", "two", "red", "a red", "Red.", "red ", " red", "t-shirt", "t shirt"]
    for _ in range(300):
        answers = [rng.choice(words) for _ in range(rng.randint(2, 10))]
        if rng.random() < 0.2:
            answers = [answers[0]] * len(answers)  # all the same: the official rule leaves them alone
        prediction = rng.choice(words)
        assert answer_accuracy(prediction, answers) == pytest.approx(brute_force(prediction, answers))
        assert lenient_answer_accuracy(prediction, answers) == pytest.approx(
            brute_force_lenient(prediction, answers))


def test_single_reference_is_exact_match_and_no_reference_is_nan() -> None:
    # One answer left out leaves none: the documented deviation scores it by the lenient
    # exact match in both variants.
    for accuracy in (answer_accuracy, lenient_answer_accuracy):
        assert accuracy("Two", ["2"]) == 1.0
        assert accuracy("yes", ["Yes."]) == 1.0
        assert accuracy("3", ["2"]) == 0.0
        assert accuracy("x", []) != accuracy("x", [])  # NaN


def test_the_human_answers_get_the_punctuation_step_only() -> None:
    # Not lowercased, not stripped, no number words, no articles; and nothing at all when
    # every answer is the same.
    assert strip_punctuation("Red.") == "Red"
    assert strip_punctuation("recklinghausen ") == "recklinghausen "
    assert strip_punctuation("@aden_76") == " aden 76"  # '@' touches no space: becomes one
    assert strip_punctuation("the two") == "the two"
    assert reference_forms(["g-atco"] * 10) == ["g-atco"] * 10
    assert reference_forms(["g-atco", "Two."]) == ["g atco", "Two"]
    # Prediction `yes` against ten `Yes`: untouched and not lowercased, so no match.
    assert answer_accuracy("yes", ["Yes"] * 10) == 0.0
    assert lenient_answer_accuracy("yes", ["Yes"] * 10) == 1.0
    # `Two` becomes `2` as a prediction; an answer `two` stays `two`.
    assert answer_accuracy("Two", ["2"] * 4 + ["two"] * 6) == 1.0
    assert answer_accuracy("two", ["two"] * 6 + ["2"] * 4) == 1.0  # the 4 `2`s match
    assert answer_accuracy("two", ["two"] * 8 + ["2"] * 2) == pytest.approx(0.6)
    assert lenient_answer_accuracy("two", ["two"] * 8 + ["2"] * 2) == 1.0


def test_at_most_32_periods_are_removed() -> None:
    # The official script hands re.UNICODE (32) to Pattern.sub as its count.
    assert normalize_answer("." * 40) == "." * 8
    assert strip_punctuation("x." * 33) == "x" * 32 + "x."


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
    for name in ("vqa", "vqa_lenient", "exact_match"):
        metric = METRICS.get(name)
        assert metric.higher_is_better and metric.per_sample is not None
    answers = [["cat"] * 2 + ["dog"] * 8, ["dog"] * 10]
    assert METRICS.get("vqa").fn(answers, ["cat", "dog"]) == pytest.approx((0.6 + 1.0) / 2)
    assert list(vqa_per_sample(answers, ["dog", "cat"])) == pytest.approx([1.0, 0.0])
    answers = [["Cat"] * 2 + ["dog"] * 8, ["Dog"] * 10]
    assert METRICS.get("vqa").fn(answers, ["cat", "dog"]) == 0.0
    assert METRICS.get("vqa_lenient").fn(answers, ["cat", "dog"]) == pytest.approx((0.6 + 1.0) / 2)
    assert vqa_lenient_accuracy(answers, ["cat", "dog"]) == pytest.approx(0.8)
    assert list(vqa_lenient_per_sample(answers, ["dog", "cat"])) == pytest.approx([1.0, 0.0])
    # exact match compares full normal forms with the most common one, as the training targets do.
    assert METRICS.get("exact_match").fn(answers, ["cat", "dog"]) == 0.5


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


# --- official against lenient on the real answer sets ------------------------------------

TEXTVQA = ("textvqa/TextVQA_0.5.1_train.json_samples.json", "textvqa/TextVQA_0.5.1_val.json_samples.json")
VQAV2 = tuple(f"vqav2/awesome-dataset-annotations/{name}_annotations.json_samples.json" for name in (
    "v2_mscoco_train2014", "v2_mscoco_val2014", "abstract_v002_train2015", "abstract_v002_val2017",
)) + ("vqav2/annotations.json",)


def answer_sets(root: Path, file: str) -> dict[int, list[str]]:
    """question id -> its ten human answers, as the file holds them (TextVQA or VQA layout)."""
    doc = json.loads((root / file).read_text(encoding="utf-8"))
    if "data" in doc:
        return {int(q["question_id"]): list(q["answers"]) for q in doc["data"]}
    return {int(a["question_id"]): [x["answer"] for x in a["answers"]] for a in doc["annotations"]}


# (file, question id, prediction, official, lenient), each worked by hand below.
REAL_CASES = [
    # TextVQA train q4: virgin is the brand on the plane. x1, virgin mobile x1, virgin x8.
    # Prediction -> "virgin is brand on plane" (period and both articles go); the answers
    # differ, so each only loses its period: "virgin is the brand on the plane" keeps its
    # articles. Official: 0 matches -> 0. Lenient: that answer normalises alike, 1 -> 0.3.
    (TEXTVQA[0], 4, "virgin is the brand on the plane.", 0.0, 0.3),
    # TextVQA train q50: a x3, unanswerable x5, 618, no text in image. Prediction `A` ->
    # lowercased, then dropped as an article: "". The answers keep "a". Official 0;
    # lenient: the three "a" also become "", 3 matches -> (3 * 2/3 + 7 * 1) / 10 = 0.9.
    (TEXTVQA[0], 50, "A", 0.0, 0.9),
    (TEXTVQA[0], 50, "unanswerable", 1.0, 1.0),  # 5 plain matches either way
    # TextVQA train q8: g-atco x10. All the same, so the answers are left as they are;
    # the prediction's hyphen touches no space and becomes one: "g atco". Official 0;
    # lenient: all ten become "g atco" -> 1.0.
    (TEXTVQA[0], 8, "g-atco", 0.0, 1.0),
    # TextVQA val q34648: one penny x9, 1 x1. Prediction -> "1 penny" (number word); the
    # answers get no word step: "one penny". Official 0; lenient: 9 matches -> 1.0.
    (TEXTVQA[1], 34648, "one penny", 0.0, 1.0),
    (TEXTVQA[1], 34648, "1", 0.3, 0.3),  # the lone "1" matches in both: 1 match -> 0.3
    # TextVQA train q21: "recklinghausen" once, "recklinghausen " (trailing space) twice.
    # The answers are never stripped: official 1 match -> 0.3; lenient 3 -> 0.9.
    (TEXTVQA[0], 21, "recklinghausen", 0.3, 0.9),
    # TextVQA val q34636: aden_76 x2, @aden_76 x2, @mediaczar x2, mediaczar x2, unanswerable,
    # yes. Prediction "@aden_76": "@" and "_" touch no space and become spaces, " aden 76",
    # then split and joined: "aden 76". Answers: aden_76 -> "aden 76" (2 matches) but
    # @aden_76 -> " aden 76" with its leading space kept (no match). Official 2 -> 0.6;
    # lenient: all four -> "aden 76", 4 -> 1.0.
    (TEXTVQA[1], 34636, "@aden_76", 0.6, 1.0),
    # TextVQA val q34699: norman a. daniels x5, ward hawkins x5. Prediction: the period
    # before a space goes, then the article "a": "norman daniels"; the answers only lose the
    # period: "norman a daniels". Official 0; lenient: 5 matches -> 1.0.
    (TEXTVQA[1], 34699, "norman a. daniels", 0.0, 1.0),
    # VQA v2 val2014 q262162026: none x5, dog x2, panther, leather, cat. Prediction "none" ->
    # "0"; the answers keep "none". Official 0; lenient: 5 matches -> 1.0.
    (VQAV2[1], 262162026, "none", 0.0, 1.0),
    # VQA v2 abstract train2015 q1280: abcd x7, a,b,c,d, dbca, yes. Prediction: no comma
    # touches a space and there is no digit-comma-digit, so commas become spaces, "a b c d",
    # then the article goes: "b c d". The answer a,b,c,d -> "a b c d" only. Official 0;
    # lenient: it becomes "b c d" too, 1 match -> 0.3.
    (VQAV2[2], 1280, "a,b,c,d", 0.0, 0.3),
]


@pytest.mark.parametrize(("file", "question", "prediction", "official", "lenient"), REAL_CASES)
def test_real_answers_where_the_variants_differ(realdata: Path, file: str, question: int, prediction: str,
                                                official: float, lenient: float) -> None:
    answers = answer_sets(realdata, file)[question]
    assert len(answers) == 10
    assert answer_accuracy(prediction, answers) == pytest.approx(official, abs=1e-12)
    assert lenient_answer_accuracy(prediction, answers) == pytest.approx(lenient, abs=1e-12)
    assert brute_force(prediction, answers) == pytest.approx(official, abs=1e-12)
    assert brute_force_lenient(prediction, answers) == pytest.approx(lenient, abs=1e-12)


def test_share_of_real_pairs_whose_score_changes(realdata: Path) -> None:
    """Every (question, distinct human answer used as the prediction) pair of the samples:
    63 of 615 TextVQA pairs (10.2%) and 9 of 941 VQA v2 pairs (1.0%) score differently."""
    counts = {}
    for corpus, files in (("textvqa", TEXTVQA), ("vqav2", VQAV2)):
        pairs = changed = 0
        for file in files:
            for answers in answer_sets(realdata, file).values():
                for prediction in dict.fromkeys(answers):
                    official = answer_accuracy(prediction, answers)
                    assert official == pytest.approx(brute_force(prediction, answers), abs=1e-12)
                    pairs += 1
                    changed += abs(official - lenient_answer_accuracy(prediction, answers)) > 1e-12
        counts[corpus] = (changed, pairs)
    assert counts == {"textvqa": (63, 615), "vqav2": (9, 941)}
