"""Vietnamese licence-plate grammar: formats, look-alike correction, province and series checks.

Formats (the canonical text this project stores and shows)::

    one-row car, 5 digits          51F-123.45      (since 2012)
    one-row car, 4 digits          29A-1234        (older plates)
    one-row car, special series    51LD-123.45     (LD, KT, NG, QT, NN, CV, DA, MK, TĐ, HC)
    two-row car / truck            51C / 123.45  -> 51C-123.45
    two-row motorbike              59-X1 / 123.45 -> 59-X1 123.45   (also 4 digits: 59-X1 1234)
    two-row moped (<= 50 cc)       29-AA / 123.45 -> 29-AA 123.45   (weighed by MOPED_PRIOR: rarer)
    two-row electric motorbike     29-MĐ1 / 123.45 -> 29-MĐ1 123.45 (also 4 digits)

Rules: the first two digits are a province code (`contract.plates.provinces`);
series letters never use I, J, O, Q or W (too close to 1, 0 and V); a two-letter
car series must be one of the special series; the serial number is not all zeros.
Separators read inside a row where a format has none count against it (`_Row.misplaced`).

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
    # Circular 79/2024/TT-BCA (in force since 1 January 2025) keeps the series of Circular 58/2020 and adds:
    "MĐ": "xe máy điện (electric motorbikes and mopeds): 29-MĐ1 123.45",
    "TĐ": "xe cơ giới sản xuất, lắp ráp trong nước được phép thí điểm (domestic vehicles under a pilot scheme)",
    "HC": "xe cơ giới hoạt động trong phạm vi hạn chế (vehicles restricted to an area)",
    "LD": "doanh nghiệp có vốn nước ngoài, xe thuê của nước ngoài (foreign-invested enterprises, leased foreign vehicles)",
    "KT": "doanh nghiệp quân đội làm kinh tế (economic enterprises of the army)",
    "NG": "xe của cơ quan đại diện ngoại giao (diplomatic missions)",
    "QT": "xe của tổ chức quốc tế (international organisations)",
    "NN": "xe của tổ chức, cá nhân nước ngoài (foreign organisations and residents)",
    "CV": "xe của nhân viên hành chính kỹ thuật cơ quan ngoại giao (technical staff of missions)",
    "DA": "xe của ban quản lý dự án nước ngoài (foreign-funded projects)",
    "MK": "máy kéo (tractors)",
}

ELECTRIC_SERIES = ("MĐ",)
CAR_SPECIAL_SERIES = tuple(k for k in SPECIAL_SERIES if k not in ELECTRIC_SERIES)
_ASCII = str.maketrans({"Đ": "D", "đ": "d"})
"""The recogniser has no Đ: special series are matched in ASCII (MD) and written with Đ (MĐ)."""
SPECIAL_BY_ASCII = {k.translate(_ASCII): k for k in SPECIAL_SERIES}
SPECIAL_LETTERS = "".join(sorted(set("".join(SPECIAL_BY_ASCII))))

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
    "O": ("D", STRONG), "Q": ("D", 0.5), "W": ("M", 0.5), "I": ("T", 0.3), "J": ("U", 0.3),
}
"""A "W" (never a series letter) is mostly the plate font's splayed "M" (59-M1 read 59-W1 on real plates)."""
TO_SPECIAL: dict[str, tuple[str, float]] = {"B": ("D", 0.5), "8": ("D", 0.4), "H": ("M", 0.3)}
"""Extra look-alikes where a special series letter belongs: the Đ of MĐ (its bar makes it a B or an 8)."""
FONT_CONFUSIONS: tuple[tuple[str, str], ...] = (("7", "1"),)
"""(read, meant): the plate typeface makes the recogniser read ``meant`` as ``read``. Where ``read``
wins with ``meant`` among its alternatives, it keeps only its margin over ``meant`` (never below it).

The plate font's "1" carries a long flag at its top, which the recogniser (trained on print) reads
as "7" with "1" second (0.66 / 0.32 and 0.81 / 0.15 on real "1"s), while a real "7" can come out
0.56 / 0.44: no reweighting tells those apart, so a "7" with a "1" behind it must not be confident.
A confident "7" (the "1" under a few per cent) keeps its score, and so does a "1" that wins: on the
real crops a winning "1" with a "7" behind it (0.71 / 0.26, 0.63 / 0.36) was always a "1". A doubtful
"7" falls under the threshold (unread on one frame; a track's frames settle it,
`analytics.plates.reader.combine_readings`)."""
BORDER_LOOKALIKES = "1IL"
EDGE_DELETION_PRIOR = 0.7
"""Score kept at least when a first or last '1', 'I' or 'L' of a row is dropped: the plate's border
stroke. Any other dropped character keeps 1 - its probability of being a plate character (a mark the
recogniser calls a non-plate symbol is dropped almost for free), so a confident character stays."""
MOPED_PRIOR = 0.7
"""Weight of the two-letter moped series (29-AA 123.45) against the letter-digit series (29-A1):
mopeds up to 50 cc are a small share of two-wheelers, and a letter read where the series digit
belongs (2/Z, 4/A, 1/L) must not tip a common plate into the rare format."""


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
    prior: float = 1.0
    specials: tuple[str, ...] = ()

    @property
    def length(self) -> int:
        return sum(len(r) for r in self.rows)

    def format(self, chars: str) -> str:
        it = iter(chars)
        return "".join(next(it) if m == "#" else m for m in self.mask)

    def row_separators(self) -> tuple[frozenset[int], ...]:
        """Per row, where a separator may stand inside it (counted in characters before it)."""
        out, pos, start = [], 0, 0
        seps = set()
        for m in self.mask:
            if m == "#":
                pos += 1
            else:
                seps.add(pos)
        for row in self.rows:
            out.append(frozenset(p - start for p in seps if start < p < start + len(row)))
            start += len(row)
        return tuple(out)

    def separators(self) -> frozenset[int]:
        """Where a separator may stand in the characters of the whole plate, row break included."""
        pos, seps = 0, {len(self.rows[0])}
        for m in self.mask:
            if m == "#":
                pos += 1
            else:
                seps.add(pos)
        return frozenset(seps)


