"""The motcua wire protocol: one place that defines and validates messages.

Every message is a JSON object with a ``type``. Commands are imperative
(``call_next``), events past tense (``ticket_called``). Both the server and
the clients import this module; it has no I/O and no third-party imports.
See docs/protocol.md for the prose version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# orjson: about 3-5x faster than the standard library both ways on our
# messages (bench/bench_server.py), and stricter where it matters: it refuses
# NaN/Infinity, lone surrogates and nesting deeper than 1024.
import orjson

PROTOCOL_VERSION = 1

#: Frames above this are refused with ``too_large`` (the connection stays up).
MAX_MESSAGE_BYTES = 16 * 1024
#: Frames above this make the websocket library close the connection (1009):
#: a defence against memory exhaustion, far above any legitimate message.
MAX_FRAME_BYTES = 1024 * 1024

ROLES = ("kiosk", "counter", "display", "rating", "admin")
#: A citizen's phone following one ticket (motcua.web): its hello carries the
#: ticket's link secret as its token, and it has its own few commands
#: (:data:`CITIZEN_COMMANDS`), none of the devices'.
CITIZEN = "citizen"

# Protocol-level error codes (queue refusals use the codes in server.core).
ERROR_MESSAGES: dict[str, tuple[str, str]] = {
    "bad_json": ("Tin nhắn không phải JSON hợp lệ.", "The message is not valid JSON."),
    "not_object": ("Tin nhắn phải là một đối tượng JSON.", "A message must be a JSON object."),
    "no_type": ("Tin nhắn thiếu trường \"type\".", "The message has no \"type\"."),
    "unknown_type": ("Không hiểu lệnh {type}.", "Unknown message type {type}."),
    "too_large": ("Tin nhắn quá lớn ({size} byte, tối đa {limit}).", "Message too large ({size} bytes, at most {limit})."),
    "bad_field": ("Trường {field} không hợp lệ: {problem}.", "Field {field} is invalid: {problem}."),
    "forbidden": ("Thiết bị {role} không được dùng lệnh {type}.", "A {role} device may not send {type}."),
    "hello_required": ("Tin nhắn đầu tiên phải là hello.", "The first message must be hello."),
    "bad_token": ("Sai mã thiết bị cho vai trò {role}.", "Wrong device token for role {role}."),
    "bad_role": ("Vai trò {role} không tồn tại.", "There is no role {role}."),
    "protocol_version": ("Phiên bản giao thức {version} không được hỗ trợ (máy chủ dùng {supported}).", "Protocol version {version} is not supported (server speaks {supported})."),
    "already_hello": ("Thiết bị đã chào rồi.", "This connection already said hello."),
    "storage": ("Lỗi lưu dữ liệu; thao tác chưa được ghi nhận, xin thử lại.", "Storage error; the action was not recorded, please retry."),
    "internal": ("Lỗi máy chủ; thao tác chưa được ghi nhận.", "Server error; the action was not recorded."),
    "login_required": ("Thiết bị này chưa đăng nhập ở quầy {counter}: cán bộ hãy đăng nhập bằng mã PIN.", "This device holds no login at counter {counter}: the officer must log in with their PIN."),
    "login_locked": ("Đăng nhập tạm khóa vì nhập sai mã PIN nhiều lần; thử lại sau {minutes} phút.", "Login is locked after too many wrong PINs; try again in {minutes} min."),
    "too_busy": ("Máy chủ đang quá tải kết nối; thử lại sau.", "Too many connections are waiting; try again later."),
    "bad_phone": ("Số điện thoại không hợp lệ (ví dụ 0912 345 678).", "Not a valid phone number (e.g. 0912 345 678)."),
    "notify_unavailable": ("Trung tâm chưa bật dịch vụ nhắn tin.", "This center does not send messages."),
    "notify_limit": ("Đã đổi số điện thoại quá nhiều lần cho số thứ tự này.", "The phone number was changed too often for this ticket."),
    "device_revoked": ("Thiết bị {device} đã bị thu hồi; hãy xin quản lý cấp lại.", "Device {device} has been revoked; ask a manager to enrol it again."),
    "wrong_counter": ("Thiết bị {device} được đăng ký cho quầy {counter}.", "Device {device} is enrolled for counter {counter}."),
    "manager_required": ("Cần quản lý đăng nhập (mã và mật khẩu) để làm việc này.", "A manager must log in (ID and password) to do this."),
}


class ProtocolError(Exception):
    """A message that can't be accepted, with a stable ``code``."""

    def __init__(self, code: str, **params: Any) -> None:
        self.code = code
        self.params = params
        vi, en = ERROR_MESSAGES[code]
        self.message = vi.format(**params)
        self.message_en = en.format(**params)
        super().__init__(self.message)


