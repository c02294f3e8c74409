"""Vietnamese licence-plate grammar: formats, look-alike correction, province and series checks.

Formats (the canonical text this project stores and shows)::

    one-row car, 5 digits          51F-123.45      (since 2012)
    one-row car, 4 digits          29A-1234        (older plates)
    one-row car, special series    51LD-123.45     (LD, KT, NG, QT, NN, CV, DA, MK)
    two-row car / truck            51C / 123.45  -> 51C-123.45
    two-row motorbike              59-X1 / 123.45 -> 59-X1 123.45   (also 4 digits: 59-X1 1234)
    two-row moped (<= 50 cc)       29-AA / 123.45 -> 29-AA 123.45

Rules: the first two digits are a province code (`contract.plates.provinces`);
series letters never use I, J, O, Q or W (too close to 1, 0 and V); a two-letter
car series must be one of the special series; the serial number is not all zeros.

OCR output is corrected *by position*: where the format wants a digit the
recogniser's best digit is taken (its own probabilities first, then a table of
look-alikes O→0, I→1, B→8, D→0, S→5, Z→2, G→6 ...), and the other way round
where it wants a letter. Every candidate is validated, so a wrong province code
falls through to the next most likely reading instead of being reported.

Example::

    >>> parse_plate("59-X1 123.45").province.current
    'Thành phố Hồ Chí Minh'
    >>> merge_rows("59-X1", "123.45")
    '59-X1 123.45'
    >>> normalise("5lF-l23.4S")
    '51F-123.45'
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from contract.exceptions import PlateFormatError
from contract.plates.provinces import Province, province_for

Layout = Literal["one_row", "two_row"]
Vehicle = Literal["car", "motorbike"]
CharChoices = Sequence[tuple[str, float]]
"""The recogniser's alternatives for one character, best first: ``[("8", 0.9), ("B", 0.08)]``."""

DIGITS = "0123456789"
SEPARATORS = "-."
UNUSED_LETTERS = "IJOQW"
SERIES_LETTERS = "".join(c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in UNUSED_LETTERS)

SPECIAL_SERIES: dict[str, str] = {
    "LD": "doanh nghiệp có vốn nước ngoài, xe thuê của nước ngoài (foreign-invested enterprises, leased foreign vehicles)",
    "KT": "doanh nghiệp quân đội làm kinh tế (economic enterprises of the army)",
    "NG": "xe của cơ quan đại diện ngoại giao (diplomatic missions)",
    "QT": "xe của tổ chức quốc tế (international organisations)",
    "NN": "xe của tổ chức, cá nhân nước ngoài (foreign organisations and residents)",
    "CV": "xe của nhân viên hành chính kỹ thuật cơ quan ngoại giao (technical staff of missions)",
    "DA": "xe của ban quản lý dự án nước ngoài (foreign-funded projects)",
    "MK": "máy kéo (tractors)",
}

SPECIAL_LETTERS = "".join(sorted(set("".join(SPECIAL_SERIES))))

# Position-based look-alikes: (replacement, weight). The recogniser's probability for a
# character of the wrong class counts towards its look-alike times the weight: strong
# pairs (same shape in plate lettering) nearly fully, weak pairs a little. STRONG was measured on
# bench.plates: 0.85 read one more plate of 300 than 0.7, with no misread in either.
STRONG = 0.85
TO_DIGIT: dict[str, tuple[str, float]] = {
    "O": ("0", STRONG), "D": ("0", STRONG), "Q": ("0", 0.5), "U": ("0", 0.3), "C": ("0", 0.3),
    "I": ("1", STRONG), "L": ("1", 0.5), "J": ("1", 0.3), "T": ("1", 0.4),
    "Z": ("2", STRONG), "S": ("5", STRONG), "B": ("8", STRONG), "G": ("6", STRONG), "A": ("4", 0.4),
    "E": ("8", 0.3), "Y": ("7", 0.3),
}
TO_LETTER: dict[str, tuple[str, float]] = {
    "0": ("D", STRONG), "1": ("T", 0.4), "2": ("Z", STRONG), "4": ("A", 0.4), "5": ("S", STRONG),
    "6": ("G", STRONG), "7": ("T", 0.3), "8": ("B", STRONG), "3": ("B", 0.3),
    # letters never used in a series, read where a series letter belongs
    "O": ("D", STRONG), "Q": ("D", 0.5), "W": ("V", 0.5), "I": ("T", 0.3), "J": ("U", 0.3),
}
BORDER_LOOKALIKES = "1IL"
EDGE_DELETION_PRIOR = 0.7
"""Score kept at least when a first or last '1', 'I' or 'L' of a row is dropped: the plate's border
stroke. Any other dropped character keeps 1 - its probability, so a confident character stays."""


