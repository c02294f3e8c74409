"""Human words on the pages (issue 10): the English column speaks English, no input
placeholder looks like a reading, and the scripts' new keys exist."""

from __future__ import annotations

import re

import pytest

from web import STATIC_DIR, TEMPLATES_DIR
from web.i18n import _STRINGS, t

VIETNAMESE = re.compile("[ăâđêôơưàáảãạèéẻẽẹìíỉĩịòóỏõọùúủũụỳýỷỹỵ]", re.I)
# A Vietnamese plate as people write it: 51F-123.45, 59-X1 123.45, 30A12345.
PLATE = re.compile(r"\b\d{2}-?[A-Z]{1,2}\d?[- ]?\d{3}\.?\d{2}\b")


def test_english_column_has_no_vietnamese() -> None:
    leaks = {key: en for key, (_, en) in _STRINGS.items() if VIETNAMESE.search(en)}
    assert not leaks


@pytest.mark.parametrize("template", sorted(p.name for p in TEMPLATES_DIR.glob("*.html")))
def test_no_placeholder_looks_like_a_plate_reading(template: str) -> None:
    text = (TEMPLATES_DIR / template).read_text(encoding="utf-8")
    for placeholder in re.findall(r'placeholder="([^"]*)"', text):
        assert not PLATE.search(placeholder), (template, placeholder)


def test_kpi_units_that_feeds_send_in_vietnamese_are_translated() -> None:
    script = (STATIC_DIR / "js" / "common.js").read_text(encoding="utf-8")
    keys = dict(re.findall(r'"([^"]+)": "(uom\.[a-z_]+)"', script))
    assert {"hồ sơ", "phản ánh"} <= set(keys)
    for key in keys.values():
        assert not VIETNAMESE.search(t(key, "en"))


def test_card_facts_have_labels_in_both_languages() -> None:
    script = (STATIC_DIR / "js" / "common.js").read_text(encoding="utf-8")
    used = set(re.findall(r't\("(fact\.[a-z_]+)"', script)) | {f"fact.{k}" for k in ("zone", "line", "lane")}
    for key in used:
        vi, en = _STRINGS[key]
        assert vi and en and not VIETNAMESE.search(en), key


def test_every_shipped_outline_is_found_from_a_unit_name() -> None:
    from ioc.api.pages import OUTLINES_FILE, _outlines, province_key

    outlines = _outlines()
    assert len(outlines) == 34
    assert OUTLINES_FILE.stat().st_size < 300_000
    notice = (OUTLINES_FILE.parent / "NOTICE").read_text(encoding="utf-8")
    assert "Copyright (c) 2025 Talia Cao" in notice and "MIT" in notice
    for key, outline in outlines.items():
        prefix = "Thành phố " if key in {"ha noi", "ho chi minh", "hai phong", "da nang", "can tho", "hue"} else "Tỉnh "
        assert province_key(prefix + outline["name"]) == key
        x0, y0, x1, y1 = outline["bbox"]
        # Hoàng Sa (Đà Nẵng) and Trường Sa (Khánh Hòa) reach east of 112°E.
        assert 102 < x0 < x1 < 118 and 6 < y0 < y1 < 24, key
    # Spelling variants of the same name meet.
    assert province_key("Tỉnh Khánh Hòa") == province_key("Khánh Hoà") == "khanh hoa"
    assert province_key("TP. Hồ Chí Minh") == "ho chi minh"