@dataclass(frozen=True)
class Field:
    kinds: tuple[type, ...]
    required: bool = False
    max_len: int = 200
    choices: tuple[str, ...] | None = None  # the only values a string may take


def _f(*kinds: type, required: bool = False, max_len: int = 200,
       choices: tuple[str, ...] | None = None) -> Field:
    return Field(kinds, required, max_len, choices)


#: What a kiosk may report as wrong with its printer (``printer_status.problem``).
PRINTER_PROBLEMS = ("offline", "paper_out", "paper_low", "cover_open", "timeout", "error",
                    "status_unknown")


STAFF = frozenset({"counter", "admin"})
ANY = frozenset(ROLES)
ADMIN = frozenset({"admin"})
#: The roles a device can be enrolled for (``enrol_device.role``).
DEVICE_ROLES = ROLES

#: command -> (roles that may send it, its fields)
COMMANDS: dict[str, tuple[frozenset[str], dict[str, Field]]] = {
    "ping": (ANY, {}),
    "snapshot": (ANY, {}),
    "issue": (frozenset({"kiosk", "admin"}), {
        "department": _f(str, required=True, max_len=20),
        "procedure": _f(str, max_len=40),
        "priority": _f(str, max_len=40),
        "request_id": _f(str, required=True, max_len=80),
    }),
    "printer_status": (frozenset({"kiosk"}), {
        "ok": _f(bool, required=True),
        "problem": _f(str, max_len=40, choices=PRINTER_PROBLEMS),
        "detail": _f(str, max_len=200),
    }),
    "voice_status": (frozenset({"display"}), {
        "ok": _f(bool, required=True),
        "problem": _f(str, max_len=40),
        "detail": _f(str, max_len=200),
    }),
    "login": (STAFF, {"officer": _f(str, required=True, max_len=40),
                      "pin": _f(str, required=True, max_len=40), "counter": _f(int)}),
    "logout": (STAFF, {"counter": _f(int), "reason": _f(str)}),
    "pause": (STAFF, {"reason": _f(str, required=True), "counter": _f(int)}),
    "resume": (STAFF, {"counter": _f(int)}),
    "call_next": (STAFF, {"counter": _f(int)}),
    "call_ticket": (STAFF, {"number": _f(str, required=True, max_len=8), "counter": _f(int)}),
    "recall": (STAFF, {"counter": _f(int)}),
    "start": (STAFF, {"counter": _f(int)}),
    "finish": (STAFF, {"counter": _f(int)}),
    "no_show": (STAFF, {"counter": _f(int)}),
    "requeue": (STAFF, {"number": _f(str, required=True, max_len=8), "counter": _f(int),
                        "reason": _f(str)}),
    "transfer": (STAFF, {"department": _f(str, required=True, max_len=20),
                         "procedure": _f(str, max_len=40), "note": _f(str, max_len=500),
                         "counter": _f(int)}),
    "cancel": (STAFF, {"number": _f(str, required=True, max_len=8),
                       "reason": _f(str), "counter": _f(int)}),
    "waiting_list": (STAFF, {"counter": _f(int)}),
    "officer_stats": (STAFF, {"counter": _f(int)}),
    "notify": (frozenset({"kiosk", "admin"}), {
        "ticket": _f(str, required=True, max_len=60),  # the ticket's link secret
        "phone": _f(str, required=True, max_len=24),
        "lang": _f(str, max_len=2, choices=("vi", "en")),
    }),
    "rate": (frozenset({"rating", "admin"}), {
        "visit": _f(int, required=True),
        "value": _f(int, required=True),
        "reason": _f(str, max_len=40),
        "request_id": _f(str, required=True, max_len=80),
    }),
    # The officer's own PIN, at the console that holds the officer's login.
    "change_pin": (frozenset({"counter"}), {"old_pin": _f(str, required=True, max_len=40),
                                            "new_pin": _f(str, required=True, max_len=40)}),
    # Administration: an admin device with a manager logged in (except the login).
    "manager_login": (ADMIN, {"manager": _f(str, required=True, max_len=40),
                              "password": _f(str, required=True, max_len=200)}),
    "manager_logout": (ADMIN, {}),
    "list_devices": (ADMIN, {}),
    "enrol_device": (ADMIN, {"role": _f(str, required=True, max_len=20, choices=DEVICE_ROLES),
                             "name": _f(str, required=True, max_len=40), "counter": _f(int)}),
    "revoke_device": (ADMIN, {"name": _f(str, required=True, max_len=40), "reason": _f(str)}),
    "list_officers": (ADMIN, {}),
    "add_officer": (ADMIN, {"officer": _f(str, required=True, max_len=40),
                            "name": _f(str, required=True, max_len=80),
                            "pin": _f(str, required=True, max_len=40), "counters": _f(list),
                            "reason": _f(str)}),
    "update_officer": (ADMIN, {"officer": _f(str, required=True, max_len=40),
                               "name": _f(str, max_len=80), "disabled": _f(bool),
                               "counters": _f(list), "reason": _f(str)}),
    "reset_pin": (ADMIN, {"officer": _f(str, required=True, max_len=40),
                          "pin": _f(str, required=True, max_len=40), "reason": _f(str)}),
    "close_department": (ADMIN, {"department": _f(str, required=True, max_len=20),
                                 "until": _f(str, max_len=20), "reason": _f(str)}),
    "open_department": (ADMIN, {"department": _f(str, required=True, max_len=20),
                                "reason": _f(str)}),
    "set_daily_cap": (ADMIN, {"department": _f(str, required=True, max_len=20),
                              "cap": _f(int, required=True), "reason": _f(str)}),
    "set_counter_departments": (ADMIN, {"counter": _f(int, required=True),
                                        "departments": _f(list, required=True),
                                        "reason": _f(str)}),
    "set_notice": (ADMIN, {"notice": _f(str, required=True, max_len=500),
                           "notice_en": _f(str, max_len=500), "reason": _f(str)}),
    "config_history": (ADMIN, {"limit": _f(int)}),
    # Appointments: bookings pushed by a manager (also over HTTP, §5).
    "add_bookings": (ADMIN, {"bookings": _f(list, required=True), "source": _f(str, max_len=40)}),
    # A citizen with a booking checks in at the kiosk (the code typed or scanned).
    "check_in": (frozenset({"kiosk", "admin"}), {
        "code": _f(str, required=True, max_len=40),
        "request_id": _f(str, required=True, max_len=80),
    }),
}

