"""Province codes on Vietnamese licence plates (11–99), many codes to one province.

Sources: the code list of Circular 58/2020/TT-BCA (appendix 02, registration
codes of provinces and cities), as amended by Circular 24/2023/TT-BCA (which
added code 39 for Đồng Nai); and Resolution 202/2025/QH15 on the arrangement of
provincial units (63 → 34 provinces and cities from 12 June / 1 July 2025).
After the mergers vehicles keep their plates and every code of a former
province is used by the merged province, so a code maps to the province as it
was when the code was assigned (``former``) and to the province that holds it
now (``current``).

Codes 13, 42, 44, 45, 46, 87, 91 and 96 are not assigned to any province.
Code 80 belongs to the central agencies (vehicles of ministries and embassies
registered by the Traffic Police Department), not to a province.
"""

from __future__ import annotations

from dataclasses import dataclass

CENTRAL = "Cơ quan Trung ương"


@dataclass(frozen=True)
class Province:
    """Where a plate code was issued.

    Example::

        >>> province_for("61")
        Province(code='61', former='Bình Dương', current='Thành phố Hồ Chí Minh')
    """

    code: str
    former: str
    current: str


HCM = "Thành phố Hồ Chí Minh"
HN = "Hà Nội"

# code -> (province when the code was assigned, province holding it after the 2025 mergers)
_TABLE: dict[int, tuple[str, str]] = {
    11: ("Cao Bằng", "Cao Bằng"),
    12: ("Lạng Sơn", "Lạng Sơn"),
    14: ("Quảng Ninh", "Quảng Ninh"),
    15: ("Hải Phòng", "Hải Phòng"),
    16: ("Hải Phòng", "Hải Phòng"),
    17: ("Thái Bình", "Hưng Yên"),
    18: ("Nam Định", "Ninh Bình"),
    19: ("Phú Thọ", "Phú Thọ"),
    20: ("Thái Nguyên", "Thái Nguyên"),
    21: ("Yên Bái", "Lào Cai"),
    22: ("Tuyên Quang", "Tuyên Quang"),
    23: ("Hà Giang", "Tuyên Quang"),
    24: ("Lào Cai", "Lào Cai"),
    25: ("Lai Châu", "Lai Châu"),
    26: ("Sơn La", "Sơn La"),
    27: ("Điện Biên", "Điện Biên"),
    28: ("Hòa Bình", "Phú Thọ"),
    29: (HN, HN),
    30: (HN, HN),
    31: (HN, HN),
    32: (HN, HN),
    33: ("Hà Tây", HN),  # Hà Tây joined Hà Nội in 2008; its code stayed with Hà Nội
    34: ("Hải Dương", "Hải Phòng"),
    35: ("Ninh Bình", "Ninh Bình"),
    36: ("Thanh Hóa", "Thanh Hóa"),
    37: ("Nghệ An", "Nghệ An"),
    38: ("Hà Tĩnh", "Hà Tĩnh"),
    39: ("Đồng Nai", "Đồng Nai"),
    40: (HN, HN),
    41: (HCM, HCM),
    43: ("Đà Nẵng", "Đà Nẵng"),
    47: ("Đắk Lắk", "Đắk Lắk"),
    48: ("Đắk Nông", "Lâm Đồng"),
    49: ("Lâm Đồng", "Lâm Đồng"),
    **{code: (HCM, HCM) for code in range(50, 60)},
    60: ("Đồng Nai", "Đồng Nai"),
    61: ("Bình Dương", HCM),
    62: ("Long An", "Tây Ninh"),
    63: ("Tiền Giang", "Đồng Tháp"),
    64: ("Vĩnh Long", "Vĩnh Long"),
    65: ("Cần Thơ", "Cần Thơ"),
    66: ("Đồng Tháp", "Đồng Tháp"),
    67: ("An Giang", "An Giang"),
    68: ("Kiên Giang", "An Giang"),
    69: ("Cà Mau", "Cà Mau"),
    70: ("Tây Ninh", "Tây Ninh"),
    71: ("Bến Tre", "Vĩnh Long"),
    72: ("Bà Rịa - Vũng Tàu", HCM),
    73: ("Quảng Bình", "Quảng Trị"),
    74: ("Quảng Trị", "Quảng Trị"),
    75: ("Thừa Thiên Huế", "Huế"),
    76: ("Quảng Ngãi", "Quảng Ngãi"),
    77: ("Bình Định", "Gia Lai"),
    78: ("Phú Yên", "Đắk Lắk"),
    79: ("Khánh Hòa", "Khánh Hòa"),
    80: (CENTRAL, CENTRAL),
    81: ("Gia Lai", "Gia Lai"),
    82: ("Kon Tum", "Quảng Ngãi"),
    83: ("Sóc Trăng", "Cần Thơ"),
    84: ("Trà Vinh", "Vĩnh Long"),
    85: ("Ninh Thuận", "Khánh Hòa"),
    86: ("Bình Thuận", "Lâm Đồng"),
    88: ("Vĩnh Phúc", "Phú Thọ"),
    89: ("Hưng Yên", "Hưng Yên"),
    90: ("Hà Nam", "Ninh Bình"),
    92: ("Quảng Nam", "Đà Nẵng"),
    93: ("Bình Phước", "Đồng Nai"),
    94: ("Bạc Liêu", "Cà Mau"),
    95: ("Hậu Giang", "Cần Thơ"),
    97: ("Bắc Kạn", "Thái Nguyên"),
    98: ("Bắc Giang", "Bắc Ninh"),
    99: ("Bắc Ninh", "Bắc Ninh"),
}

PROVINCES: dict[str, Province] = {
    f"{code:02d}": Province(f"{code:02d}", former, current) for code, (former, current) in sorted(_TABLE.items())
}
"""Every assigned code (two digits, as printed) -> `Province`."""

CURRENT_PROVINCES: frozenset[str] = frozenset(p.current for p in PROVINCES.values() if p.current != CENTRAL)
"""The 34 provinces and cities that hold plate codes after the 2025 mergers."""


def province_for(code: str) -> Province | None:
    """The province of a two-digit plate code, or None when the code is not assigned."""
    return PROVINCES.get(code)


def codes_of(current: str) -> list[str]:
    """Every plate code held by a province after the 2025 mergers, e.g. ``codes_of("Cần Thơ")``."""
    return [p.code for p in PROVINCES.values() if p.current == current]
