"""User-interface strings in Vietnamese (default) and English.

The pages render their static text on the server with `t(key, lang)` and hand the
same catalogue to their scripts as JSON (`catalog_json(lang)`), so one table feeds
both. The language is picked from `?lang=` first, then the `ioc_lang` cookie, then
Vietnamese; `pick_lang` does that and never fails on odd input.

Example::

    >>> t("wall.feed", "vi")
    'Sự kiện trực tiếp'
    >>> t("wall.feed", "en")
    'Live events'
    >>> pick_lang(query="en", cookie=None)
    'en'
"""

from __future__ import annotations

import json
from typing import Final, Literal

Lang = Literal["vi", "en"]
LANGS: Final[tuple[Lang, ...]] = ("vi", "en")
DEFAULT_LANG: Final[Lang] = "vi"
COOKIE_NAME: Final[str] = "ioc_lang"

# key -> (Vietnamese, English). Keys are dotted by page; `type.*` and `severity.*`
# label event types and severities, `kpi.*` label well-known KPI series.
_STRINGS: Final[dict[str, tuple[str, str]]] = {
    # shared chrome
    "app.name": ("Trung tâm Điều hành Thông minh", "Intelligent Operations Centre"),
    "app.short": ("IOC", "IOC"),
    "nav.wall": ("Màn hình tường", "Video wall"),
    "nav.console": ("Bàn điều hành", "Operator console"),
    "nav.logout": ("Đăng xuất", "Log out"),
    "nav.lang": ("Ngôn ngữ", "Language"),
    "role.admin": ("Quản trị", "Administrator"),
    "role.operator": ("Điều hành viên", "Operator"),
    "role.police": ("Cảnh sát giao thông", "Traffic police"),
    "role.official": ("Cán bộ", "Official"),
    "role.viewer": ("Người xem", "Viewer"),
    "conn.live": ("Trực tuyến", "Live"),
    "conn.connecting": ("Đang kết nối…", "Connecting…"),
    "conn.offline": ("Mất kết nối — thử lại sau {s} giây", "Disconnected — retrying in {s} s"),
    "conn.lagged": ("Đồng bộ lại dữ liệu…", "Resynchronising…"),
    "common.loading": ("Đang tải…", "Loading…"),
    "common.none": ("Không có dữ liệu", "No data"),
    "common.error": ("Lỗi: {msg}", "Error: {msg}"),
    "common.unavailable": ("Chưa có dữ liệu từ máy chủ", "Not available from the server"),
    "common.sound_on": ("Bật âm thanh cảnh báo", "Enable alert sound"),
    "common.sound_enabled": ("Âm thanh: bật", "Sound: on"),
    # login
    "login.title": ("Đăng nhập", "Sign in"),
    "login.username": ("Tên đăng nhập", "Username"),
    "login.password": ("Mật khẩu", "Password"),
    "login.submit": ("Đăng nhập", "Sign in"),
    "login.busy": ("Đang đăng nhập…", "Signing in…"),
    "login.failed": ("Sai tên đăng nhập hoặc mật khẩu", "Wrong username or password"),
    "login.rate_limited": ("Quá nhiều lần thử, vui lòng đợi", "Too many attempts, please wait"),
    "login.error": ("Không đăng nhập được ({status})", "Could not sign in ({status})"),
    "login.subtitle": ("Hệ thống giám sát và điều hành tập trung", "Central monitoring and operations system"),
    # wall
    "wall.title": ("Màn hình {n}", "Display {n}"),
    "wall.feed": ("Sự kiện trực tiếp", "Live events"),
    "wall.counters": ("Sự kiện hôm nay", "Events today"),
    "wall.total": ("Tổng", "Total"),
    "wall.cameras": ("Camera", "Cameras"),
    "wall.cameras_summary": ("{on}/{all} trực tuyến", "{on}/{all} online"),
    "wall.kpi": ("Chỉ số điều hành", "Key indicators"),
    "wall.violations": ("Vi phạm giao thông", "Traffic violations"),
    "wall.meetings": ("Cuộc họp đang diễn ra", "Meetings in progress"),
    "wall.no_events": ("Chưa có sự kiện", "No events yet"),
    "wall.no_cameras": ("Chưa có camera", "No cameras"),
    "wall.no_kpi": ("Chưa có chỉ số", "No indicators yet"),
    "wall.no_meetings": ("Không có cuộc họp", "No meetings"),
    "wall.participants": ("{n} điểm cầu", "{n} sites"),
    "wall.since": ("từ {when}", "since {when}"),
    "wall.acknowledged_by": ("Đã xử lý: {by}", "Acknowledged: {by}"),
    # camera tiles
    "camera.online": ("Trực tuyến", "Online"),
    "camera.offline": ("Mất tín hiệu", "Offline"),
    "camera.unknown": ("Chưa rõ", "Unknown"),
    "camera.disabled": ("Đã tắt", "Disabled"),
    "camera.note.disabled": ("Camera đã được tắt trong cấu hình", "Camera switched off in the site configuration"),
    "camera.note.offline": ("Không nhận được hình từ camera", "No picture from the camera"),
    "camera.note.connecting": ("Đang mở hình xem trực tiếp…", "Opening the live picture…"),
    "camera.note.no_preview": ("Máy biên chưa cung cấp hình xem trực tiếp; thử lại sau 1 phút",
                               "The edge offers no live picture yet; retrying in a minute"),
    "camera.note.unknown": ("Chưa có trạng thái từ máy biên", "No status from the edge yet"),
    "wall.map": ("Bản đồ", "Map"),
    "wall.repeats": ("×{n} trong {min} phút", "×{n} in {min} min"),
    "evidence.overview": ("ảnh toàn cảnh", "overview"),
    "evidence.plate": ("ảnh biển số", "plate crop"),
    "evidence.clip": ("đoạn video", "clip"),
    "evidence.file": ("tệp chứng cứ", "evidence file"),
    "fact.plate": ("Biển số", "Plate"),
    "fact.plate_unread": ("Chưa đọc được biển số", "Plate not read"),
    "fact.class": ("Phương tiện", "Vehicle"),
    "fact.speed": ("Tốc độ", "Speed"),
    "fact.limit": ("Giới hạn", "Limit"),
    "fact.zone": ("Khu vực", "Zone"),
    "fact.line": ("Vạch", "Line"),
    "fact.lane": ("Làn", "Lane"),
    "fact.count": ("Số lượng", "Count"),
    "fact.dwell": ("Thời gian dừng", "Dwell time"),
    "fact.details": ("Chi tiết kỹ thuật", "Technical details"),
    "fact.snapshot": ("Ảnh chụp sự kiện", "Event snapshot"),
    "alarm.ack": ("Xác nhận", "Acknowledge"),
    "alarm.assign": ("Giao xử lý", "Assign"),
    "alarm.assign_ok": ("Giao", "Assign"),
    "alarm.resolve": ("Đã xử lý xong", "Resolve"),
    "alarm.resolve_ok": ("Lưu", "Save"),
    "alarm.note": ("Ghi chú kết quả xử lý", "Resolution note"),
    "alarm.note_needed": ("Cần ghi chú kết quả xử lý", "A resolution note is needed"),
    "alarm.acked_by": ("Đã tiếp nhận: {by}", "Acknowledged: {by}"),
    "alarm.assigned_to": ("Giao cho: {who}", "Assigned to: {who}"),
    "alarm.resolved_by": ("Đã xử lý: {by}", "Resolved: {by}"),
    "alarm.failed": ("Không thực hiện được ({status})", "Could not do that ({status})"),
    "map.alarm": ("Có cảnh báo", "Alarm"),
    "map.no_outline": ("Chưa có ranh giới tỉnh", "No province outline"),
    "map.no_position": ("{n} camera chưa có toạ độ", "{n} camera(s) without a position"),
    "camera.last_seen": ("Lần cuối: {when}", "Last seen: {when}"),
    "camera.never": ("chưa từng", "never"),
    "camera.fps": ("{fps} khung/giây", "{fps} fps"),
    "camera.detector.yolox": ("AI: YOLOX", "AI: YOLOX"),
    "camera.detector.motion": ("Chỉ phát hiện chuyển động", "Motion detection only"),
    "violations.proposed": ("Chờ duyệt", "To review"),
    "violations.overdue": ("Quá hạn", "Overdue"),
    "violations.confirmed": ("Xác nhận", "Confirmed"),
    "violations.rejected": ("Bác bỏ", "Rejected"),
    # console
    "console.title": ("Bàn điều hành", "Operator console"),
    "console.search": ("Tìm kiếm sự kiện", "Search events"),
    "console.list": ("Danh sách sự kiện", "Events"),
    "console.type": ("Loại sự kiện (tiền tố)", "Event type (prefix)"),
    "console.type_any": ("Tất cả", "All"),
    "console.camera": ("Camera", "Camera"),
    "console.unit": ("Đơn vị hành chính", "Administrative unit"),
    "console.from": ("Từ", "From"),
    "console.to": ("Đến", "To"),
    "console.text": ("Biển số / nội dung", "Plate / text"),
    "console.text_hint": ("Một phần biển số hoặc nội dung", "Part of a plate, or any text"),
    "console.submit": ("Tìm", "Search"),
    "console.reset": ("Xoá lọc", "Clear"),
    "console.load_more": ("Tải thêm", "Load more"),
    "console.no_more": ("Hết kết quả", "No more results"),
    "console.results": ("{n} sự kiện", "{n} events"),
    "console.col.time": ("Thời gian", "Time"),
    "console.col.severity": ("Mức độ", "Severity"),
    "console.col.type": ("Loại", "Type"),
    "console.col.camera": ("Camera", "Camera"),
    "console.col.unit": ("Đơn vị", "Unit"),
    "console.col.details": ("Chi tiết", "Details"),
    "console.col.status": ("Trạng thái", "Status"),
    "console.ack": ("Xác nhận xử lý", "Acknowledge"),
    "console.acked": ("Đã xử lý bởi {by}", "Acknowledged by {by}"),
    "console.ack_failed": ("Không xác nhận được ({status})", "Could not acknowledge ({status})"),
    "console.new_live": ("Sự kiện mới", "New event"),
    "console.live_paused": ("Đang lọc: sự kiện mới chỉ hiện nếu khớp bộ lọc", "Filtered: new events appear only when they match"),
    # severities
    "severity.info": ("Thông tin", "Info"),
    "severity.warning": ("Cảnh báo", "Warning"),
    "severity.critical": ("Nghiêm trọng", "Critical"),
    # event types (families first; unknown types fall back to the family, then the raw type)
    "type.traffic": ("Giao thông", "Traffic"),
    "type.security": ("An ninh", "Security"),
    "type.count": ("Đếm lưu lượng", "Counting"),
    "type.camera": ("Camera", "Camera"),
    "type.system": ("Hệ thống", "System"),
    "type.traffic.wrong_way": ("Đi ngược chiều", "Wrong-way driving"),
    "type.traffic.red_light": ("Vượt đèn đỏ", "Red-light running"),
    "type.traffic.speeding": ("Chạy quá tốc độ", "Speeding"),
    "type.traffic.no_helmet": ("Không đội mũ bảo hiểm", "No helmet"),
    "type.traffic.illegal_parking": ("Đỗ xe trái phép", "Illegal parking"),
    "type.traffic.lane_violation": ("Đi sai làn", "Lane violation"),
    "type.traffic.sidewalk": ("Đi trên vỉa hè", "Riding on the sidewalk"),
    "type.traffic.congestion": ("Ùn tắc giao thông", "Congestion"),
    "type.traffic.accident": ("Tai nạn giao thông", "Traffic accident"),
    "type.security.intrusion": ("Xâm nhập khu vực cấm", "Intrusion"),
    "type.security.loitering": ("Lảng vảng", "Loitering"),
    "type.security.crowd": ("Tụ tập đông người", "Crowd gathering"),
    "type.security.fire": ("Cháy", "Fire"),
    "type.security.abandoned_object": ("Vật thể bị bỏ lại", "Abandoned object"),
    "type.count.line_crossing": ("Lượt qua vạch", "Line crossings"),
    "type.count.vehicles": ("Lưu lượng phương tiện", "Vehicle count"),
    "type.count.people": ("Lưu lượng người", "People count"),
    "type.camera.offline": ("Camera mất tín hiệu", "Camera offline"),
    "type.camera.online": ("Camera có tín hiệu trở lại", "Camera back online"),
    "type.camera.tampering": ("Camera bị che/xoay", "Camera tampering"),
    "type.camera.frozen": ("Hình camera bị đứng", "Camera picture frozen"),
    "type.camera.unfrozen": ("Hình camera chạy lại", "Camera picture moving again"),
    # road users (analytics.classes): what an event's payload "class" means
    "class.pedestrian": ("Người đi bộ", "Pedestrian"),
    "class.bicycle": ("Xe đạp", "Bicycle"),
    "class.motorbike": ("Xe máy", "Motorbike"),
    "class.car": ("Ô tô", "Car"),
    "class.bus": ("Xe buýt", "Bus"),
    "class.truck": ("Xe tải", "Truck"),
    "type.system.edge_offline": ("Máy biên mất kết nối", "Edge worker offline"),
    # well-known KPI series (other series show their own name); suggested names for
    # the systems that post them: dvc.* public services, feedback.* citizen feedback
    "kpi.dvc.on_time_rate": ("Hồ sơ TTHC đúng hạn", "Procedures on time"),
    "kpi.dvc.online_rate": ("Tỷ lệ hồ sơ trực tuyến", "Applications filed online"),
    "kpi.dvc.online_applications": ("Hồ sơ trực tuyến hôm nay", "Online applications today"),
    "kpi.feedback.received": ("Phản ánh tiếp nhận", "Citizen feedback received"),
    "kpi.feedback.open": ("Phản ánh chưa xử lý", "Open citizen feedback"),
    "kpi.air.aqi": ("Chất lượng không khí (AQI)", "Air quality (AQI)"),
    "kpi.updated": ("Cập nhật {when}", "Updated {when}"),
    # police review desk (ioc/api/review.py, review*.html, review*.js)
    "nav.review": ("Xử lý vi phạm", "Violation review"),
    "type.traffic.illegal_stopping": ("Dừng, đỗ xe sai quy định", "Illegal stopping"),
    "type.traffic.solid_line": ("Đè vạch liền", "Crossing a solid line"),
    "review.queue_title": ("Hàng đợi xử lý vi phạm", "Violation review queue"),
    "review.title": ("Xem xét vi phạm", "Review a violation"),
    "review.state": ("Trạng thái", "State"),
    "review.state.proposed": ("Chờ xử lý", "Awaiting review"),
    "review.state.confirmed": ("Đã xác nhận", "Confirmed"),
    "review.state.rejected": ("Đã bác bỏ", "Rejected"),
    "review.state.all": ("Tất cả", "All"),
    "review.any": ("Tất cả", "Any"),
    "review.deadline": ("Thời hạn", "Deadline"),
    "review.deadline.overdue": ("Quá hạn", "Overdue"),
    "review.deadline.warning": ("Sắp hết hạn", "Due soon"),
    "review.deadline.ok": ("Còn hạn", "In time"),
    "review.deadline.closed": ("Đã xử lý", "Closed"),
    "review.deadline.overdue_by": ("Quá hạn {d} ngày", "Overdue by {d} days"),
    "review.deadline.left": ("Còn {d} ngày", "{d} days left"),
    "review.plate_search": ("Tra cứu biển số (đã xác nhận)", "Plate search (confirmed)"),
    "review.search": ("Tra cứu", "Search"),
    "review.search_results": ("Kết quả cho biển số {plate}", "Results for plate {plate}"),
    "review.col.detected": ("Thời điểm phát hiện", "Detected"),
    "review.col.plate": ("Biển số", "Plate"),
    "review.unread": ("Chưa đọc được", "Unread"),
    "review.open": ("Xem", "Open"),
    "review.end": ("Đã hết danh sách", "End of list"),
    "review.back": ("← Hàng đợi", "← Queue"),
    "review.overview": ("Ảnh toàn cảnh", "Overview"),
    "review.closeup": ("Cận cảnh biển số", "Plate close-up"),
    "review.clip": ("Đoạn phim", "Clip"),
    "review.prev_frame": ("Lùi một khung hình", "Previous frame"),
    "review.next_frame": ("Tiến một khung hình", "Next frame"),
    "review.details": ("Thông tin", "Details"),
    "review.place": ("Địa điểm", "Place"),
    "review.measurements": ("Số đo", "Measurements"),
    "review.plate": ("Biển số", "Plate"),
    "review.camera_read": ("Camera đọc: {plate} (độ tin cậy {conf})", "Camera read: {plate} (confidence {conf})"),
    "review.edited_by": ("đã sửa bởi {who}", "edited by {who}"),
    "review.save_plate": ("Lưu biển số", "Save plate"),
    "review.plate_saved": ("Đã lưu biển số", "Plate saved"),
    "review.integrity": ("Tính toàn vẹn chứng cứ", "Evidence integrity"),
    "review.no_manifest": ("Không có bản kê chứng cứ có chữ ký", "No signed evidence manifest"),
    "review.verified": ("Hợp lệ: chữ ký, chuỗi và mã băm khớp ({hash}…)", "Verified: signature, chain and hashes match ({hash}…)"),
    "review.not_verified": ("KHÔNG HỢP LỆ: {problems}", "NOT VERIFIED: {problems}"),
    "review.decision": ("Quyết định", "Decision"),
    "review.reason": ("Lý do (bắt buộc khi bác bỏ)", "Reason (required to reject)"),
    "review.reason_required": ("Cần nhập lý do khi bác bỏ", "A rejection needs a reason"),
    "review.confirm": ("Xác nhận vi phạm", "Confirm violation"),
    "review.reject": ("Bác bỏ", "Reject"),
    "review.confirmed_ok": ("Đã xác nhận vi phạm", "Violation confirmed"),
    "review.rejected_ok": ("Đã bác bỏ", "Violation rejected"),
    "review.decided": ("{state} bởi {who} lúc {at}", "{state} by {who} at {at}"),
    "review.export": ("Xuất hồ sơ", "Export"),
    "review.plate_hint": ("Nhập biển số đọc được", "Type the plate you read"),
    "uom.applications": ("hồ sơ", "applications"),
    "uom.reports": ("phản ánh", "reports"),
    "uom.visits": ("lượt", "visits"),
    "uom.people": ("người", "people"),
    "review.export_pdf": ("Biên bản PDF", "PDF report"),
    "review.export_zip": ("Gói chứng cứ ZIP", "Evidence ZIP"),
    # page errors
    "error.forbidden": ("Bạn không có quyền xem trang này", "You may not view this page"),
}