@dataclass(frozen=True)
class Template:
    """One plate format: the character classes per printed row and the canonical mask.

    ``rows`` use ``D`` (digit), ``L`` (series letter) and ``S`` (letter of a special
    two-letter series); ``mask`` writes the characters in order into ``#`` slots.
    """

    name: str
    layout: Layout
    vehicle: Vehicle
    rows: tuple[str, ...]
    mask: str
    series_slice: slice

    @property
    def length(self) -> int:
        return sum(len(r) for r in self.rows)

    def format(self, chars: str) -> str:
        it = iter(chars)
        return "".join(next(it) if m == "#" else m for m in self.mask)


TEMPLATES: tuple[Template, ...] = (
    Template("car5", "one_row", "car", ("DDLDDDDD",), "###-###.##", slice(2, 3)),
    Template("car4", "one_row", "car", ("DDLDDDD",), "###-####", slice(2, 3)),
    Template("car_special5", "one_row", "car", ("DDSSDDDDD",), "####-###.##", slice(2, 4)),
    Template("car_special4", "one_row", "car", ("DDSSDDDD",), "####-####", slice(2, 4)),
    Template("car_two_row5", "two_row", "car", ("DDL", "DDDDD"), "###-###.##", slice(2, 3)),
    Template("car_two_row4", "two_row", "car", ("DDL", "DDDD"), "###-####", slice(2, 3)),
    Template("moto5", "two_row", "motorbike", ("DDLD", "DDDDD"), "##-## ###.##", slice(2, 4)),
    Template("moto4", "two_row", "motorbike", ("DDLD", "DDDD"), "##-## ####", slice(2, 4)),
    Template("moped5", "two_row", "motorbike", ("DDLL", "DDDDD"), "##-## ###.##", slice(2, 4)),
    Template("moped4", "two_row", "motorbike", ("DDLL", "DDDD"), "##-## ####", slice(2, 4)),
)
_BY_NAME = {t.name: t for t in TEMPLATES}


@dataclass(frozen=True)
class PlateText:
    """A valid plate, parsed.

    Example::

        >>> p = parse_plate("51LD-123.45")
        >>> (p.text, p.series, p.number, p.province.code, p.template)
        ('51LD-123.45', 'LD', '12345', '51', 'car_special5')
    """

    text: str
    template: str
    layout: Layout
    vehicle: Vehicle
    province: Province
    series: str
    number: str
    special: str | None


def _clean(text: str) -> str:
    return re.sub(r"[^0-9A-Z]", "", text.upper())


def _violation(template: Template, chars: str) -> str | None:
    """Why ``chars`` (classes already right) is not a valid plate of ``template``; None when valid."""
    if province_for(chars[:2]) is None:
        return f"province code {chars[:2]} is not assigned"
    series = chars[template.series_slice]
    classes = "".join(template.rows)[template.series_slice]
    for ch, cls in zip(series, classes):
        if cls == "L" and ch not in SERIES_LETTERS:
            return f"series letter {ch} is not used on plates"
        if cls == "D" and ch == "0":
            return "series digit 0 is not used"
    if "S" in classes and series not in SPECIAL_SERIES:
        return f"two-letter car series {series} is not a special series"
    if set(chars[template.series_slice.stop :]) == {"0"}:
        return "serial number 0000 is not issued"
    return None


def _fits(template: Template, chars: str) -> bool:
    classes = "".join(template.rows)
    if len(chars) != len(classes):
        return False
    return all(ch in DIGITS if cls == "D" else ch.isalpha() for ch, cls in zip(chars, classes))


def _build(template: Template, chars: str) -> PlateText:
    province = province_for(chars[:2])
    assert province is not None
    series = chars[template.series_slice]
    number = chars[template.series_slice.stop :]
    return PlateText(
        text=template.format(chars),
        template=template.name,
        layout=template.layout,
        vehicle=template.vehicle,
        province=province,
        series=series,
        number=number,
        special=SPECIAL_SERIES.get(series),
    )


