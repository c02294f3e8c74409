"""analytics.evaluation: VOC matching, PR curve, AP50 and recall at a fixed precision."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

from analytics import evaluation
from analytics.evaluation import (
    Evaluation,
    average_precision,
    box_iou,
    match_detections,
    pr_curve,
    recall_at_precision,
)

from tests.conftest import SHARED_DATA

HCMC = SHARED_DATA / "vn" / "hcmc_cctv"

A = [0, 0, 10, 10]
B = [20, 0, 30, 10]
C = [40, 0, 50, 10]


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (A, A, 1.0),
        (A, [5, 0, 15, 10], 1 / 3),
        (A, [0, 0, 10, 5], 0.5),
        (A, B, 0.0),
        (A, [10, 0, 20, 10], 0.0),  # touching edges
        ([0, 0, 0, 0], [0, 0, 0, 0], 0.0),  # empty boxes: no division by zero
    ],
)
def test_box_iou(a: list[float], b: list[float], expected: float) -> None:
    assert box_iou([a], [b])[0, 0] == pytest.approx(expected)


def test_box_iou_shapes() -> None:
    assert box_iou(np.zeros((0, 4)), [A, B]).shape == (0, 2)
    assert box_iou([A, B, C], [A, B]).shape == (3, 2)


@pytest.mark.parametrize(
    ("dets", "scores", "gts", "expected"),
    [
        ([A], [0.5], [A], [True]),
        ([A], [0.5], [], [False]),
        ([], [], [A], []),
        # two boxes on one object: the higher score wins, the other is a duplicate (FP)
        ([A, [1, 0, 10, 10]], [0.6, 0.8], [A], [False, True]),
        # IoU 0.5 exactly counts; 1/3 does not
        ([[0, 0, 10, 5]], [0.9], [A], [True]),
        ([[5, 0, 15, 10]], [0.9], [A], [False]),
        # VOC: a detection goes to the label it overlaps most; if that one is taken it is
        # a false positive even though a second label overlaps it by >= 0.5
        ([[0, 0, 10, 10], [0, 0, 10, 8]], [0.9, 0.8], [[0, 0, 10, 9], [0, 0, 10, 7]], [True, False]),
        ([A, B, C], [0.1, 0.2, 0.3], [C, A], [True, False, True]),
    ],
)
def test_match_detections(dets: list, scores: list, gts: list, expected: list[bool]) -> None:
    assert match_detections(dets, scores, gts).tolist() == expected


@pytest.mark.parametrize(
    ("scores", "tp", "n_gt", "recall", "precision", "thresholds", "ap"),
    [
        ([0.9, 0.8, 0.7], [True, False, True], 4, [0.25, 0.25, 0.5], [1, 0.5, 2 / 3], [0.9, 0.8, 0.7], 0.25 + 0.25 * 2 / 3),
        # unsorted input is sorted by score
        ([0.7, 0.9, 0.8], [True, True, False], 4, [0.25, 0.25, 0.5], [1, 0.5, 2 / 3], [0.9, 0.8, 0.7], 0.25 + 0.25 * 2 / 3),
        # tied scores make one point: the order within a tie does not matter
        ([0.5, 0.5], [False, True], 1, [1.0], [0.5], [0.5], 0.5),
        ([0.5, 0.5], [True, False], 1, [1.0], [0.5], [0.5], 0.5),
        # all found, no false positive
        ([0.9, 0.3], [True, True], 2, [0.5, 1.0], [1, 1], [0.9, 0.3], 1.0),
        # a false positive first: interpolation takes the best precision to the right
        ([0.9, 0.8, 0.1], [False, True, True], 2, [0, 0.5, 1.0], [0, 0.5, 2 / 3], [0.9, 0.8, 0.1], 2 / 3),
        ([0.9], [False], 3, [0.0], [0.0], [0.9], 0.0),
        ([], [], 3, [], [], [], 0.0),
    ],
)
def test_pr_curve_and_ap(scores: list, tp: list, n_gt: int, recall: list, precision: list, thresholds: list,
                         ap: float) -> None:
    r, p, t = pr_curve(scores, tp, n_gt)
    assert r.tolist() == pytest.approx(recall)
    assert p.tolist() == pytest.approx(precision)
    assert t.tolist() == pytest.approx(thresholds)
    assert average_precision(r, p) == pytest.approx(ap)


@pytest.mark.parametrize(
    ("recall", "precision", "thresholds", "min_precision", "expected"),
    [
        ([0.25, 0.25, 0.5], [1, 0.5, 2 / 3], [0.9, 0.8, 0.7], 0.9, (0.25, 0.9)),
        ([0.25, 0.25, 0.5], [1, 0.5, 2 / 3], [0.9, 0.8, 0.7], 0.6, (0.5, 0.7)),
        ([0.25, 0.25, 0.5], [1, 0.5, 2 / 3], [0.9, 0.8, 0.7], 0.5, (0.5, 0.7)),
        # precision exactly at the bar counts
        ([0.5, 0.9, 0.95], [1, 0.9, 0.8], [0.8, 0.5, 0.2], 0.9, (0.9, 0.5)),
        # equal recall at two thresholds: the higher threshold
        ([0.5, 0.5], [1.0, 0.95], [0.8, 0.6], 0.9, (0.5, 0.8)),
        ([0.5], [0.4], [0.3], 0.9, (0.0, None)),
        ([], [], [], 0.9, (0.0, None)),
    ],
)
def test_recall_at_precision(recall: list, precision: list, thresholds: list, min_precision: float,
                             expected: tuple) -> None:
    got = recall_at_precision(recall, precision, thresholds, min_precision)
    assert got[0] == pytest.approx(expected[0])
    assert got[1] == (None if expected[1] is None else pytest.approx(expected[1]))


# Two images, two classes. Image 1: motorbikes at A, B, C; found A (0.9), B (0.4), a
# duplicate of A (0.8), a false one (0.6); a car at A found as a motorbike (0.7, a false
# motorbike) and no car detection. Image 2: one car at B found (0.95), a false car (0.2).
IMAGES = [
    dict(gt_xyxy=[A, B, C, A], gt_class=["motorbike", "motorbike", "motorbike", "car"],
         det_xyxy=[A, B, [1, 0, 10, 10], [60, 0, 70, 10], [0, 1, 10, 10]],
         det_score=[0.9, 0.4, 0.8, 0.6, 0.7], det_class=["motorbike"] * 5),
    dict(gt_xyxy=[B], gt_class=["car"], det_xyxy=[B, C], det_score=[0.95, 0.2], det_class=["car", "car"]),
]


@pytest.mark.parametrize(
    ("cls", "confidence", "tp", "fp", "fn", "recall", "precision", "ap", "r_at_p", "thr"),
    [
        # motorbikes by score: .9 TP (A), .8 FP and .7 FP (A is taken: VOC gives them to A,
        # their best overlap), .6 FP, .4 TP (B): recall 1/3 up to .6, then 2/3 at precision 2/5
        ("motorbike", 0.0, 2, 3, 1, 2 / 3, 2 / 5, 1 / 3 + 1 / 3 * 2 / 5, 1 / 3, 0.9),
        ("motorbike", 0.5, 1, 3, 2, 1 / 3, 1 / 4, 1 / 3 + 1 / 3 * 2 / 5, 1 / 3, 0.9),
        ("car", 0.0, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.95),
        ("car", 0.99, 0, 0, 2, 0.0, None, 0.5, 0.5, 0.95),
    ],
)
def test_evaluation_counts(cls: str, confidence: float, tp: int, fp: int, fn: int, recall: float,
                           precision: float | None, ap: float, r_at_p: float, thr: float) -> None:
    ev = Evaluation(["motorbike", "car"])
    for image in IMAGES:
        ev.add(**image)
    f = ev.figures(confidence=confidence, min_precision=0.9)[cls]
    assert (f.n_gt, f.tp, f.fp, f.fn) == (tp + fn, tp, fp, fn)
    assert f.recall == pytest.approx(recall)
    assert f.precision == (None if precision is None else pytest.approx(precision))
    assert f.ap50 == pytest.approx(ap)
    assert f.recall_at_precision == pytest.approx(r_at_p)
    assert f.threshold_at_precision == pytest.approx(thr)
    assert ev.images == 2


def test_dont_care_drops_only_unmatched_detections() -> None:
    ev = Evaluation(["motorbike"])
    # a far motorbike left unlabelled (at C) and a labelled one found (at A), both marked dont-care
    ev.add([A], ["motorbike"], [A, C], [0.9, 0.8], ["motorbike"] * 2, dont_care=[True, True])
    f = ev.figures()["motorbike"]
    assert (f.tp, f.fp, f.fn, f.dont_care, f.precision, f.ap50) == (1, 0, 0, 1, 1.0, 1.0)
    strict = Evaluation(["motorbike"])
    strict.add([A], ["motorbike"], [A, C], [0.9, 0.8], ["motorbike"] * 2)
    assert (strict.figures()["motorbike"].fp, strict.figures()["motorbike"].precision) == (1, 0.5)


def test_classes_without_labels_or_detections() -> None:
    ev = Evaluation(["bus", 7])
    ev.add([], [], [A], [0.5], [7])
    bus, truck = ev.figures()["bus"], ev.figures()[7]
    assert (bus.n_gt, bus.recall, bus.precision, bus.ap50, bus.recall_at_precision) == (0, None, None, None, None)
    assert (truck.fp, truck.recall, truck.precision, truck.ap50) == (1, None, 0.0, None)


@pytest.mark.parametrize(
    "bad",
    [
        dict(gt_xyxy=[A], gt_class=[], det_xyxy=[], det_score=[], det_class=[]),
        dict(gt_xyxy=[], gt_class=[], det_xyxy=[A], det_score=[0.5, 0.4], det_class=["car"]),
        dict(gt_xyxy=[], gt_class=[], det_xyxy=[A], det_score=[0.5], det_class=["car"], dont_care=[True, False]),
    ],
)
def test_mismatched_lengths_are_refused(bad: dict) -> None:
    ev = Evaluation(["car"])
    with pytest.raises(ValueError):
        ev.add(**bad)
    assert ev.images == 0


def test_bad_iou_threshold() -> None:
    with pytest.raises(ValueError):
        Evaluation(["car"], iou_threshold=0.0)


def test_docstring_examples() -> None:
    result = doctest.testmod(evaluation, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_perfect_detections_on_real_hcmc_labels() -> None:
    """The labels of the real HCMC camera images given back as detections score 1 everywhere."""
    from training.dataset import read_dataset

    ds = read_dataset(HCMC, fmt="voc", ignore_unknown=True)
    assert len(ds.samples) == 706
    ev = Evaluation(ds.classes)
    for s in ds.samples:
        names = np.asarray(ds.classes)[s.labels]
        ev.add(s.boxes, names, s.boxes, np.ones(len(s.boxes)), names)
    figures = ev.figures(confidence=0.5)
    assert set(figures) == {"motorbike", "car", "truck", "bus"}
    assert figures["motorbike"].n_gt > 5000
    for f in figures.values():
        assert f.n_gt > 100
        assert (f.recall, f.precision, f.ap50, f.recall_at_precision, f.fp, f.fn) == (1.0, 1.0, 1.0, 1.0, 0, 0)