def _check_catalogue() -> None:
    # A placeholder present in one language but not the other is a bug that would
    # only show up at run time in that language; fail at import instead.
    import string

    fmt = string.Formatter()
    for key, (vi, en) in _STRINGS.items():
        names_vi = {name for _, name, _, _ in fmt.parse(vi) if name}
        names_en = {name for _, name, _, _ in fmt.parse(en) if name}
        if names_vi != names_en:
            raise ValueError(f"i18n key {key!r}: placeholders differ between vi {names_vi} and en {names_en}")


_check_catalogue()


def keys() -> list[str]:
    """Every catalogue key, sorted (for tests and tooling)."""
    return sorted(_STRINGS)


def normalize_lang(value: str | None) -> Lang | None:
    """`"en"`, `"EN"`, `"en-US"` → `"en"`; anything unknown or empty → None."""
    if not value:
        return None
    head = value.strip().lower().replace("_", "-").split("-", 1)[0]
    for lang in LANGS:
        if head == lang:
            return lang
    return None


def pick_lang(query: str | None, cookie: str | None) -> Lang:
    """The page language: `?lang=` wins, then the cookie, then Vietnamese."""
    return normalize_lang(query) or normalize_lang(cookie) or DEFAULT_LANG


def t(key: str, lang: str = DEFAULT_LANG, **params: object) -> str:
    """The text of `key` in `lang`, with `{name}` placeholders filled from `params`.

    An unknown language falls back to Vietnamese. An unknown key raises KeyError,
    because a page showing a raw key is a bug that tests should catch.
    """
    vi, en = _STRINGS[key]
    text = en if normalize_lang(lang) == "en" else vi
    return text.format(**params) if params else text


def catalog(lang: str) -> dict[str, str]:
    """All strings of one language, for the pages' scripts."""
    index = 1 if normalize_lang(lang) == "en" else 0
    return {key: pair[index] for key, pair in _STRINGS.items()}


def script_json(value: object) -> str:
    """`value` as JSON that is safe inside a `<script type="application/json">` element.

    `<`, `>` and `&` become `\\u003c`-style escapes, so no string in the data can close
    the script element or open a comment, whatever it holds.
    """
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def catalog_json(lang: str) -> str:
    """`catalog(lang)` as script-safe JSON (see `script_json`)."""
    return script_json(catalog(lang))
