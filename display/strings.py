"""Every string the waiting-room display shows, in Vietnamese and English.

Look them up through :func:`catalogue` (a :class:`motcua.i18n.Catalogue`); widget
code never carries its own Vietnamese text.
"""

from __future__ import annotations

from motcua.i18n import Catalogue

VI: dict[str, str] = {
    "now_calling": "MỜI CÔNG DÂN CÓ SỐ",
    "to_counter": "ĐẾN QUẦY",
    "no_call_yet": "Chưa gọi số nào hôm nay",
    "recall": "GỌI LẠI",
    "recall_n": "GỌI LẠI lần {n}",
    "recall_short": "↻ Gọi lại",
    "counters": "CÁC QUẦY",
    "recent": "VỪA GỌI",
    "waiting": "ĐANG CHỜ",
    "col_counter": "Quầy",
    "col_ticket": "Số",
    "col_state": "Trạng thái",
    "col_officer": "Cán bộ",
    "col_time": "Giờ",
    "col_department": "Lĩnh vực",
    "col_waiting": "Chờ",
    "col_wait_time": "Ước tính",
    "minutes": "~{n} phút",
    "state_calling": "đang mời",
    "state_serving": "đang phục vụ",
    "state_free": "sẵn sàng",
    "state_paused": "tạm dừng",
    "state_paused_reason": "tạm dừng: {reason}",
    "state_closed": "đóng",
    "none_yet": "—",
    "total_waiting": "Tổng số người đang chờ: {n}",
    "connecting": "● Đang kết nối…",
    "loading": "Đang kết nối…",
    "connection_lost": "● Mất kết nối — đang kết nối lại…",
    "connection_lost_short": "● Mất kết nối",
    "refused": "● Máy chủ từ chối màn hình này: {reason}",
    "stopped": "● Đã dừng kết nối — xin báo cán bộ kỹ thuật",
    "scope_label": "Hiển thị: {items}",
    "scope_counters": "quầy {numbers}",
    "empty": "Không có",
    "wd0": "Thứ Hai",
    "wd1": "Thứ Ba",
    "wd2": "Thứ Tư",
    "wd3": "Thứ Năm",
    "wd4": "Thứ Sáu",
    "wd5": "Thứ Bảy",
    "wd6": "Chủ nhật",
}

EN: dict[str, str] = {
    "now_calling": "NOW CALLING",
    "to_counter": "COUNTER",
    "no_call_yet": "No call yet today",
    "recall": "RECALL",
    "recall_n": "RECALL no. {n}",
    "recall_short": "↻ Recall",
    "counters": "COUNTERS",
    "recent": "LAST CALLS",
    "waiting": "WAITING",
    "col_counter": "Counter",
    "col_ticket": "Number",
    "col_state": "State",
    "col_officer": "Officer",
    "col_time": "Time",
    "col_department": "Department",
    "col_waiting": "Waiting",
    "col_wait_time": "Estimate",
    "minutes": "~{n} min",
    "state_calling": "calling",
    "state_serving": "serving",
    "state_free": "ready",
    "state_paused": "paused",
    "state_paused_reason": "paused: {reason}",
    "state_closed": "closed",
    "none_yet": "—",
    "total_waiting": "People waiting: {n}",
    "connecting": "● Connecting…",
    "loading": "Connecting…",
    "connection_lost": "● Connection lost — reconnecting…",
    "connection_lost_short": "● Offline",
    "refused": "● The server refused this display: {reason}",
    "stopped": "● Connection stopped — please tell technical staff",
    "scope_label": "Showing: {items}",
    "scope_counters": "counters {numbers}",
    "empty": "None",
    "wd0": "Monday",
    "wd1": "Tuesday",
    "wd2": "Wednesday",
    "wd3": "Thursday",
    "wd4": "Friday",
    "wd5": "Saturday",
    "wd6": "Sunday",
}


def catalogue(language: str = "vi") -> Catalogue:
    """The display's strings in ``language`` ("vi" or "en")."""
    return Catalogue(VI, EN, language)
