"""Vietnamese plate grammar: formats, look-alikes by position, provinces, candidates."""

from __future__ import annotations

import pytest

from analytics.plates.exceptions import PlateFormatError
from contract.plates.grammar import SPECIAL_SERIES, STRONG, correct_rows, is_valid_plate, merge_rows, normalise, parse_plate
from contract.plates.provinces import CURRENT_PROVINCES, PROVINCES, codes_of, province_for


@pytest.mark.parametrize(
    ("text", "canonical", "template", "vehicle", "series", "current"),
    [
        ("51F-123.45", "51F-123.45", "car5", "car", "F", "Thành phố Hồ Chí Minh"),
        ("30A-123.45", "30A-123.45", "car5", "car", "A", "Hà Nội"),
        ("29A-1234", "29A-1234", "car4", "car", "A", "Hà Nội"),
        ("51F12345", "51F-123.45", "car5", "car", "F", "Thành phố Hồ Chí Minh"),
        ("51ld-123.45", "51LD-123.45", "car_special5", "car", "LD", "Thành phố Hồ Chí Minh"),
        ("80NG-123.45", "80NG-123.45", "car_special5", "car", "NG", "Cơ quan Trung ương"),
        ("41QT-001.23", "41QT-001.23", "car_special5", "car", "QT", "Thành phố Hồ Chí Minh"),
        ("59-X1 123.45", "59-X1 123.45", "moto5", "motorbike", "X1", "Thành phố Hồ Chí Minh"),
        ("29-B1 123.45", "29-B1 123.45", "moto5", "motorbike", "B1", "Hà Nội"),
        ("59-X1 1234", "59-X1 1234", "moto4", "motorbike", "X1", "Thành phố Hồ Chí Minh"),
        ("29-AA 123.45", "29-AA 123.45", "moped5", "motorbike", "AA", "Hà Nội"),
        ("59-X1/123.45", "59-X1 123.45", "moto5", "motorbike", "X1", "Thành phố Hồ Chí Minh"),
        ("65A-543.21", "65A-543.21", "car5", "car", "A", "Cần Thơ"),
        ("83C-111.11", "83C-111.11", "car5", "car", "C", "Cần Thơ"),
        ("92A-222.22", "92A-222.22", "car5", "car", "A", "Đà Nẵng"),
    ],
)
def test_valid_plates(text: str, canonical: str, template: str, vehicle: str, series: str, current: str) -> None:
    plate = parse_plate(text)
    assert (plate.text, plate.template, plate.vehicle, plate.series, plate.province.current) == (
        canonical,
        template,
        vehicle,
        series,
        current,
    )
    assert is_valid_plate(text)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("13A-123.45", "province code 13"),  # 13 was never assigned
        ("42A-123.45", "province code 42"),
        ("51W-123.45", "series letter W"),
        ("51I-123.45", "series letter I"),
        ("51O-123.45", "series letter O"),
        ("51J-123.45", "series letter J"),
        ("51Q-123.45", "series letter Q"),
        ("51F-000.00", "serial number"),
        ("59-X0 123.45", "series digit 0"),
        ("5lF-123.45", "matches no"),  # look-alikes are normalise()'s job, not parse_plate's
        ("51F-123.456", "matches no"),
        ("51-F123.45", "matches no"),  # separators in the wrong place
        ("HELLO", "matches no"),
        ("51F_123.45", "only letters"),
        ("", "empty"),
    ],
)
def test_invalid_plates(text: str, reason: str) -> None:
    with pytest.raises(PlateFormatError, match=reason):
        parse_plate(text)
    assert not is_valid_plate(text)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("5lF-l23.4S", "51F-123.45"),  # l -> 1 and S -> 5 where digits belong
        ("3OA-123.45", "30A-123.45"),  # O -> 0 in the province code
        ("51F-I23.45", "51F-123.45"),
        ("5IF-1Z3.45", "51F-123.45"),  # Z -> 2
        ("51F-123.4B", "51F-123.48"),  # B -> 8
        ("51F-G23.45", "51F-623.45"),  # G -> 6
        ("51F-D23.45", "51F-023.45"),  # D -> 0
        ("518-123.45", "51B-123.45"),  # 8 -> B where the series letter belongs
        ("510-123.45", "51D-123.45"),  # 0 -> D (O is never a series letter)
        ("515-123.45", "51S-123.45"),
        ("59-XI 123.45", "59-X1 123.45"),  # I -> 1 as the series digit of a motorbike
        ("59-X1\n123.45", "59-X1 123.45"),
        ("59X112345", "59-X1 123.45"),
        ("29A1234", "29A-1234"),
    ],
)
def test_normalise_by_position(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


@pytest.mark.parametrize("raw", ["13A-123.45", "ABC", "51F-000.00", "1234567890123"])
def test_normalise_refuses_non_plates(raw: str) -> None:
    with pytest.raises(PlateFormatError):
        normalise(raw)


@pytest.mark.parametrize(
    ("top", "bottom", "merged"),
    [
        ("59-X1", "123.45", "59-X1 123.45"),
        ("29-B1", "123.45", "29-B1 123.45"),
        ("29B1", "12345", "29-B1 123.45"),
        ("29-AA", "1234", "29-AA 1234"),
        ("51C", "123.45", "51C-123.45"),  # two-row truck plate
    ],
)
def test_merge_rows(top: str, bottom: str, merged: str) -> None:
    assert merge_rows(top, bottom) == merged


@pytest.mark.parametrize(("top", "bottom"), [("59-X1", "12"), ("13-X1", "123.45"), ("123.45", "59-X1")])
def test_merge_rows_refuses(top: str, bottom: str) -> None:
    with pytest.raises(PlateFormatError):
        merge_rows(top, bottom)


@pytest.mark.parametrize(
    ("code", "former", "current"),
    [
        ("29", "Hà Nội", "Hà Nội"),
        ("33", "Hà Tây", "Hà Nội"),
        ("61", "Bình Dương", "Thành phố Hồ Chí Minh"),
        ("72", "Bà Rịa - Vũng Tàu", "Thành phố Hồ Chí Minh"),
        ("34", "Hải Dương", "Hải Phòng"),
        ("92", "Quảng Nam", "Đà Nẵng"),
        ("83", "Sóc Trăng", "Cần Thơ"),
        ("95", "Hậu Giang", "Cần Thơ"),
        ("98", "Bắc Giang", "Bắc Ninh"),
        ("23", "Hà Giang", "Tuyên Quang"),
        ("77", "Bình Định", "Gia Lai"),
        ("86", "Bình Thuận", "Lâm Đồng"),
        ("75", "Thừa Thiên Huế", "Huế"),
        ("11", "Cao Bằng", "Cao Bằng"),
    ],
)
def test_province_mapping(code: str, former: str, current: str) -> None:
    province = province_for(code)
    assert province is not None and (province.former, province.current) == (former, current)


@pytest.mark.parametrize("code", ["10", "13", "42", "44", "45", "46", "87", "91", "96", "00", "100"])
def test_unassigned_codes(code: str) -> None:
    assert province_for(code) is None


def test_codes_map_many_to_one_onto_34_provinces() -> None:
    assert len(CURRENT_PROVINCES) == 34
    assert set(codes_of("Thành phố Hồ Chí Minh")) == {"41", *(str(c) for c in range(50, 60)), "61", "72"}
    assert set(codes_of("Hà Nội")) == {"29", "30", "31", "32", "33", "40"}
    assert all(11 <= int(code) <= 99 for code in PROVINCES)


def test_correct_rows_uses_model_probabilities_by_position() -> None:
    # the recogniser hesitates between 8 and B at the series position: the grammar wants a letter
    rows = [[[("5", 0.99)], [("1", 0.98)], [("8", 0.6), ("B", 0.39)]] + [[(d, 0.97)] for d in "12345"]]
    best = correct_rows(rows)
    assert best[0][0].text == "51B-123.45"
    # B scores its own 0.39 plus 8's 0.6 at the strong look-alike weight
    assert best[0][1] == pytest.approx(0.99 * 0.98 * (0.39 + 0.6 * STRONG) * 0.97**5, rel=1e-3)
    assert [s for _p, s in best] == sorted((s for _p, s in best), reverse=True)


def test_correct_rows_falls_through_invalid_province() -> None:
    # "13" is not a code: the second-best digit makes it 18 (Nam Định, now Ninh Bình)
    rows = [[[("1", 0.99)], [("3", 0.7), ("8", 0.3)], [("A", 0.99)]] + [[(d, 0.99)] for d in "12345"]]
    best = correct_rows(rows, layout="one_row")
    assert best[0][0].text == "18A-123.45" and best[0][0].province.current == "Ninh Bình"


def test_correct_rows_drops_a_spurious_border_character_only_when_allowed() -> None:
    row = [[("1", 0.6)]] + [[(c, 0.99)] for c in "51F12345"]
    assert correct_rows([row], layout="one_row") == []
    best = correct_rows([row], layout="one_row", allow_deletion=True)
    assert best[0][0].text == "51F-123.45"


def test_special_series_are_documented() -> None:
    assert {"LD", "KT", "NG", "QT", "NN"} <= set(SPECIAL_SERIES)
    assert parse_plate("51KT-123.45").special == SPECIAL_SERIES["KT"]


def test_a_read_dot_rules_out_the_four_digit_formats() -> None:
    # "60Y-504.10" with the final 1 lost by the recogniser must not become the valid "60Y-5040"
    lost_digit = [[(c, 0.99)] for c in "60Y-504.0"]
    assert all(score < 0.05 for _plate, score in correct_rows([lost_digit], layout="one_row"))
    no_dot = [[(c, 0.99)] for c in "60Y-5040"]
    assert correct_rows([no_dot], layout="one_row")[0][0].text == "60Y-5040"