#: Administration commands that need a manager logged in over the connection.
MANAGER_COMMANDS = frozenset(k for k, (roles, _) in COMMANDS.items()
                             if roles == ADMIN and k != "manager_login")

#: What a citizen's page may send: read its own ticket, leave the queue, ask
#: for (or stop) messages. Least privilege: nothing else, and only for the
#: ticket whose secret its hello carried.
CITIZEN_COMMANDS: dict[str, tuple[frozenset[str], dict[str, Field]]] = {
    "ping": (frozenset({CITIZEN}), {}),
    "refresh": (frozenset({CITIZEN}), {}),
    "leave": (frozenset({CITIZEN}), {}),
    "notify": (frozenset({CITIZEN}), {
        "phone": _f(str, required=True, max_len=24),
        "lang": _f(str, max_len=2, choices=("vi", "en")),
    }),
    "notify_off": (frozenset({CITIZEN}), {}),
}

HELLO_FIELDS: dict[str, Field] = {
    "role": _f(str, required=True, max_len=20),
    "device": _f(str, required=True, max_len=80),
    "token": _f(str, required=True, max_len=200),
    "protocol": _f(int, required=True),
    "counter": _f(int),
    "session": _f(str, max_len=100),
}

_COUNTER_EVENTS = {"counter_opened", "counter_closed", "counter_paused", "counter_resumed"}
_TICKET_MOVES = {"ticket_called", "service_started", "ticket_finished", "ticket_no_show",
                 "ticket_transferred", "ticket_requeued", "ticket_cancelled", "ticket_expired"}