TEMPLATES: tuple[Template, ...] = (
    Template("car5", "one_row", "car", ("DDLDDDDD",), "###-###.##", slice(2, 3)),
    Template("car4", "one_row", "car", ("DDLDDDD",), "###-####", slice(2, 3)),
    Template("car_special5", "one_row", "car", ("DDSSDDDDD",), "####-###.##", slice(2, 4), specials=CAR_SPECIAL_SERIES),
    Template("car_special4", "one_row", "car", ("DDSSDDDD",), "####-####", slice(2, 4), specials=CAR_SPECIAL_SERIES),
    Template("car_two_row5", "two_row", "car", ("DDL", "DDDDD"), "###-###.##", slice(2, 3)),
    Template("car_two_row4", "two_row", "car", ("DDL", "DDDD"), "###-####", slice(2, 3)),
    Template("moto5", "two_row", "motorbike", ("DDLD", "DDDDD"), "##-## ###.##", slice(2, 4)),
    Template("moto4", "two_row", "motorbike", ("DDLD", "DDDD"), "##-## ####", slice(2, 4)),
    Template("moped5", "two_row", "motorbike", ("DDLL", "DDDDD"), "##-## ###.##", slice(2, 4), prior=MOPED_PRIOR),
    Template("moped4", "two_row", "motorbike", ("DDLL", "DDDD"), "##-## ####", slice(2, 4), prior=MOPED_PRIOR),
    Template("electric5", "two_row", "motorbike", ("DDSSD", "DDDDD"), "##-### ###.##", slice(2, 5), specials=ELECTRIC_SERIES),
    Template("electric4", "two_row", "motorbike", ("DDSSD", "DDDD"), "##-### ####", slice(2, 5), specials=ELECTRIC_SERIES),
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
    return re.sub(r"[^0-9A-Z]", "", text.upper().translate(_ASCII))


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
    if "S" in classes:
        letters = "".join(ch for ch, cls in zip(series, classes) if cls == "S")
        if SPECIAL_BY_ASCII.get(letters) not in template.specials:
            return f"series {letters} is not a special series of this format"
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
    classes = "".join(template.rows)
    letters = "".join(ch for ch, cls in zip(chars, classes) if cls == "S")
    if letters:  # written as the circular writes it: MD -> MĐ
        written = iter(SPECIAL_BY_ASCII[letters])
        chars = "".join(next(written) if cls == "S" else ch for ch, cls in zip(chars, classes))
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
        special=SPECIAL_SERIES.get(SPECIAL_BY_ASCII.get(letters, "")) if letters else SPECIAL_SERIES.get(series),
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
    if re.search(r"[^0-9A-Za-zĐđ\s.\-/]", text):
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
    return [[(c, 1.0)] for c in re.sub(r"[^0-9A-Z.\-]", "", row.upper().translate(_ASCII))]


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
    table = TO_DIGIT if want_digit else {**TO_LETTER, **TO_SPECIAL} if cls == "S" else TO_LETTER
    out: dict[str, float] = {}
    for ch, p in choices:
        if ch in allowed:
            out[ch] = out.get(ch, 0.0) + p
        elif lookalikes and ch in table:
            mapped, weight = table[ch]
            if mapped in allowed:
                out[mapped] = out.get(mapped, 0.0) + p * weight
    if lookalikes and want_digit:
        for read, meant in FONT_CONFUSIONS:
            pr, pm = out.get(read, 0.0), out.get(meant, 0.0)
            if pm > 0.0 and pr > pm:
                out[read] = max(pm, pr - pm)
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


def _plate_mass(ch: CharChoices) -> float:
    """Probability that a recognised character is a plate character at all (not a mark or a symbol)."""
    return min(1.0, sum(p for c, p in ch if c in DIGITS or c in SERIES_LETTERS or c in UNUSED_LETTERS))


@dataclass(frozen=True)
class _Row:
    """A recognised row without its separators; ``seps`` are (characters before it, probability)."""

    chars: tuple[CharChoices, ...]
    seps: tuple[tuple[int, float], ...]

    @classmethod
    def of(cls, row: Sequence[CharChoices]) -> _Row:
        chars: list[CharChoices] = []
        seps: list[tuple[int, float]] = []
        for c in row:
            if not c:
                continue
            if c[0][0] in SEPARATORS:
                seps.append((len(chars), sum(p for s, p in c if s in SEPARATORS)))
            else:
                chars.append(c)
        return cls(tuple(chars), tuple(seps))

    def without(self, i: int) -> _Row:
        """The row with character ``i`` dropped (only the first or the last)."""
        shift = 1 if i == 0 else 0
        return _Row(self.chars[:i] + self.chars[i + 1 :], tuple((p - shift, q) for p, q in self.seps))

    def misplaced(self, allowed: frozenset[int]) -> float:
        """The factor for separators read inside the row where the format has none: 1 - their probability.

        A "." before the last two digits rules out the dot-less 4-digit formats (a 5-digit number that
        lost one digit would fit them), and a "-" after the province code rules out the two-row car
        format (a motorbike top row "59-H1" that lost its last character would fit it as "59H"); a
        dash read as "." where the format has a dash costs nothing, and neither does a mark at a row's end.
        """
        f = 1.0
        for pos, p in self.seps:
            if 0 < pos < len(self.chars) and pos not in allowed:
                f *= max(0.0, 1.0 - p)
        return f


def _edge_deletions(row: _Row) -> list[tuple[_Row, float]]:
    """The row without its first or without its last character (a border or bolt read as text).

    Only the ends: dropping a character inside a row would turn an unreadable
    5-digit number into a valid-looking 4-digit one. The cost is the character's probability of
    being a plate character (a '1', 'I' or 'L' at a border keeps at least `EDGE_DELETION_PRIOR`).
    """
    out: list[tuple[_Row, float]] = []
    if len(row.chars) < 2:
        return out
    for i in sorted({0, len(row.chars) - 1}):
        ch = row.chars[i]
        prior = max(1.0 - _plate_mass(ch), 0.0)
        if ch[0][0] in BORDER_LOOKALIKES:
            prior = max(prior, EDGE_DELETION_PRIOR)
        out.append((row.without(i), prior))
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
    separators (``-``, ``.``) may be included: they are structure, not characters, and one read
    inside a row where a format has none counts against that format by its probability
    (`_Row.misplaced`). The score of a plate is its format's prior times the product of its
    characters' probabilities (look-alike substitutions and deleted characters are penalised),
    so it reads as a confidence. Without ``layout``, one row is also tried as a two-row plate
    split at each template's row length; with it, only formats of that layout are tried.
    """
    parsed = [r for r in (_Row.of(r) for r in rows) if r.chars]
    if not parsed or len(parsed) > 2:
        return []
    results = _correct_variants([(parsed, 1.0)], top_k, lookalikes, layout)
    if not results and allow_deletion:
        # a repair, never a competitor: only rows that fit no format as read lose an end character
        variants = []
        for i in range(len(parsed)):
            for smaller, prior in _edge_deletions(parsed[i]):
                variants.append(([*parsed[:i], smaller, *parsed[i + 1 :]], prior))
        results = _correct_variants(variants, top_k, lookalikes, layout)
    return sorted(results.values(), key=lambda ps: -ps[1])[:top_k]


def _correct_variants(
    variants: list[tuple[list[_Row], float]],
    top_k: int,
    lookalikes: bool,
    layout: Layout | None,
) -> dict[str, tuple[PlateText, float]]:
    results: dict[str, tuple[PlateText, float]] = {}
    for variant, prior in variants:
        if prior <= 0.0:
            continue
        lengths = tuple(len(r.chars) for r in variant)
        flat = [c for r in variant for c in r.chars]
        for template in TEMPLATES:
            if layout is not None and template.layout != layout:
                continue
            if len(variant) == 1:
                if len(flat) != template.length:
                    continue
                fit = variant[0].misplaced(template.separators())
            elif lengths != tuple(len(r) for r in template.rows):
                continue
            else:
                fit = 1.0
                for row, allowed in zip(variant, template.row_separators()):
                    fit *= row.misplaced(allowed)
            score = prior * template.prior * fit
            if score <= 0.0:
                continue
            for plate, s in _kbest(template, flat, lookalikes, top_k, score):
                if s > results.get(plate.text, (None, -1.0))[1]:
                    results[plate.text] = (plate, s)
    return results
