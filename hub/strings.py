"""The hub's wording (province reports, the province view, the hub
commands): Vietnamese first, English as an option."""

from __future__ import annotations

from motcua.i18n import Catalogue

VI: dict[str, str] = {
    "province": "Toàn tỉnh",
    "scope_all": "Tất cả {n} đơn vị",
    "scope_some": "Đơn vị: {codes}",
    "unknown_site": "Không có đơn vị {code} trong kho dữ liệu tỉnh.",
    "unreachable": "Không kết nối được kho dữ liệu tỉnh ({error}).",
    "refused": "Kho dữ liệu tỉnh từ chối: {error}",
    "no_schema": "Cơ sở dữ liệu này chưa có kho dữ liệu tỉnh: chạy `motcua hub init` trước.",
    "bad_url": "Địa chỉ kho dữ liệu tỉnh phải là URL PostgreSQL (postgresql://…): {url}",
    # the province view
    "app_title": "motcua — tổng hợp toàn tỉnh",
    "sites": "Đơn vị",
    "col_site": "Đơn vị",
    "col_waiting": "Chờ",
    "col_served": "Đã PV",
    "col_longest": "Lâu nhất/MT",
    "col_satisfaction": "Hài lòng",
    "col_alerts": "C.báo",
    "col_heard": "Liên lạc",
    "col_backlog": "Chưa gửi",
    "heard_ago": "{seconds} giây",
    "heard_minutes": "{minutes} phút",
    "never_heard": "chưa liên lạc",
    "silent": "MẤT LL",
    "totals": "Toàn tỉnh: {sites} đơn vị · {silent} mất liên lạc · {waiting} đang chờ · "
              "{served} đã phục vụ (PV) hôm nay · {alerts} cảnh báo; MT: mục tiêu",
    "updated": "Cập nhật {at}",
    "hub_down": "Mất kết nối kho dữ liệu tỉnh: {error}",
    "connecting": "Đang kết nối kho dữ liệu tỉnh…",
    "help": "↑↓ chọn đơn vị · Enter: chi tiết · L: English · Q: thoát",
    "detail_title": "{code} – {name}",
    "back": "Esc: quay lại",
    "no_live": "Đơn vị chưa gửi tình hình trực tiếp.",
    "stale_detail": "Số liệu lúc {at} ({ago}) — đơn vị đang mất liên lạc.",
}

EN: dict[str, str] = {
    "province": "Province",
    "scope_all": "All {n} sites",
    "scope_some": "Sites: {codes}",
    "unknown_site": "The hub has no site {code}.",
    "unreachable": "Cannot reach the province hub ({error}).",
    "refused": "The province hub refused: {error}",
    "no_schema": "This database has no province hub yet: run `motcua hub init` first.",
    "bad_url": "The hub's address must be a PostgreSQL URL (postgresql://…): {url}",
    "app_title": "motcua — province overview",
    "sites": "Sites",
    "col_site": "Site",
    "col_waiting": "Waiting",
    "col_served": "Served",
    "col_longest": "Longest/tgt",
    "col_satisfaction": "Satisf.",
    "col_alerts": "Alerts",
    "col_heard": "Last heard",
    "col_backlog": "Unsent",
    "heard_ago": "{seconds} s",
    "heard_minutes": "{minutes} min",
    "never_heard": "never",
    "silent": "SILENT",
    "totals": "Province: {sites} sites · {silent} silent · {waiting} waiting · "
              "{served} served today · {alerts} alerts; tgt: target wait",
    "updated": "Updated {at}",
    "hub_down": "Lost the province hub: {error}",
    "connecting": "Connecting to the province hub…",
    "help": "↑↓ pick a site · Enter: details · L: tiếng Việt · Q: quit",
    "detail_title": "{code} – {name}",
    "back": "Esc: back",
    "no_live": "This site has sent no live state yet.",
    "stale_detail": "Figures as of {at} ({ago}): the site is silent.",
}


def catalogue(language: str = "vi") -> Catalogue:
    """The hub's strings in ``language``."""
    return Catalogue(VI, EN, language)