#: Which roles receive each broadcast event. Kiosks and displays get only what
#: they draw, so a busy kiosk hour doesn't flood 500 screens.
AUDIENCE: dict[str, frozenset[str]] = {
    **{e: frozenset({"display", "counter", "admin"}) for e in _TICKET_MOVES},
    **{e: frozenset({"display", "counter", "admin", "rating"}) for e in _COUNTER_EVENTS},
    "ticket_issued": frozenset({"counter", "admin"}),
    "queue_changed": ANY,
    "day_started": ANY,
    "visit_ended": frozenset({"rating", "counter", "admin"}),
    "visit_rated": frozenset({"rating", "counter", "admin"}),
    "printer_fault": frozenset({"admin"}),
    "printer_ok": frozenset({"admin"}),
    "login_locked": frozenset({"admin"}),
    "voice_fault": frozenset({"admin"}),
    "voice_ok": frozenset({"admin"}),
    "config_changed": ANY,
    "officer_pin_changed": frozenset({"admin"}),
    "device_enrolled": frozenset({"admin"}),
    "device_revoked": frozenset({"admin"}),
    "bookings_added": frozenset({"admin"}),
    "bookings_lapsed": frozenset({"admin"}),
}

#: Events that concern one counter: rating pads hear only their own counter's.
PER_COUNTER = _COUNTER_EVENTS | {"visit_ended", "visit_rated"}

#: What a display may say stopped its voice (``voice_status``): the speech
#: program or its voice is missing, no sound output, the program hung, other.
VOICE_PROBLEMS = ("no_engine", "no_audio", "timeout", "error")


def check_voice_status(fields: dict[str, Any]) -> dict[str, Any]:
    """``voice_status`` beyond types and lengths: a fault names one of
    :data:`VOICE_PROBLEMS`; a recovery names none."""
    problem = fields.get("problem")
    if fields["ok"]:
        if problem is not None:
            raise ProtocolError("bad_field", field="problem",
                                problem="chỉ khi ok là false / only when ok is false")
    elif problem not in VOICE_PROBLEMS:
        raise ProtocolError("bad_field", field="problem",
                            problem="một trong / one of " + ", ".join(VOICE_PROBLEMS))
    return fields


def decode(raw: str | bytes, limit: int | None = MAX_MESSAGE_BYTES) -> dict[str, Any]:
    """Parse one frame into a message dict with a string ``type``. ``limit``
    bounds what a client may send; the server's own snapshots are larger."""
    size = len(raw)
    if limit is not None and size > limit:
        raise ProtocolError("too_large", size=size, limit=MAX_MESSAGE_BYTES)
    try:
        # Refuses lone surrogates ("\ud800"), which could be neither stored
        # nor sent back, as well as NaN, Infinity and absurd nesting.
        msg = orjson.loads(raw)
    except (orjson.JSONDecodeError, UnicodeEncodeError):
        raise ProtocolError("bad_json") from None
    if not isinstance(msg, dict):
        raise ProtocolError("not_object")
    if not isinstance(msg.get("type"), str):
        raise ProtocolError("no_type")
    return msg