def _separators_match(template: Template, text: str) -> bool:
    """Separators written in ``text`` (``-``, ``.``, space) must sit where the mask puts them."""
    mask_seps = set()
    pos = 0
    for m in template.mask:
        if m == "#":
            pos += 1
        else:
            mask_seps.add(pos)
    # two-row car plates are often written "51C 123.45" or "51C/123.45": a break after the top row is fine
    mask_seps.add(len(template.rows[0]))
    pos = 0
    for ch in text.strip():
        if ch.isalnum():
            pos += 1
        elif pos not in mask_seps:
            return False
    return True


def parse_plate(text: str) -> PlateText:
    """Parse a plate written with or without separators; raise `PlateFormatError` saying why not.

    Look-alike characters are *not* corrected here (see `normalise`): ``"5lF-123.45"`` is refused.
    """
    if not isinstance(text, str) or not text.strip():
        raise PlateFormatError("empty plate text")
    chars = _clean(text)
    if re.search(r"[^0-9A-Za-z\s.\-/]", text):
        raise PlateFormatError(f"{text!r}: only letters, digits, '-', '.', '/' and spaces belong on a plate")
    reasons = []
    for template in TEMPLATES:
        if not _fits(template, chars) or not _separators_match(template, text):
            continue
        why = _violation(template, chars)
        if why is None:
            return _build(template, chars)
        reasons.append(why)
    if reasons:
        raise PlateFormatError(f"{text!r}: {reasons[0]}")
    raise PlateFormatError(f"{text!r} matches no Vietnamese plate format (e.g. 51F-123.45, 59-X1 123.45)")


def is_valid_plate(text: str) -> bool:
    """True when `parse_plate` accepts ``text``."""
    try:
        parse_plate(text)
    except PlateFormatError:
        return False
    return True


def merge_rows(top: str, bottom: str) -> str:
    """Join the two printed rows of a plate into its canonical text: ("59-X1", "123.45") -> "59-X1 123.45"."""
    best = correct_rows([_certain(top), _certain(bottom)], lookalikes=False)
    if not best:
        raise PlateFormatError(f"rows {top!r} / {bottom!r} do not form a Vietnamese plate")
    return best[0][0].text


def _certain(row: str) -> list[list[tuple[str, float]]]:
    return [[(c, 1.0)] for c in re.sub(r"[^0-9A-Z.\-]", "", row.upper())]


def normalise(text: str) -> str:
    """Fix look-alike characters by position and return the canonical plate; raise if impossible.

    Rows may be separated by a newline or ``/``; a single string is also tried as a two-row plate.
    """
    rows = [r for r in re.split(r"[\n/|]+", text) if _clean(r)]
    if not rows:
        raise PlateFormatError("empty plate text")
    best = correct_rows([_certain(r) for r in rows], top_k=10)
    if not best:
        raise PlateFormatError(f"{text!r} cannot be read as a Vietnamese plate, even fixing look-alikes")
    # separators the writer put in ("51F-..." vs "51-F...") break ties between formats of equal length
    ranked = sorted(best, key=lambda ps: -ps[1] * (1.0 if _separators_match(_BY_NAME[ps[0].template], text) else 0.1))
    return ranked[0][0].text


def _position_choices(choices: CharChoices, cls: str, lookalikes: bool) -> list[tuple[str, float]]:
    """Alternatives of the wanted class at one position, best first (at most 3)."""
    want_digit = cls == "D"
    allowed = DIGITS if want_digit else SPECIAL_LETTERS if cls == "S" else SERIES_LETTERS
    table = TO_DIGIT if want_digit else TO_LETTER
    out: dict[str, float] = {}
    for ch, p in choices:
        if ch in allowed:
            out[ch] = out.get(ch, 0.0) + p
        elif lookalikes and ch in table:
            mapped, weight = table[ch]
            if mapped in allowed:
                out[mapped] = out.get(mapped, 0.0) + p * weight
    return sorted(((c, min(1.0, p)) for c, p in out.items()), key=lambda kv: -kv[1])[:3]


