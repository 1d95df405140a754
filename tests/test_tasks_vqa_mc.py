"""The vqa and multiple-choice tasks on small corpora, scored by hand."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mmbench.adapters import ADAPTERS
from mmbench.data import build, info, load
from mmbench.metrics import METRICS
from mmbench.metrics.choice import rotation_votes
from mmbench.models import create
from mmbench.models.base import FitReport
from mmbench.runner.fitting import fit_and_evaluate
from mmbench.tasks import TASKS
from mmbench.tasks.multiple_choice import prompt_view
from mmbench.tasks.vqa import labelled_view
from tests.fakes._images import image_bytes, jpeg_bytes
from tests.fakes.vqav2 import questions_doc

# --- vqa ----------------------------------------------------------------------------------

# subtype -> question id -> ten answers; ids are image_id * 1000 + k.
ANSWERS = {
    "train2014": {11000: ["yes"] * 10, 11001: ["yes"] * 6 + ["no"] * 4, 11002: ["No."] * 10,
                  12000: ["two"] * 5 + ["2"] * 3 + ["3"] * 2},
    "val2014": {21000: ["yes"] * 2 + ["no"] * 8, 21001: ["2"] * 3 + ["blue"] * 7,
                21002: ["red"] * 10},
}


def write_vqa(root: Path) -> None:
    for subtype, by_qid in ANSWERS.items():
        questions = []
        for qid in by_qid:
            image_id = qid // 1000
            img = root / subtype / f"COCO_{subtype}_{image_id:012d}.jpg"
            img.parent.mkdir(parents=True, exist_ok=True)
            img.write_bytes(jpeg_bytes(image_id))
            questions.append({"image_id": image_id, "question": f"Question {qid}?", "question_id": qid})
        (root / f"v2_OpenEnded_mscoco_{subtype}_questions.json").write_text(
            json.dumps(questions_doc(subtype, questions)))
        anns = [{"question_id": q["question_id"], "image_id": q["image_id"],
                 "answers": [{"answer": a, "answer_id": i + 1} for i, a in enumerate(by_qid[q["question_id"]])]}
                for q in questions]
        (root / f"v2_mscoco_{subtype}_annotations.json").write_text(json.dumps({"annotations": anns}))


def vqa_dataset(tmp_path: Path, home: Path) -> tuple[Any, Any]:
    write_vqa(tmp_path / "vqa")
    build(ADAPTERS.get("vqav2")(), tmp_path / "vqa", home=home)
    return load("vqav2", home), info("vqav2", home)


class Constant:
    """A classifier that always answers class `index`."""

    def __init__(self, index: int) -> None:
        self.index = index

    def fit(self, train: Any, val: Any, *, num_classes: int, seed: int) -> FitReport:
        self.num_classes = num_classes
        return FitReport()

    def predict_proba(self, batch: Any) -> np.ndarray:
        return np.tile(np.eye(self.num_classes)[self.index], (len(batch), 1))


def test_vqa_labels_are_the_top_k_normalised_majority_answers(tmp_path: Path, isolated_home: Path) -> None:
    dataset, _ = vqa_dataset(tmp_path, isolated_home)
    train = dataset["train"]
    # Targets yes, yes, no, 2 ("two" x5 + "2" x3 normalise together); ties go alphabetically.
    full = labelled_view(train, ["yes", "2", "no"], "t")
    assert full["label"] == [0, 0, 2, 1] and full["id"] == train["id"]
    short = labelled_view(train, ["yes", "2"], "t")  # "no" is out of vocabulary: left out
    assert short["label"] == [0, 0, 1] and short["id"] == ["train2014-11000", "train2014-11001", "train2014-12000"]
    assert train["label"] == [None] * 4  # the stored dataset is untouched


def test_vqa_task_scores_every_answered_question(tmp_path: Path, isolated_home: Path) -> None:
    dataset, meta = vqa_dataset(tmp_path, isolated_home)
    out = fit_and_evaluate(TASKS.get("vqa")(vocab_size=3), create("majority"), dataset, meta, seed=0)
    # Majority answers "yes" (2 of 4 targets): 2 of 10 match on 21000 -> 0.6, none elsewhere.
    assert out.eval_split == "val" and out.n == 3
    assert out.metrics["vqa"].value == pytest.approx(0.6 / 3)
    assert out.metrics["exact_match"].value == 0.0  # 21000's most common answer is "no"
    table = out.predictions
    assert table.column("prediction").to_pylist() == ["yes"] * 3
    assert table.column("vqa_accuracy").to_pylist() == pytest.approx([0.6, 0.0, 0.0])
    assert table.column("in_vocabulary").to_pylist() == [True, False, False]  # "blue", "red": unknown
    assert out.fit["answer_vocabulary"] == 3
    answers, predictions = TASKS.get("vqa").metric_inputs(table)
    assert list(answers[2]) == ["red"] * 10 and list(predictions) == ["yes"] * 3


def test_vqa_three_matches_score_point_nine(tmp_path: Path, isolated_home: Path) -> None:
    dataset, meta = vqa_dataset(tmp_path, isolated_home)
    out = fit_and_evaluate(TASKS.get("vqa")(), Constant(1), dataset, meta, seed=0)  # always "2"
    # 21001 has "2" three times: (3 * 2/3 + 7 * 1) / 10 = 0.9; "2" is the target nowhere.
    assert out.metrics["vqa"].value == pytest.approx(0.9 / 3)
    assert out.metrics["exact_match"].value == 0.0
    est = out.metrics["vqa"]
    assert est.ci_low <= est.value <= est.ci_high


def test_vqa_trains_a_registered_fusion_model(tmp_path: Path, isolated_home: Path) -> None:
    dataset, meta = vqa_dataset(tmp_path, isolated_home)
    model = create("concat-fusion", hidden=16, train={"epochs": 1, "batch_size": 4})
    out = fit_and_evaluate(TASKS.get("vqa")(), model, dataset, meta, seed=0)
    assert model.num_classes == 3 and out.n == 3
    assert set(out.predictions.column("prediction").to_pylist()) <= {"yes", "2", "no"}
    assert 0.0 <= out.metrics["vqa"].value <= 0.6 / 3 + 0.9 / 3


def test_vqa_on_the_real_sample(realdata: Path, isolated_home: Path) -> None:
    """The real allennlp questions as train (train2014) and as eval (read as val2014)."""
    options = {"questions": "questions.json", "annotations": "annotations.json",
               "images": "images/COCO_train2014_{image_id:012d}.jpg"}
    build(ADAPTERS.get("vqav2")(**options), realdata / "vqav2", home=isolated_home, name="a")
    build(ADAPTERS.get("vqav2")(**options, subtype="val2014"), realdata / "vqav2", home=isolated_home, name="b")
    dataset = dict({"train": load("a", isolated_home)["train"], "val": load("b", isolated_home)["val"]})
    out = fit_and_evaluate(TASKS.get("vqa")(), create("majority"), dataset, info("a", isolated_home), seed=0)
    # Targets net, pitcher, orange once each: vocabulary [net, orange, pitcher], majority says "net".
    # net: 6 of 10 -> 1.0; pitcher question: 0; orange question: 0.
    assert out.predictions.column("prediction").to_pylist() == ["net"] * 3
    assert out.metrics["vqa"].value == pytest.approx(1 / 3)
    assert out.metrics["exact_match"].value == pytest.approx(1 / 3)


# --- multiple choice ----------------------------------------------------------------------

HEADER = ["index", "question", "hint", "A", "B", "C", "D", "answer", "image"]
# question, options, answer letter
QUESTIONS = [("Which colour?", ["red", "green", "blue", "grey"], "B"),
             ("Is it square?", ["yes", "no"], "A"),
             ("How many?", ["one", "two", "three"], "C"),
             ("Which animal?", ["cat", "dog", "cow"], "A"),
             ("Which way?", ["up"], "A")]
TRUTH = {q: opts["ABCD".index(a)] for q, opts, a in QUESTIONS}


def write_mcq(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(HEADER)]
    for i, (q, opts, answer) in enumerate(QUESTIONS):
        cells = [str(i), q, "", *(opts + [""] * (4 - len(opts))), answer,
                 base64.b64encode(image_bytes(i)).decode()]
        lines.append("\t".join(cells))
    path.write_text("\n".join(lines) + "\n")


def mcq_dataset(tmp_path: Path, home: Path, splits: tuple[str, ...] = ("test",)) -> tuple[Any, Any]:
    write_mcq(tmp_path / "mcq" / "MCQ.tsv")
    for split in splits:
        build(ADAPTERS.get("vlmevalkit-tsv")(split=split), tmp_path / "mcq", home=home, name=f"mcq-{split}")
    dataset = dict({s: load(f"mcq-{s}", home)[s] for s in splits})
    return dataset, info(f"mcq-{splits[0]}", home)


class Chooser:
    """score_choices stub: the right option for the questions it knows, else position 0."""

    uses_images = False

    def __init__(self, knows: set[str], avoid_last: bool = False) -> None:
        self.knows, self.avoid_last = knows, avoid_last

    def score_choices(self, batch: Any, choices: list[list[str]]) -> np.ndarray:
        out = np.zeros((len(choices), max(map(len, choices))))
        for i, (question, options) in enumerate(zip(batch.texts, choices, strict=True)):
            pick = options.index(TRUTH[question]) if question in self.knows else 0
            if self.avoid_last and pick == len(options) - 1:
                pick = 0
            out[i, pick] = 1.0
        return out


@pytest.mark.parametrize(("chooser", "plain", "circular"), [
    # Position 0 always: right at rotation 0 when the answer is A (3 of 5); in every
    # rotation only for the one-option question.
    (Chooser(set()), 3 / 5, 1 / 5),
    # Right unless the answer sits last: "How many?" (answer C of 3) fails in the
    # published order; every question of k > 1 fails the rotation putting its answer last.
    (Chooser(set(TRUTH), avoid_last=True), 4 / 5, 1 / 5),
    # Knows two questions (right in every rotation), position 0 elsewhere: plain is right
    # everywhere, circular only for the known two and the one-option question.
    (Chooser({"Which colour?", "How many?"}), 5 / 5, 3 / 5),
    (Chooser(set(TRUTH)), 1.0, 1.0),
])
def test_circular_evaluation(tmp_path: Path, isolated_home: Path, chooser: Chooser, plain: float,
                             circular: float) -> None:
    dataset, meta = mcq_dataset(tmp_path, isolated_home)
    out = fit_and_evaluate(TASKS.get("multiple-choice")(), chooser, dataset, meta, seed=0)
    assert out.n == 5
    assert out.metrics["accuracy"].value == pytest.approx(plain)
    assert out.metrics["circular_accuracy"].value == pytest.approx(circular)
    rotations = out.predictions.column("rotations_correct").to_pylist()
    assert [len(r) for r in rotations] == [4, 2, 3, 3, 1]
    # The stored predictions give the same values back through the registry (paired tests).
    labels, votes = TASKS.get("multiple-choice").metric_inputs(out.predictions)
    assert METRICS.get("accuracy").fn(labels, votes) == pytest.approx(plain)
    assert METRICS.get("circular_accuracy").fn(labels, votes) == pytest.approx(circular)


def test_rotation_votes_by_hand() -> None:
    picks = np.array([[1, 1, 1, -1], [0, 1, -1, -1], [2, 2, 2, 2]])
    votes = rotation_votes(picks, 4)
    # One vote per rotation, plus R = 4 for the published-order pick.
    assert votes.tolist() == [[0, 7, 0, 0], [5, 1, 0, 0], [0, 0, 8, 0]]
    labels = np.array([1, 0, 2])
    assert METRICS.get("accuracy").fn(labels, votes) == 1.0
    assert METRICS.get("circular_accuracy").fn(labels, votes) == pytest.approx(2 / 3)
    assert METRICS.get("circular_accuracy").higher_is_better


def test_rotation_detail_for_position_zero(tmp_path: Path, isolated_home: Path) -> None:
    dataset, meta = mcq_dataset(tmp_path, isolated_home)
    out = fit_and_evaluate(TASKS.get("multiple-choice")(), Chooser(set()), dataset, meta, seed=0)
    # "Which colour?" answer B: position 0 holds it only in rotation 1.
    assert out.predictions.column("rotations_correct").to_pylist()[0] == [False, True, False, False]
    assert out.predictions.column("prediction").to_pylist() == [0, 0, 0, 0, 0]


def test_classifier_trained_on_answer_indices(tmp_path: Path, isolated_home: Path) -> None:
    dataset, meta = mcq_dataset(tmp_path, isolated_home, ("train", "test"))
    view = prompt_view(dataset["train"])
    assert view["label"] == [1, 0, 2, 0, 0]
    assert view[0]["text"] == "Which colour?\nA. red\nB. green\nC. blue\nD. grey"
    # Majority learns index 0 (3 of 5), so it answers like the position-0 chooser.
    out = fit_and_evaluate(TASKS.get("multiple-choice")(), create("majority"), dataset, meta, seed=0)
    assert out.metrics["accuracy"].value == pytest.approx(3 / 5)
    assert out.metrics["circular_accuracy"].value == pytest.approx(1 / 5)
    text = fit_and_evaluate(TASKS.get("multiple-choice")(),
        create("text-only", hidden=16, train={"epochs": 1, "batch_size": 4}), dataset, meta, seed=0)
    acc, circ = text.metrics["accuracy"].value, text.metrics["circular_accuracy"].value
    assert 0.0 <= circ <= acc <= 1.0


class AnswerEncoder:
    """Dual-encoder stub: the text holding the right option is the image's neighbour."""

    def embed_images(self, batch: Any) -> np.ndarray:
        return np.tile([1.0, 0.0], (len(batch), 1))

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        right = [any(t == f"{q} {a}" for q, a in TRUTH.items()) for t in texts]
        return np.array([[1.0, 0.1] if r else [0.1, 1.0] for r in right])


def test_dual_encoder_zero_shot_without_train_split(tmp_path: Path, isolated_home: Path) -> None:
    dataset, meta = mcq_dataset(tmp_path, isolated_home)
    out = fit_and_evaluate(TASKS.get("multiple-choice")(), AnswerEncoder(), dataset, meta, seed=0)
    assert out.metrics["circular_accuracy"].value == 1.0


def test_trainable_classifier_needs_a_train_split(tmp_path: Path, isolated_home: Path) -> None:
    from mmbench.tasks.base import TaskError

    dataset, meta = mcq_dataset(tmp_path, isolated_home)
    with pytest.raises(TaskError, match="train split"):
        fit_and_evaluate(TASKS.get("multiple-choice")(), create("majority"), dataset, meta, seed=0)