def reply_id(msg: dict[str, Any]) -> str | int | None:
    """The command's ``id`` a reply echoes as ``re``: a string or integer of
    at most 80 characters, else none."""
    re = msg.get("id")
    if not isinstance(re, (str, int)) or isinstance(re, bool) or len(str(re)) > 80:
        return None
    return re


def check_fields(msg: dict[str, Any], fields: dict[str, Field]) -> dict[str, Any]:
    """Return the known fields of ``msg`` after type and length checks."""
    out: dict[str, Any] = {}
    for name, spec in fields.items():
        value = msg.get(name)
        if value is None:
            if spec.required:
                raise ProtocolError("bad_field", field=name, problem="bắt buộc / required")
            continue
        if isinstance(value, bool) and bool not in spec.kinds:
            raise ProtocolError("bad_field", field=name, problem="sai kiểu / wrong type")
        if not isinstance(value, spec.kinds):
            raise ProtocolError("bad_field", field=name, problem="sai kiểu / wrong type")
        if isinstance(value, str) and len(value) > spec.max_len:
            raise ProtocolError("bad_field", field=name,
                                problem=f"dài quá {spec.max_len} / longer than {spec.max_len}")
        if isinstance(value, int) and not isinstance(value, bool) and not (-2**31 < value < 2**31):
            raise ProtocolError("bad_field", field=name, problem="ngoài phạm vi / out of range")
        if spec.choices is not None and value not in spec.choices:
            raise ProtocolError("bad_field", field=name,
                                problem="một trong / one of " + ", ".join(spec.choices))
        out[name] = value
    return out


def check_command(msg: dict[str, Any], role: str) -> tuple[str, dict[str, Any]]:
    """Validate a command for a role; return its name and checked fields."""
    kind = msg["type"]
    if kind == "hello":
        raise ProtocolError("already_hello")
    spec = (CITIZEN_COMMANDS if role == CITIZEN else COMMANDS).get(kind)
    if spec is None:
        if kind in COMMANDS or kind in CITIZEN_COMMANDS:
            raise ProtocolError("forbidden", role=role, type=kind)
        raise ProtocolError("unknown_type", type=kind[:40])
    roles, fields = spec
    if role not in roles:
        raise ProtocolError("forbidden", role=role, type=kind)
    return kind, check_fields(msg, fields)


def check_hello(msg: dict[str, Any]) -> dict[str, Any]:
    """Validate the first message of a connection."""
    if msg.get("type") != "hello":
        raise ProtocolError("hello_required")
    hello = check_fields(msg, HELLO_FIELDS)
    if hello["role"] not in ROLES and hello["role"] != CITIZEN:
        raise ProtocolError("bad_role", role=hello["role"][:20])
    if hello["protocol"] != PROTOCOL_VERSION:
        raise ProtocolError("protocol_version", version=hello["protocol"],
                            supported=PROTOCOL_VERSION)
    return hello


def encode(msg: dict[str, Any]) -> bytes:
    """Serialise a message: compact UTF-8 JSON, to be sent as a *text* frame
    (``ws.send(data, text=True)``)."""
    return orjson.dumps(msg, option=orjson.OPT_NON_STR_KEYS)


def encode_text(value: Any) -> str:
    """JSON as ``str`` (UTF-8 kept readable), for the database's TEXT columns."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode("utf-8")


def error(code: str, message: str, message_en: str = "", re: Any = None,
          **params: Any) -> dict[str, Any]:
    """An error reply: a stable code and plain words in both languages."""
    msg: dict[str, Any] = {"type": "error", "code": code, "message": message,
                           "message_en": message_en or message}
    if re is not None:
        msg["re"] = re
    if params:
        msg["params"] = params
    return msg
