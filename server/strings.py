"""What the server says to people: configuration errors, start-up failures,
the start-up banner and day names. Vietnamese first, English after it.

Each entry is ``(vietnamese, english)``, formatted with the same parameters;
a parameter may itself be a ``(vietnamese, english)`` pair (a kind of value,
a day name), and each language takes its own half.
"""

from __future__ import annotations

from typing import Any

Pair = tuple[str, str]

#: ``motcua config check`` and every loader: the problem at a field path.
CONFIG: dict[str, Pair] = {
    "required": ("bắt buộc phải có", "is required"),
    "not_boolean": ("phải là {kind}, không phải true/false", "must be {kind}, not a boolean"),
    "wrong_kind": ("phải là {kind}, không phải {got}", "must be {kind}, got {got}"),
    "empty": ("không được để trống", "must not be empty"),
    "bad_time": ("phải là giờ dạng HH:MM, không phải {raw}", "must be a time HH:MM, got {raw}"),
    "unknown_setting": ("không phải mục cấu hình nào đã biết", "is not a known setting"),
    "unknown_timezone": ("không có múi giờ {tz}", "unknown time zone {tz}"),
    "closes_after_opens": ("phải muộn hơn center.opens", "must be later than center.opens"),
    "last_ticket_between": ("phải nằm giữa center.opens và center.closes",
                            "must be between center.opens and center.closes"),
    "one_of": ("phải là một trong: {choices}", "must be one of {choices}"),
    "reopen_only_closed": ("chỉ dùng cho lĩnh vực đang đóng (open = false)",
                           "only for a closed department (open = false)"),
    "unknown_counter": ("không có quầy {n}", "unknown counter {n}"),
    "overdue_positive": ("phải là số dương (bội số của thời gian chờ mục tiêu)",
                         "must be positive (a multiple of the target wait)"),
    "lunch_two_times": ('phải là hai giờ ["HH:MM", "HH:MM"]', 'must be two times ["HH:MM", "HH:MM"]'),
    "lunch_inside_hours": ("phải bắt đầu sau center.opens và kết thúc trước center.closes",
                           "must start after center.opens and end before center.closes"),
    "bad_instant": ("phải là ngày giờ có múi giờ, vd. 2025-06-02T14:00:00+07:00",
                    "must be a date and time with its offset, e.g. 2025-06-02T14:00:00+07:00"),
    "empty_text": ("phải là chữ, không được để trống", "must be non-empty text"),
    "at_most_chars": ("dài tối đa {max} ký tự", "must be at most {max} characters"),
    "at_most_keywords": ("tối đa {max} từ khóa cho một thủ tục", "at most {max} keywords per procedure"),
    "hub_code": ("phải gồm 1–32 chữ cái, chữ số, - hoặc _ (mã của điểm ở cấp tỉnh)",
                 "must be 1–32 letters, digits, - or _ (the site's code at the hub)"),
    "hub_url": ("phải là địa chỉ PostgreSQL (postgresql://role:password@host/db)",
                "must be a PostgreSQL URL (postgresql://role:password@host/db)"),
    "printer_paper": ("phải là 58 hoặc 80 (mm)", "must be 58 or 80 (mm)"),
    "printer_dots": ("phải là bội số của 8, từ 256 đến {top} (bề rộng in theo chấm, vd. 384, 512 "
                     "hoặc 576)", "must be a multiple of 8 between 256 and {top} (the printable "
                     "width in dots, e.g. 384, 512 or 576)"),
    "unknown_placeholder": ("không có chỗ điền {{{name}}}; các chỗ điền: {known}",
                            "unknown placeholder {{{name}}}; known: {known}"),
    "http_url": ("phải là địa chỉ http:// hoặc https://, không phải {url}",
                 "must be an http:// or https:// address, got {url}"),
    "http_method": ("phải là GET, POST hoặc PUT, không phải {method}",
                    "must be GET, POST or PUT, got {method}"),
    "one_line": ("phải là chữ trên một dòng", "must be text on one line"),
    "between_seconds": ("phải từ {min} đến {max} giây", "must be between {min} and {max} seconds"),
    "timeout_seconds": ("phải lớn hơn 0 và tối đa {max} giây",
                        "must be more than 0 and at most {max} seconds"),
    "at_least": ("phải từ {min} trở lên", "must be at least {min}"),
    "between": ("phải từ {min} đến {max}", "must be between {min} and {max}"),
    "positive": ("phải lớn hơn 0", "must be positive"),
    "positive_minutes": ("phải lớn hơn 0 (phút)", "must be positive (minutes)"),
    "table": ("phải là một bảng", "must be a table"),
    "booking_duplicate_department": ("lĩnh vực {code} đã có khung đặt lịch ở trên",
                                     "department {code} already has booking slots above"),
    "booking_window": ("phải là hai giờ [\"HH:MM\", \"HH:MM\"], giờ đầu sớm hơn",
                       "must be two times [\"HH:MM\", \"HH:MM\"], the first earlier"),
    "booking_window_hours": ("phải nằm trong giờ làm việc của trung tâm",
                             "must lie within the center's hours"),
    "booking_procedure": ("thủ tục {code} không thuộc lĩnh vực {department}",
                          "procedure {code} does not belong to department {department}"),
    "duplicate_value": ("trùng giá trị {value}", "duplicates value {value}"),
    "no_levels": ("cần ít nhất một mức đánh giá", "needs at least one level"),
    "duplicate_group": ("trùng nhóm ưu tiên {code}", "duplicates priority group {code}"),
    "no_departments": ("cần ít nhất một lĩnh vực", "needs at least one department"),
    "duplicate_department": ("trùng lĩnh vực {code}", "duplicates department {code}"),
    "bad_letter": ("phải là một chữ in hoa A-Z, không phải {letter}",
                   "must be one capital letter A-Z, got {letter}"),
    "letter_taken": ("chữ {letter} đã dùng cho lĩnh vực {code}",
                     "{letter} is already used by department {code}"),
    "duplicate_procedure": ("trùng thủ tục {code}", "duplicates procedure {code}"),
    "duplicate_counter": ("trùng quầy {number}", "duplicates counter {number}"),
    "counter_needs_department": ("phải có ít nhất một lĩnh vực",
                                 "must list at least one department"),
    "unknown_department": ("không có lĩnh vực {code}", "unknown department {code}"),
    "unserved_department": ("không quầy nào phục vụ lĩnh vực {code}",
                            "no counter serves department {code}"),
    "duplicate_officer": ("trùng cán bộ {id}", "duplicates officer {id}"),
    "plain_pin": ("phải là mã băm từ `motcua hash-pin`, không phải PIN gốc",
                  "must be a hash from `motcua hash-pin`, not a plain PIN"),
    "unknown_role": ("không có vai trò này; các vai trò: {roles}",
                     "unknown role; roles are {roles}"),
    "short_token": ("phải là mã có ít nhất 4 ký tự", "must be a token of at least 4 characters"),
    "token_required": ("bắt buộc (mỗi vai trò một mã)", "is required (a token for each role)"),
    "unreadable": ("không đọc được tệp: {reason}", "cannot read file: {reason}"),
    "not_toml": ("không phải TOML hợp lệ: {reason}", "not valid TOML: {reason}"),
}