def _kbest(template: Template, flat: list[CharChoices], lookalikes: bool, k: int, prior: float) -> list[tuple[PlateText, float]]:
    classes = "".join(template.rows)
    options = [_position_choices(ch, cls, lookalikes) for ch, cls in zip(flat, classes)]
    if any(not o for o in options):
        return []
    # lazy k-best over independent positions: pop the best combination, push its one-step successors
    def score(idx: tuple[int, ...]) -> float:
        s = prior
        for o, i in zip(options, idx):
            s *= o[i][1]
        return s

    start = (0,) * len(options)
    heap = [(-score(start), start)]
    seen = {start}
    found: list[tuple[PlateText, float]] = []
    pops = 0
    while heap and len(found) < k and pops < 256:
        neg, idx = heapq.heappop(heap)
        pops += 1
        chars = "".join(o[i][0] for o, i in zip(options, idx))
        if _violation(template, chars) is None:
            found.append((_build(template, chars), -neg))
        for pos in range(len(idx)):
            if idx[pos] + 1 < len(options[pos]):
                nxt = idx[:pos] + (idx[pos] + 1,) + idx[pos + 1 :]
                if nxt not in seen:
                    seen.add(nxt)
                    heapq.heappush(heap, (-score(nxt), nxt))
    return found


def _edge_deletions(row: list[CharChoices]) -> list[tuple[list[CharChoices], float]]:
    """The row without its first or without its last character (a border or bolt read as text).

    Only the ends: dropping a character inside a row would turn an unreadable
    5-digit number into a valid-looking 4-digit one.
    """
    out: list[tuple[list[CharChoices], float]] = []
    for i in {0, len(row) - 1}:
        ch = row[i]
        prior = max(1.0 - (ch[0][1] if ch else 0.0), 0.0)
        if ch and ch[0][0] in BORDER_LOOKALIKES:
            prior = max(prior, EDGE_DELETION_PRIOR)
        out.append((row[:i] + row[i + 1 :], prior))
    return out


def correct_rows(
    rows: Sequence[Sequence[CharChoices]],
    *,
    top_k: int = 5,
    lookalikes: bool = True,
    allow_deletion: bool = False,
    layout: Layout | None = None,
) -> list[tuple[PlateText, float]]:
    """Grammar-constrained correction: the ``top_k`` valid plates for the recognised rows, best first.

    ``rows`` holds, per printed row, per character, the recogniser's alternatives;
    separators (``-``, ``.``) may be included: they are dropped, and a read ``.``
    counts against the formats without one (``29A-1234``) by its probability.
    The score of a plate is the product of its characters' probabilities (look-alike
    substitutions and deleted characters are penalised), so it reads as a confidence.
    Without ``layout``, one row is also tried as a two-row plate split at each
    template's row length; with it, only formats of that layout are tried.
    """
    # separators are structure, not characters; a confident '.' rules out the dot-less 4-digit formats,
    # which a 5-digit plate with one digit lost by the recogniser would otherwise fit
    dot = max((c[0][1] for r in rows for c in r if c and c[0][0] == "."), default=0.0)
    rows = [kept for r in rows if (kept := [c for c in r if c and c[0][0] not in SEPARATORS])]
    if not rows or len(rows) > 2:
        return []
    results = _correct_variants([(rows, 1.0)], top_k, lookalikes, layout, dot)
    if not results and allow_deletion:
        # a repair, never a competitor: only rows that fit no format as read lose an end character
        variants = []
        for i in range(len(rows)):
            for smaller, prior in _edge_deletions(rows[i]):
                variants.append(([*rows[:i], smaller, *rows[i + 1 :]], prior))
        results = _correct_variants(variants, top_k, lookalikes, layout, dot)
    return sorted(results.values(), key=lambda ps: -ps[1])[:top_k]


def _correct_variants(
    variants: list[tuple[list[list[CharChoices]], float]],
    top_k: int,
    lookalikes: bool,
    layout: Layout | None,
    dot: float,
) -> dict[str, tuple[PlateText, float]]:
    results: dict[str, tuple[PlateText, float]] = {}
    for variant, prior in variants:
        if prior <= 0.0:
            continue
        lengths = tuple(len(r) for r in variant)
        flat = [c for r in variant for c in r]
        for template in TEMPLATES:
            if layout is not None and template.layout != layout:
                continue
            if len(variant) == 1:
                if len(flat) != template.length:
                    continue
            elif lengths != tuple(len(r) for r in template.rows):
                continue
            fits_dot = prior if "." in template.mask else prior * (1.0 - dot)
            if fits_dot <= 0.0:
                continue
            for plate, s in _kbest(template, flat, lookalikes, top_k, fits_dot):
                if s > results.get(plate.text, (None, -1.0))[1]:
                    results[plate.text] = (plate, s)
    return results
