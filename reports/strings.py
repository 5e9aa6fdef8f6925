"""Report wording: Vietnamese first, English as an option."""

from __future__ import annotations

VI: dict[str, str] = {
    "title": "Báo cáo hoạt động tiếp nhận và trả kết quả",
    "period_day": "Ngày {day}",
    "period_range": "Từ ngày {first} đến ngày {last}",
    "grouped_by": "Theo {by}",
    "generated": "Lập lúc {at}",
    "by_department": "lĩnh vực",
    "by_counter": "quầy",
    "by_officer": "cán bộ",
    "by_procedure": "thủ tục",
    "by_hour": "giờ",
    "by_day": "ngày",
    "whole_center": "Toàn trung tâm",
    "whole_scope": "Tổng hợp",
    "by_site": "đơn vị",
    "group_site": "Đơn vị",
    "none_site": "(không rõ đơn vị)",
    "group_department": "Lĩnh vực",
    "group_counter": "Quầy",
    "group_officer": "Cán bộ",
    "group_procedure": "Thủ tục",
    "group_hour": "Giờ",
    "group_day": "Ngày",
    "group_none": "Phạm vi",
    "code": "Mã",
    "total": "Tổng cộng",
    "none_department": "(không rõ lĩnh vực)",
    "none_counter": "(chưa gắn quầy)",
    "none_officer": "(chưa gắn cán bộ)",
    "none_procedure": "(không chọn thủ tục)",
    "none_hour": "(không rõ giờ)",
    "none_day": "(không rõ ngày)",
    "issued": "Số phiếu phát",
    "transferred_in": "Chuyển đến",
    "served": "Đã phục vụ",
    "no_show": "Vắng mặt",
    "transferred": "Chuyển đi",
    "cancelled": "Đã hủy",
    "expired": "Hết hạn",
    "waits": "Lượt chờ",
    "wait_mean": "Chờ trung bình (phút)",
    "wait_median": "Chờ trung vị (phút)",
    "wait_p90": "Chờ P90 (phút)",
    "within": "Chờ trong mục tiêu (%)",
    "services": "Lượt phục vụ",
    "service_mean": "Phục vụ trung bình (phút)",
    "service_median": "Phục vụ trung vị (phút)",
    "service_p90": "Phục vụ P90 (phút)",
    "rated": "Lượt đánh giá",
    "satisfaction": "Tỷ lệ hài lòng (%)",
    "short_issued": "Phát",
    "short_transferred_in": "Ch.đến",
    "short_served": "P.vụ",
    "short_no_show": "Vắng",
    "short_transferred": "Ch.đi",
    "short_cancelled": "Hủy",
    "short_expired": "H.hạn",
    "short_wait_mean": "Chờ TB",
    "short_wait_median": "Chờ TV",
    "short_wait_p90": "Chờ P90",
    "short_within": "Đạt MT",
    "short_service_mean": "PV TB",
    "short_service_median": "PV TV",
    "short_service_p90": "PV P90",
    "short_rated": "Đ.giá",
    "short_satisfaction": "Hài lòng",
    "legend": ("Thời gian tính bằng phút; TB = trung bình, TV = trung vị, P90 = 90% số lượt "
               "không quá; Đạt MT = tỷ lệ lượt chờ không quá thời gian chờ mục tiêu của lĩnh vực."),
    "section_flow": "Lượt và thời gian",
    "section_ratings": "Đánh giá của công dân",
    "empty": "Không có dữ liệu trong khoảng thời gian này.",
    "sheet_report": "Báo cáo",
    "sheet_definitions": "Định nghĩa",
    "definitions": (
        "Số phiếu phát: số phiếu in tại kiosk, theo lĩnh vực và thủ tục lúc lấy số.\n"
        "Chuyển đến: số lượt công dân được quầy khác chuyển sang lĩnh vực này (ví dụ sang "
        "thu phí); số phiếu phát + chuyển đến là số lượt vào hàng chờ của lĩnh vực.\n"
        "Đã phục vụ: lượt phục vụ kết thúc bằng \"hoàn thành\" tại quầy.\n"
        "Vắng mặt: phiếu bị đánh dấu vắng mặt và không quay lại (phiếu quay lại được "
        "phục vụ thì không tính).\n"
        "Chuyển đi: lượt phục vụ kết thúc bằng việc chuyển công dân sang lĩnh vực "
        "khác (ví dụ sang thu phí), tính cho quầy/lĩnh vực chuyển đi.\n"
        "Đã hủy / Hết hạn: phiếu bị hủy (công dân về trước) / hết hiệu lực cuối ngày.\n"
        "Thời gian chờ: từ lúc lấy số (hoặc lúc được chuyển sang lĩnh vực mới) đến lần gọi "
        "đầu tiên; công dân được chuyển có nhiều lượt chờ, mỗi lượt tính cho lĩnh vực của "
        "hàng chờ đó; gọi lại không tính; phiếu vắng mặt được đưa lại hàng không tính lượt "
        "chờ mới. Theo quầy/cán bộ: tính cho quầy/cán bộ đã gọi số.\n"
        "Chờ trong mục tiêu: tỷ lệ lượt chờ không quá thời gian chờ mục tiêu "
        "(target_wait) của lĩnh vực.\n"
        "Thời gian phục vụ: từ lúc bắt đầu phục vụ (hoặc lúc gọi nếu bỏ qua bước bắt đầu) "
        "đến lúc kết thúc, cho cả lượt hoàn thành và lượt chuyển lĩnh vực.\n"
        "Trung vị và P90 nội suy tuyến tính giữa hai hạng gần nhất (như PERCENTILE.INC).\n"
        "Tỷ lệ hài lòng: (số đánh giá ở các mức \"hài lòng\") / tổng số lượt đánh giá.\n"
        "Theo giờ: phiếu theo giờ lấy số, lượt chờ theo giờ bắt đầu chờ, lượt phục vụ theo "
        "giờ kết thúc, đánh giá theo giờ đánh giá.\n"
        "Mọi số liệu tính từ nhật ký sự kiện (bảng events)."),
    "cache_building": "Đang lập bộ đệm báo cáo từ nhật ký sự kiện ({path})…",
    "no_database": "Không tìm thấy cơ sở dữ liệu {path}.",
    "need_openpyxl": "Cần cài openpyxl để xuất Excel: pip install openpyxl",
    "written": "Đã ghi {path}",
    "bad_date": "Ngày không hợp lệ: {value} (dùng YYYY-MM-DD)",
    "bad_month": "Tháng không hợp lệ: {value} (dùng YYYY-MM)",
    "bad_range": "Ngày bắt đầu phải trước ngày kết thúc.",
    "timing": "({seconds:.3f} giây)",
    "page_footer": "Trang &P/&N",
    "needs_hub": "--by site và --site chỉ dùng với --hub (báo cáo tổng hợp của tỉnh).",
    "file_report": "bao-cao",
    "file_province": "bao-cao-tinh",
    "file_by_department": "theo-linh-vuc",
    "file_by_counter": "theo-quay",
    "file_by_officer": "theo-can-bo",
    "file_by_procedure": "theo-thu-tuc",
    "file_by_hour": "theo-gio",
    "file_by_day": "theo-ngay",
    "file_by_site": "theo-don-vi",
    "file_by_none": "tong-hop",
}

