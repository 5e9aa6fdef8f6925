"""Every string of the citizen's page and messages, Vietnamese first.

Keys are shared by both tables (:class:`motcua.i18n.Catalogue` checks it).
Keys starting with ``js_`` are also handed to the page's script, so the live
updates speak the page's language.
"""

from __future__ import annotations

VI: dict[str, str] = {
    "lang_name": "vi",
    "other_lang": "English",
    "title": "Số thứ tự {number}",
    "your_number": "Số thứ tự của bạn",
    "not_found": "Không tìm thấy",
    "noscript": "Trang tự cập nhật mỗi 30 giây.",
    "js_waiting": "Đang chờ",
    "js_ahead": "Còn {n} người trước bạn",
    "js_ahead_0": "Bạn là người tiếp theo",
    "js_wait": "Dự kiến khoảng {n} phút",
    "js_wait_range": "Dự kiến khoảng {lo}–{hi} phút",
    "js_wait_soon": "Sắp đến lượt",
    "js_serving_title": "Quầy đang phục vụ",
    "js_serving_row": "Quầy {counter}: {number}",
    "js_serving_idle": "Quầy {counter}: đang trống",
    "js_serving_none": "Chưa có quầy nào mở cho lĩnh vực này.",
    "js_called": "Mời đến quầy\u00a0{counter}",
    "js_called_sub": "Xin mời công dân có số {number} đến quầy số {counter}",
    "js_serving": "Đang phục vụ tại quầy {counter}",
    "js_done": "Đã hoàn thành. Cảm ơn quý khách!",
    "js_no_show": "Số đã được gọi nhưng quý khách vắng mặt. Xin liên hệ quầy hướng dẫn.",
    "js_cancelled": "Số này đã hủy.",
    "js_expired": "Số này đã hết hạn.",
    "js_gone": "Số này không còn theo dõi được (đã sang ngày mới).",
    "js_live": "Đang cập nhật trực tiếp",
    "js_offline": "Mất kết nối — đang kết nối lại…",
    "js_sound_on": "Bật chuông báo",
    "js_sound_ready": "Chuông báo đã bật ✓",
    "js_leave": "Tôi không chờ nữa",
    "js_leave_confirm": "Hủy số {number}? Quý khách sẽ mất lượt.",
    "js_notify_title": "Nhắn tin cho tôi khi sắp đến lượt",
    "js_notify_hint": "Chúng tôi nhắn khi còn {n} người trước bạn và khi gọi số. "
                      "Số điện thoại chỉ dùng hôm nay.",
    "js_phone": "Số điện thoại",
    "js_notify_send": "Đăng ký",
    "js_notify_ok": "Đã đăng ký nhận tin nhắn.",
    "js_notify_sent": "Đã gửi tin nhắn.",
    "js_notify_off": "Thôi, không nhắn nữa",
    "js_error": "Chưa thực hiện được: {message}",
    # messages sent through the gateway
    "msg_near": "{center}: số {number} còn {ahead} người phía trước. "
                "Xin quay lại khu chờ.",
    "msg_called": "{center}: mời số {number} đến quầy {counter}.",
}

EN: dict[str, str] = {
    "lang_name": "en",
    "other_lang": "Tiếng Việt",
    "title": "Ticket {number}",
    "your_number": "Your number",
    "not_found": "Not found",
    "noscript": "This page refreshes every 30 seconds.",
    "js_waiting": "Waiting",
    "js_ahead": "{n} people ahead of you",
    "js_ahead_0": "You are next",
    "js_wait": "About {n} min",
    "js_wait_range": "About {lo}–{hi} min",
    "js_wait_soon": "Your turn is near",
    "js_serving_title": "Counters serving",
    "js_serving_row": "Counter {counter}: {number}",
    "js_serving_idle": "Counter {counter}: free",
    "js_serving_none": "No counter is open for this department yet.",
    "js_called": "Please go to counter\u00a0{counter}",
    "js_called_sub": "Number {number}, please go to counter {counter}",
    "js_serving": "Being served at counter {counter}",
    "js_done": "Done. Thank you!",
    "js_no_show": "Your number was called but you were not there. Please ask at the help desk.",
    "js_cancelled": "This ticket was cancelled.",
    "js_expired": "This ticket has expired.",
    "js_gone": "This ticket can no longer be followed (a new day has started).",
    "js_live": "Live",
    "js_offline": "Connection lost — reconnecting…",
    "js_sound_on": "Turn on the alert sound",
    "js_sound_ready": "Alert sound on ✓",
    "js_leave": "I am not waiting any more",
    "js_leave_confirm": "Cancel ticket {number}? You will lose your place.",
    "js_notify_title": "Text me when my turn is near",
    "js_notify_hint": "We text you when {n} people are ahead and when you are called. "
                      "Your number is kept for today only.",
    "js_phone": "Phone number",
    "js_notify_send": "Notify me",
    "js_notify_ok": "You will get a message.",
    "js_notify_sent": "Message sent.",
    "js_notify_off": "Stop messages",
    "js_error": "Could not do that: {message}",
    "msg_near": "{center}: ticket {number} has {ahead} people ahead. "
                "Please come back to the waiting area.",
    "msg_called": "{center}: ticket {number}, please go to counter {counter}.",
}
