"""The Vietnamese PDF report of a confirmed violation (fpdf2, DejaVu fonts for diacritics).

The report names what a fine notice needs: the violation, plate, time (Vietnam time),
place, the device and calibration that measured it, the evidence hashes and their
verification, and the officer who decided. It is built from data the caller already
checked for scope; this module does no I/O besides reading the font files.

Example::

    pdf_bytes = render_report(ReportData(violation=v, images=[("overview", jpeg)], ...))
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from ioc.exceptions import ConfigError
from ioc.services.violations import Violation

FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"))
VN_TZ = timezone(timedelta(hours=7), "ICT")

VIOLATION_NAMES = {
    "traffic.red_light": "Không chấp hành hiệu lệnh của đèn tín hiệu giao thông (vượt đèn đỏ)",
    "traffic.wrong_way": "Đi ngược chiều của đường một chiều / đường có biển cấm đi ngược chiều",
    "traffic.illegal_stopping": "Dừng, đỗ xe không đúng quy định",
    "traffic.solid_line": "Đè, vượt vạch kẻ đường liền",
    "traffic.lane_violation": "Đi không đúng phần đường, làn đường quy định",
    "traffic.speeding": "Điều khiển xe chạy quá tốc độ quy định",
    "traffic.no_helmet": "Không đội mũ bảo hiểm khi điều khiển xe mô tô, xe gắn máy",
}
MEASUREMENT_NAMES = {
    "speed_kmh": "Tốc độ đo được (km/h)",
    "limit_kmh": "Tốc độ tối đa cho phép (km/h)",
    "signal": "Trạng thái đèn",
    "red_for_s": "Đèn đỏ đã bật (giây)",
    "dwell_s": "Thời gian dừng (giây)",
    "distance_m": "Quãng đường đo (m)",
}

SIGNAL_NAMES = {"red": "đỏ", "amber": "vàng", "yellow": "vàng", "green": "xanh"}


@dataclass
class ReportData:
    """Everything the report shows; `images` are (label, JPEG/PNG bytes)."""

    violation: Violation
    officer: str
    images: list[tuple[str, bytes]] = field(default_factory=list)
    evidence: list[dict[str, Any]] = field(default_factory=list)
    manifest_hash: str | None = None
    manifest_verified: bool | None = None
    manifest_problems: list[str] = field(default_factory=list)
    calibration_id: str | None = None
    measurements: dict[str, Any] = field(default_factory=dict)
    plate_colour: str | None = None
    # Camera name and place as the edge signed them (the manifest), when there is one.
    signed_camera_name: str | None = None
    signed_place: str | None = None
    generated_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


def _font_file(name: str) -> Path:
    for folder in FONT_DIRS:
        path = folder / name
        if path.is_file():
            return path
    raise ConfigError(f"font {name} not found in {', '.join(map(str, FONT_DIRS))}: install Debian's fonts-dejavu-core")


def vn_time(ts: datetime | None) -> str:
    """dd/mm/yyyy HH:MM:SS in Vietnam time (UTC+7, no daylight saving)."""
    if ts is None:
        return "—"
    return ts.astimezone(VN_TZ).strftime("%d/%m/%Y %H:%M:%S") + " (giờ Việt Nam)"


@functools.cache
def _report_class() -> type:
    # fpdf imports Pillow and numpy: load them when a report is rendered, not in every hub
    # process (the hub imports no media library, issue 13).
    from fpdf import FPDF

    class _Report(FPDF):
        def __init__(self) -> None:
            super().__init__(orientation="P", unit="mm", format="A4")
            self.add_font("DejaVu", "", str(_font_file("DejaVuSans.ttf")))
            self.add_font("DejaVu", "B", str(_font_file("DejaVuSans-Bold.ttf")))
            self.set_auto_page_break(auto=True, margin=15)
            self.set_margins(15, 15, 15)

        def footer(self) -> None:
            self.set_y(-12)
            self.set_font("DejaVu", "", 8)
            self.cell(0, 6, f"Trang {self.page_no()}/{{nb}} — Trung tâm Điều hành Thông minh (IOC)", align="C")

        def row(self, label: str, value: str, *, size: float = 10) -> None:
            self.set_font("DejaVu", "B", 10)
            self.cell(55, 6.5, label)
            self.set_font("DejaVu", "", size)
            self.multi_cell(0, 6.5, value or "—", new_x="LMARGIN", new_y="NEXT")

        def heading(self, text: str) -> None:
            self.ln(2)
            self.set_font("DejaVu", "B", 12)
            self.set_fill_color(230, 236, 245)
            self.cell(0, 8, text, fill=True, new_x="LMARGIN", new_y="NEXT")
            self.ln(1)

    return _Report


def render_report(data: ReportData) -> bytes:
    """The PDF bytes of one violation report."""
    v = data.violation
    pdf = _report_class()()
    pdf.alias_nb_pages()
    pdf.set_title(f"Vi phạm {v.plate or ''} {v.event_id}")
    pdf.set_author("IOC")
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 11)
    pdf.cell(0, 6, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 10)
    pdf.cell(0, 6, "Độc lập - Tự do - Hạnh phúc", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("DejaVu", "B", 15)
    pdf.multi_cell(0, 8, "BIÊN BẢN GHI NHẬN VI PHẠM GIAO THÔNG\nQUA THIẾT BỊ GHI HÌNH", align="C",
                   new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 9)
    pdf.cell(0, 6, f"Mã hồ sơ: {v.event_id}", align="C", new_x="LMARGIN", new_y="NEXT")

    pdf.heading("1. Hành vi vi phạm")
    pdf.row("Hành vi:", VIOLATION_NAMES.get(v.type, v.type))
    pdf.row("Thời gian vi phạm:", vn_time(v.detected_at))
    place = ", ".join(dict.fromkeys(x for x in (data.signed_camera_name or v.camera_name, data.signed_place,
                                                  v.unit_name) if x))
    if v.lat is not None and v.lon is not None:
        place += f" (tọa độ {v.lat:.6f}, {v.lon:.6f})"
    pdf.row("Địa điểm:", place or v.camera)
    for key, value in data.measurements.items():
        if value is not None:
            pdf.row(MEASUREMENT_NAMES.get(key, key) + ":", SIGNAL_NAMES.get(str(value), str(value)) if key == "signal" else str(value))

    pdf.heading("2. Phương tiện")
    pdf.row("Biển kiểm soát:", v.plate or "chưa xác định")
    if data.plate_colour:
        pdf.row("Màu biển:", {"white": "trắng", "yellow": "vàng", "blue": "xanh", "red": "đỏ"}.get(
            data.plate_colour, data.plate_colour))
    reading = v.plate_read or "không đọc được"
    if v.plate_confidence is not None and v.plate_read:
        reading += f" (độ tin cậy {v.plate_confidence:.0%})"
    pdf.row("Camera đọc được:", reading)
    if v.plate_edited_by:
        pdf.row("Biển số được sửa bởi:", f"{v.plate_edited_by} lúc {vn_time(v.plate_edited_at)}")

    pdf.heading("3. Thiết bị ghi nhận")
    pdf.row("Camera:", f"{data.signed_camera_name or v.camera_name or ''} (mã {v.camera})".strip())
    pdf.row("Thiết bị biên:", v.edge)
    pdf.row("Mã hiệu chuẩn:", data.calibration_id or "không áp dụng")

    pdf.heading("4. Chứng cứ")
    if data.manifest_hash:
        status = {True: "hợp lệ (chữ ký, chuỗi và mã băm đã kiểm tra)", False: "KHÔNG HỢP LỆ",
                  None: "chưa kiểm tra"}[data.manifest_verified]
        pdf.row("Bản kê (SHA-256):", data.manifest_hash, size=7.5)
        pdf.row("Kiểm tra:", status + (": " + ", ".join(data.manifest_problems) if data.manifest_problems else ""))
    for item in data.evidence:
        pdf.row(f"Tệp {item.get('kind')} (SHA-256):", str(item.get("sha256")), size=7.5)

    pdf.heading("5. Kết quả xem xét")
    decision = {"confirmed": "XÁC NHẬN VI PHẠM", "rejected": "KHÔNG XÁC NHẬN", "proposed": "ĐANG XEM XÉT"}[v.state]
    pdf.row("Quyết định:", decision)
    pdf.row("Cán bộ xem xét:", v.decided_by or data.officer)
    pdf.row("Thời điểm quyết định:", vn_time(v.decided_at))
    if v.reason:
        pdf.row("Ghi chú / lý do:", v.reason)
    pdf.row("Thời hạn xác minh chủ xe:", vn_time(v.deadline))
    pdf.row("Xuất báo cáo:", f"{data.officer}, {vn_time(data.generated_at)}")

    for label, blob in data.images:
        # An image never starts in the bottom third: it would be split from its heading.
        if pdf.get_y() > 190:
            pdf.add_page()
        pdf.heading({"overview": "Ảnh toàn cảnh", "plate": "Ảnh cận cảnh biển số",
                     "vehicle": "Ảnh cận cảnh phương tiện"}.get(label, label))
        width = 180 if label == "overview" else 110
        pdf.image(io.BytesIO(blob), w=width)
    return bytes(pdf.output())