#: Kinds of value, for "must be …".
KINDS: dict[str, Pair] = {
    "str": ("chữ", "text"), "int": ("số nguyên", "a whole number"),
    "float": ("số", "a number"), "bool": ("true hoặc false", "true or false"),
    "list": ("danh sách", "a list"), "dict": ("bảng", "a table"), "time": ("giờ", "a time"),
}

#: Why ``motcua serve`` could not start (one line, then exit).
START: dict[str, Pair] = {
    "line": ("Không khởi động được máy chủ: {vi}", "cannot start the server: {en}"),
    "port_in_use": ("cổng {port} trên {host} đang được chương trình khác dùng (một motcua "
                    "khác đang chạy?); hãy dừng nó hoặc chọn --port khác",
                    "port {port} on {host} is already in use (another motcua running?); "
                    "stop it or choose another --port"),
    "bad_host": ("máy này không có địa chỉ {host} để nghe (--host)",
                 "this machine has no address {host} to listen on (--host)"),
    "port_denied": ("không được phép nghe ở cổng {port} (cổng dưới 1024 cần quyền quản trị)",
                    "not allowed to listen on port {port} (ports below 1024 need privileges)"),
    "bad_port": ("cổng {port} không hợp lệ (0–65535)", "port {port} is not valid (0–65535)"),
    "listen_failed": ("không nghe được ở {host}:{port}: {reason}",
                      "cannot listen on {host}:{port}: {reason}"),
    "config": ("cấu hình {source} có lỗi — {where}{vi_msg}{more_vi}",
               "configuration {source} is invalid — {where}{en_msg}{more_en}"),
    "config_more": (" (và {n} lỗi khác; xem `{command}`)", " (and {n} more; see `{command}`)"),
    "db_is_folder": ("{path} là một thư mục, không phải tệp dữ liệu (--db)",
                     "{path} is a folder, not a database file (--db)"),
    "db_folder": ("không tạo được thư mục dữ liệu {folder}: {reason}",
                  "cannot create the database folder {folder}: {reason}"),
    "db_folder_readonly": ("thư mục {folder} không ghi được (cơ sở dữ liệu cần tạo tệp "
                           "-wal/-shm bên cạnh); kiểm tra quyền",
                           "the folder {folder} is not writable (the database needs its "
                           "-wal/-shm files beside it); check its permissions"),
    "db_unreadable": ("không mở được tệp dữ liệu {path}: {reason}",
                      "cannot open the database {path}: {reason}"),
    "db_readonly": ("tệp dữ liệu {path} chỉ đọc được, không ghi được; kiểm tra quyền",
                    "the database {path} is read-only; check its permissions"),
    "db_not_sqlite": ("{path} không phải tệp dữ liệu SQLite (hỏng, hoặc nhầm tệp?)",
                      "{path} is not an SQLite database (damaged, or the wrong file?)"),
    "db_damaged": ("tệp dữ liệu {path} bị hỏng (quick_check: {detail}); khôi phục từ bản sao lưu",
                   "the database {path} is damaged (quick_check: {detail}); restore a backup"),
    "db_foreign": ("{path} là cơ sở dữ liệu của chương trình khác (có bảng {tables}), "
                   "không phải của motcua",
                   "{path} belongs to another program (it has tables {tables}), not motcua"),
    "db_bad_version": ("tệp dữ liệu {path} có phiên bản lược đồ {version} không hợp lệ",
                       "the database {path} has an invalid schema version {version}"),
    "db_newer": ("tệp dữ liệu {path} do motcua mới hơn tạo (lược đồ {version}, bản này hiểu "
                 "tới {supported}); hãy nâng cấp motcua",
                 "the database {path} was written by a newer motcua (schema {version}, this "
                 "one knows up to {supported}); upgrade motcua"),
    "db_locked": ("tệp dữ liệu {path} đang bị chương trình khác khóa ghi",
                  "the database {path} is locked by another program"),
    "db_failed": ("lỗi tệp dữ liệu {path}: {reason}", "database error in {path}: {reason}"),
    "db_in_use": ("tệp dữ liệu {path} đang được một máy chủ motcua khác dùng (hai máy chủ trên "
                  "một tệp sẽ phát trùng số)", "the database {path} is in use by another motcua "
                  "server (two servers on one file would hand out the same numbers)"),
    "unexpected": ("lỗi không lường trước: {reason} (thêm -v để xem chi tiết)",
                   "unexpected error: {reason} (add -v for details)"),
}

