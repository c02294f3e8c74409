"""The UI string catalogue: complete in both languages, safe to embed, used consistently."""

from __future__ import annotations

import json
import re
import string

import pytest

from web import STATIC_DIR, TEMPLATES_DIR
from web.i18n import DEFAULT_LANG, catalog, catalog_json, keys, normalize_lang, pick_lang, script_json, t

_FMT = string.Formatter()


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in _FMT.parse(text) if name}


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_every_key_has_text_in_both_languages(lang: str) -> None:
    cat = catalog(lang)
    assert sorted(cat) == keys()
    assert all(value.strip() for value in cat.values()), [k for k, v in cat.items() if not v.strip()]


def test_placeholders_match_between_languages() -> None:
    vi, en = catalog("vi"), catalog("en")
    assert {k: _placeholders(vi[k]) for k in keys()} == {k: _placeholders(en[k]) for k in keys()}


def test_vietnamese_is_really_vietnamese() -> None:
    # Guard against a copy-paste of English into the Vietnamese column.
    same = [k for k in keys() if catalog("vi")[k] == catalog("en")[k] and not k.startswith(("app.short", "camera.detector.yolox"))]
    assert len(same) < 6, same
    assert t("wall.feed") == "Sự kiện trực tiếp"


@pytest.mark.parametrize(
    ("query", "cookie", "expected"),
    [
        (None, None, "vi"),
        ("en", None, "en"),
        ("EN", None, "en"),
        ("en-US", "vi", "en"),
        (None, "en", "en"),
        ("vi", "en", "vi"),
        ("fr", "en", "en"),
        ("fr", None, "vi"),
        ("", "", "vi"),
        ("<script>", "../../etc", "vi"),
    ],
)
def test_pick_lang(query: str | None, cookie: str | None, expected: str) -> None:
    assert pick_lang(query, cookie) == expected


@pytest.mark.parametrize(("value", "expected"), [("vi_VN", "vi"), (" en ", "en"), ("english", None), (None, None)])
def test_normalize_lang(value: str | None, expected: str | None) -> None:
    assert normalize_lang(value) == expected


@pytest.mark.parametrize(
    ("key", "lang", "params", "expected"),
    [
        ("wall.title", "vi", {"n": 3}, "Màn hình 3"),
        ("wall.title", "en", {"n": 3}, "Display 3"),
        ("wall.title", "de", {"n": 3}, "Màn hình 3"),
        ("camera.fps", "en", {"fps": "12.5"}, "12.5 fps"),
        ("nav.logout", DEFAULT_LANG, {}, "Đăng xuất"),
    ],
)
def test_t(key: str, lang: str, params: dict[str, object], expected: str) -> None:
    assert t(key, lang, **params) == expected


def test_unknown_key_is_an_error() -> None:
    with pytest.raises(KeyError):
        t("no.such.key", "vi")


def test_script_json_cannot_close_the_script_element() -> None:
    text = script_json({"a": "</script><script>alert(1)</script>", "b": "<!--", "c": "x & y"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"a": "</script><script>alert(1)</script>", "b": "<!--", "c": "x & y"}
    assert json.loads(catalog_json("en")) == catalog("en")


def _used_keys() -> set[tuple[str, str]]:
    """(file, key) for every literal key the templates and scripts translate."""
    used: set[tuple[str, str]] = set()
    patterns = [re.compile(r"""_\(\s*["']([a-z0-9_.]+)["']"""), re.compile(r"""\bt\(\s*["']([a-z0-9_.]+)["']""")]
    files = list(TEMPLATES_DIR.rglob("*.html")) + list((STATIC_DIR / "js").glob("*.js"))
    assert files
    for path in files:
        text = path.read_text(encoding="utf-8")
        for pattern in patterns:
            used.update((path.name, key) for key in pattern.findall(text))
    return used


def test_templates_and_scripts_use_only_known_keys() -> None:
    used = _used_keys()
    assert len(used) > 40
    known = set(keys())
    # "severity." + sev style lookups name a prefix: some key must start with it.
    missing = sorted(
        (f, k) for f, k in used if (k not in known if not k.endswith(".") else not any(x.startswith(k) for x in known))
    )
    assert not missing


def test_scripts_never_write_html_from_strings() -> None:
    # The XSS rule of the pages: data reaches the DOM through textContent only.
    for path in (STATIC_DIR / "js").glob("*.js"):
        code = path.read_text(encoding="utf-8")
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
            assert sink not in code, f"{path.name} uses {sink}"