EN: dict[str, str] = {
    "title": "Service center activity report",
    "period_day": "Day {day}",
    "period_range": "From {first} to {last}",
    "grouped_by": "By {by}",
    "generated": "Generated {at}",
    "by_department": "department",
    "by_counter": "counter",
    "by_officer": "officer",
    "by_procedure": "procedure",
    "by_hour": "hour",
    "by_day": "day",
    "whole_center": "Whole center",
    "whole_scope": "All together",
    "by_site": "site",
    "group_site": "Site",
    "none_site": "(unknown site)",
    "group_department": "Department",
    "group_counter": "Counter",
    "group_officer": "Officer",
    "group_procedure": "Procedure",
    "group_hour": "Hour",
    "group_day": "Day",
    "group_none": "Scope",
    "code": "Code",
    "total": "Total",
    "none_department": "(unknown department)",
    "none_counter": "(no counter)",
    "none_officer": "(no officer)",
    "none_procedure": "(no procedure chosen)",
    "none_hour": "(unknown hour)",
    "none_day": "(unknown day)",
    "issued": "Issued",
    "transferred_in": "Transferred in",
    "served": "Served",
    "no_show": "No-shows",
    "transferred": "Transferred out",
    "cancelled": "Cancelled",
    "expired": "Expired",
    "waits": "Waits",
    "wait_mean": "Mean wait (min)",
    "wait_median": "Median wait (min)",
    "wait_p90": "P90 wait (min)",
    "within": "Within target wait (%)",
    "services": "Visits timed",
    "service_mean": "Mean service (min)",
    "service_median": "Median service (min)",
    "service_p90": "P90 service (min)",
    "rated": "Rated",
    "satisfaction": "Satisfaction (%)",
    "short_issued": "Issued",
    "short_transferred_in": "In",
    "short_served": "Served",
    "short_no_show": "No-show",
    "short_transferred": "Out",
    "short_cancelled": "Cancel",
    "short_expired": "Expired",
    "short_wait_mean": "Wait",
    "short_wait_median": "W.med",
    "short_wait_p90": "W.p90",
    "short_within": "In tgt",
    "short_service_mean": "Serv",
    "short_service_median": "S.med",
    "short_service_p90": "S.p90",
    "short_rated": "Rated",
    "short_satisfaction": "Satisf",
    "legend": ("Times in minutes: Wait/Serv = mean, med = median, p90 = 90th percentile; "
               "In tgt = share of waits within the department's target wait."),
    "section_flow": "Volumes and times",
    "section_ratings": "Citizen ratings",
    "empty": "No data in this period.",
    "sheet_report": "Report",
    "sheet_definitions": "Definitions",
    "definitions": (
        "Issued: tickets printed at the kiosk, by the department and procedure chosen.\n"
        "Transferred in: citizens sent to this department by another desk (e.g. to fee "
        "payment); issued + transferred in is what joined the department's queue.\n"
        "Served: visits that ended \"finished\" at a counter.\n"
        "No-shows: tickets marked no-show that never came back (a no-show who returned "
        "and was served is not counted).\n"
        "Transferred out: visits that ended by sending the citizen to another department "
        "(e.g. to fee payment), counted for the sending counter/department.\n"
        "Cancelled / Expired: tickets cancelled (citizen left) / expired at day end.\n"
        "Wait: from issue (or from a transfer into a department) to the first call; a "
        "transferred citizen has several waits, each counted for the department whose "
        "queue it was; recalls do not count; a no-show put back in the queue does not "
        "start a new wait. By counter/officer: counted for whoever made the call.\n"
        "Within target: share of waits no longer than the department's target_wait.\n"
        "Service time: from service start (or the call if start was skipped) to the end of "
        "the visit, for finished and transferred visits.\n"
        "Median and P90 interpolate linearly between the closest ranks (PERCENTILE.INC).\n"
        "Satisfaction: ratings on levels marked satisfied / all ratings.\n"
        "By hour: tickets by hour of issue, waits by the hour they began, visits by the "
        "hour they ended, ratings by the hour given.\n"
        "All figures are computed from the event log (table events)."),
    "cache_building": "Building the report cache from the event log ({path})…",
    "no_database": "No database at {path}.",
    "need_openpyxl": "Excel export needs openpyxl: pip install openpyxl",
    "written": "Wrote {path}",
    "bad_date": "Invalid date: {value} (use YYYY-MM-DD)",
    "bad_month": "Invalid month: {value} (use YYYY-MM)",
    "bad_range": "The start day must not be after the end day.",
    "timing": "({seconds:.3f} s)",
    "page_footer": "Page &P of &N",
    "needs_hub": "--by site and --site need --hub (the province's report).",
    "file_report": "report",
    "file_province": "province-report",
    "file_by_department": "by-department",
    "file_by_counter": "by-counter",
    "file_by_officer": "by-officer",
    "file_by_procedure": "by-procedure",
    "file_by_hour": "by-hour",
    "file_by_day": "by-day",
    "file_by_site": "by-site",
    "file_by_none": "totals",
}