#: Open days: short and long Vietnamese names, then English.
DAYS: dict[str, tuple[str, str, str]] = {
    "mon": ("T2", "Thứ Hai", "Mon"), "tue": ("T3", "Thứ Ba", "Tue"),
    "wed": ("T4", "Thứ Tư", "Wed"), "thu": ("T5", "Thứ Năm", "Thu"),
    "fri": ("T6", "Thứ Sáu", "Fri"), "sat": ("T7", "Thứ Bảy", "Sat"),
    "sun": ("CN", "Chủ Nhật", "Sun"),
}


def pair(table: dict[str, Pair], key: str, **params: Any) -> Pair:
    """``table[key]`` formatted in both languages."""
    vi, en = table[key]
    return (vi.format(**{k: v[0] if isinstance(v, tuple) else v for k, v in params.items()}),
            en.format(**{k: v[1] if isinstance(v, tuple) else v for k, v in params.items()}))


def both(vi: str, en: str) -> str:
    """One line, Vietnamese first: ``vi / en``."""
    return f"{vi} / {en}"

#: ``motcua serve``'s banner and ``motcua tokens``.
BANNER: dict[str, Pair] = {
    "config": ("cấu hình", "config"),
    "sample_center": ("trung tâm mẫu có sẵn", "built-in sample center"),
    "database": ("dữ liệu", "database"),
    "listening": ("địa chỉ", "listening"),
    "every_address": ("mọi địa chỉ của máy này; từ máy khác dùng địa chỉ mạng của máy",
                      "every address of this machine; other machines use its network address"),
    "hours": ("giờ phát số: {hours}, {days}", "ticket hours: {hours}, {days}"),
    "hours_lifted": ("giờ phát số: mọi lúc (--ignore-hours)", "ticket hours: any time"),
    "every_day": ("mọi ngày", "every day"),
    "tokens": ("mã thiết bị", "device tokens"),
    "tokens_env": ("mã của cấu hình này, chạy trước ở mỗi cửa sổ",
                   "this config's tokens, run first in each terminal"),
    "sample_officers": ("cán bộ mẫu: cb01…cb14, PIN 1234", "sample officers: cb01…cb14, PIN 1234"),
    "apps": ("Mở các ứng dụng ở cửa sổ khác", "start the apps in other terminals"),
    "stop": ("Nhấn Ctrl+C để dừng", "press Ctrl+C to stop."),
    "stopping": ("Đang dừng", "stopping…"),
    "tokens_title": ("Mã thiết bị của {source} (máy khách gửi trong `hello`)",
                     "device tokens of {source} (clients send them in `hello`)"),
    "tokens_demo": ("Mã chung chỉ dùng ở chế độ demo (serve --demo); trung tâm thật cấp cho mỗi "
                    "thiết bị một mã riêng: motcua devices add VAI_TRÒ TÊN.",
                    "Shared tokens work only in demo mode (serve --demo); a real center gives "
                    "each device its own secret: motcua devices add ROLE NAME."),
}


def day_names(days: tuple[str, ...] | list[str]) -> Pair:
    """Open days in both languages, runs shortened: ("T2–T7", "Mon–Sat")."""
    order = list(DAYS)
    picked = sorted({d for d in days if d in DAYS}, key=order.index)
    if len(picked) == len(order):
        return BANNER["every_day"]
    runs: list[list[str]] = []
    for d in picked:
        if runs and order.index(d) == order.index(runs[-1][-1]) + 1:
            runs[-1].append(d)
        else:
            runs.append([d])
    out = []
    for lang in (0, 2):
        parts = []
        for run in runs:
            if len(run) >= 3:
                parts.append(f"{DAYS[run[0]][lang]}–{DAYS[run[-1]][lang]}")
            else:
                parts.extend(DAYS[d][lang] for d in run)
        out.append(", ".join(parts))
    return out[0], out[1]
