"""The Detections record: validation, selection, merge, supervision round trip."""

from __future__ import annotations

import numpy as np
import pytest
import supervision as sv

from analytics.detections import Detections
from analytics.exceptions import DetectionsError


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"xyxy": [[0, 0, 10]]}, "shape"),
        ({"xyxy": [[0, 0, 10, 10]], "confidence": [0.5, 0.6]}, "confidence has 2 values for 1 boxes"),
        ({"xyxy": [[0, 0, 10, 10]], "class_id": [1, 2]}, "class_id"),
        ({"xyxy": [[10, 0, 5, 10]]}, "x2 >= x1"),
        ({"xyxy": [[0, 0, np.nan, 10]]}, "NaN"),
        ({"xyxy": [[0, 0, 10, 10]], "data": {"plate": ["a", "b"]}}, "data['plate']"),
        ({"xyxy": [["a", 0, 10, 10]]}, "cannot be read"),
    ],
)
def test_bad_records_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(DetectionsError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Detections(**kwargs)


def test_defaults_dtypes_and_selection() -> None:
    d = Detections(xyxy=[[0, 0, 10, 20], [5, 5, 7, 9]], confidence=[0.9, 0.2], class_id=[3, 0], data={"k": ["a", "b"]})
    assert d.xyxy.dtype == np.float32 and d.class_id.dtype == np.int64 and d.tracker_id.tolist() == [-1, -1]
    assert d.class_names == ["motorbike", "pedestrian"]
    sel = d[d.confidence > 0.5]
    assert len(sel) == 1 and sel.data["k"].tolist() == ["a"] and sel.class_names == ["motorbike"]
    assert d[1].anchors("center").tolist() == [[6.0, 7.0]]
    assert d.area.tolist() == [200.0, 8.0]
    assert len(Detections.empty()) == 0 and Detections.empty().xyxy.shape == (0, 4)
    with pytest.raises(DetectionsError, match="anchor"):
        d.anchors("top")


def test_merge_and_supervision_round_trip() -> None:
    a = Detections(xyxy=[[0, 0, 1, 1]], class_id=[2], tracker_id=[4])
    b = Detections(xyxy=[[2, 2, 3, 3]], class_id=[7])
    m = Detections.merge([a, Detections.empty(), b])
    assert m.class_id.tolist() == [2, 7] and m.tracker_id.tolist() == [4, -1]
    with pytest.raises(DetectionsError, match="data keys"):
        Detections.merge([a, Detections(xyxy=[[0, 0, 1, 1]], data={"x": [1]})])

    s = m.to_supervision()
    assert isinstance(s, sv.Detections) and s.tracker_id.tolist() == [4, -1]
    back = Detections.from_supervision(s)
    assert np.array_equal(back.xyxy, m.xyxy) and back.class_id.tolist() == [2, 7]
    bare = Detections.from_supervision(sv.Detections(xyxy=np.array([[0, 0, 4, 4]], dtype=np.float32)))
    assert bare.confidence.tolist() == [1.0] and bare.tracker_id.tolist() == [-1]
