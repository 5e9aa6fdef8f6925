"""The queue logic of a service center: pure, synchronous and clock-injected.

Nothing here does I/O or imports asyncio, websockets, aiosqlite or Textual.
A command mutates the in-memory state and returns an :class:`Outcome` that
lists the events it produced and the rows it touched; the server persists
those rows and events in one transaction before anybody is told. Time comes
from the injected ``clock`` so a whole day can be simulated in milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable

from motcua.protocol import PRINTER_PROBLEMS

from . import booking as bk
from .calling import (FRONT_BAND, NORMAL_BAND, overdue_seconds, rank, takes_booked,
                      takes_priority)
from .config import SIPAS_CRITERIA, WEEKDAYS, CenterConfig
from .estimate import Estimate, Estimator
from .live_config import ChangeError, LiveConfig, due_reopenings, next_reopening

Clock = Callable[[], datetime]

WAITING, CALLED, SERVING = "waiting", "called", "serving"
DONE, NO_SHOW, CANCELLED, EXPIRED = "done", "no_show", "cancelled", "expired"
ACTIVE = (WAITING, CALLED, SERVING)
FINAL = (DONE, NO_SHOW, CANCELLED, EXPIRED)

OPEN, PAUSED, CLOSED = "open", "paused", "closed"

# Every refusal the core can give: a stable code with a Vietnamese and an
# English message (``str.format`` fields filled from the error's params).
ERRORS: dict[str, tuple[str, str]] = {
    "unknown_department": ("Không có lĩnh vực {department}.", "There is no department {department}."),
    "department_closed": ("Lĩnh vực {name} hiện tạm ngừng nhận hồ sơ.", "{name_en} is not taking tickets right now."),
    "unknown_procedure": ("Không có thủ tục {procedure} trong lĩnh vực này.", "Procedure {procedure} does not belong to this department."),
    "unknown_priority": ("Không có nhóm ưu tiên {priority}.", "There is no priority group {priority}."),
    "closed_today": ("Hôm nay Trung tâm không làm việc.", "The center is closed today."),
    "before_hours": ("Trung tâm bắt đầu phát số lúc {opens}.", "Tickets are issued from {opens}."),
    "after_hours": ("Đã hết giờ phát số hôm nay (phát số đến {last_ticket}).", "No more tickets today (last ticket at {last_ticket})."),
    "daily_cap": ("Lĩnh vực {name} đã hết số hôm nay ({cap} số).", "{name_en} has issued all {cap} tickets for today."),
    "numbers_exhausted": ("Lĩnh vực {name} đã dùng hết số thứ tự hôm nay.", "{name_en} has used every number for today."),
    "unknown_counter": ("Không có quầy số {counter}.", "There is no counter {counter}."),
    "unknown_officer": ("Sai mã cán bộ hoặc mã PIN.", "Wrong officer ID or PIN."),
    "officer_elsewhere": ("Cán bộ {officer} đang phục vụ ở quầy {other}.", "Officer {officer} is serving at counter {other}."),
    "not_logged_in": ("Quầy {counter} chưa có cán bộ đăng nhập.", "No officer is logged in at counter {counter}."),
    "counter_paused": ("Quầy {counter} đang tạm dừng.", "Counter {counter} is paused."),
    "counter_not_paused": ("Quầy {counter} không tạm dừng.", "Counter {counter} is not paused."),
    "counter_busy": ("Quầy {counter} đang phục vụ số {number}; hãy kết thúc trước.", "Counter {counter} is still on ticket {number}; finish it first."),
    "no_current_ticket": ("Quầy {counter} chưa gọi số nào.", "Counter {counter} has no current ticket."),
    "nobody_waiting": ("Không còn ai chờ ở các lĩnh vực của quầy {counter}.", "Nobody is waiting for counter {counter}."),
    "held_elsewhere": ("Số {number} đang được gọi ở quầy {other}.", "Ticket {number} is being called at counter {other}."),
    "unknown_ticket": ("Không có số {number} hôm nay.", "There is no ticket {number} today."),
    "not_served_here": ("Quầy {counter} không phục vụ lĩnh vực của số {number}.", "Counter {counter} does not serve ticket {number}'s department."),
    "wrong_state": ("Số {number} đang ở trạng thái {status}, không thể {action}.", "Ticket {number} is {status_en}; cannot {action_en}."),
    "same_department": ("Số {number} đã ở lĩnh vực này.", "Ticket {number} is already in that department."),
    "unknown_visit": ("Không tìm thấy lượt phục vụ để đánh giá.", "No such visit to rate."),
    "visit_not_ended": ("Lượt phục vụ chưa kết thúc.", "The visit has not ended yet."),
    "rating_window_closed": ("Đã hết thời gian đánh giá lượt phục vụ này.", "The time to rate this visit has passed."),
    "already_rated": ("Lượt phục vụ này đã được đánh giá.", "This visit has already been rated."),
    "bad_rating": ("Mức đánh giá {value} không hợp lệ.", "Rating {value} is not on the scale."),
    "bad_reason": ("Lý do {reason} không hợp lệ.", "Reason {reason} is not one of the criteria."),
    "reason_not_allowed": ("Chỉ đánh giá chưa hài lòng mới cần lý do.", "Only a negative rating takes a reason."),
    "request_reused": ("Mã yêu cầu {request_id} đã dùng cho một yêu cầu khác.", "Request id {request_id} was already used for a different request."),
    "not_this_counter": ("Lượt phục vụ này không thuộc quầy {counter}.", "That visit was not served at counter {counter}."),
    # Appointments (server/booking.py).
    "unknown_booking": ("Không tìm thấy lịch hẹn mã {booking}. Xin kiểm tra lại mã.", "There is no booking {booking}. Please check the code."),
    "booking_other_day": ("Lịch hẹn này vào ngày {day} lúc {slot}, không phải hôm nay.", "This booking is for {day} at {slot}, not today."),
    "booking_too_early": ("Lịch hẹn lúc {slot}. Xin quay lại lấy số từ {come}.", "Your booking is at {slot}. Please come back from {come}."),
    "booking_late": ("Lịch hẹn lúc {slot} đã quá {grace} phút; xin lấy số thường.", "Your {slot} booking is more than {grace} minutes late; please take a normal ticket."),
    "booking_used": ("Lịch hẹn này đã nhận số {number}.", "This booking already has ticket {number}."),
    "bookings_invalid": ("Có {count} lỗi trong các lịch hẹn; không lịch hẹn nào được nhập.", "{count} problems in the bookings; none was imported."),
    # Administration (live changes, devices, accounts).
    "bad_value": ("Giá trị {field} không hợp lệ: {problem}.", "Invalid {field}: {problem}."),
    "bad_time": ("Giờ {until} đã qua; hãy chọn giờ muộn hơn hôm nay.", "{until} has passed; choose a later time today."),
    "no_change": ("Không có gì thay đổi.", "Nothing would change."),
    "config_invalid": ("Thay đổi làm cấu hình không hợp lệ ({path}: {problem}).", "The change would make the configuration invalid ({path}: {problem})."),
    "officer_exists": ("Đã có cán bộ mã {officer}.", "There is already an officer {officer}."),
    "no_such_officer": ("Không có cán bộ mã {officer}.", "There is no officer {officer}."),
    "wrong_pin": ("Mã PIN hiện tại không đúng.", "The current PIN is wrong."),
    "device_exists": ("Đã có thiết bị tên {device}; thu hồi trước khi cấp lại.", "There is already a device {device}; revoke it before enrolling it again."),
    "unknown_device": ("Không có thiết bị tên {device}.", "There is no device {device}."),
    "device_revoked_already": ("Thiết bị {device} đã bị thu hồi.", "Device {device} is already revoked."),
    "manager_exists": ("Đã có tài khoản quản lý {manager}.", "There is already a manager {manager}."),
    "unknown_manager": ("Sai mã quản lý hoặc mật khẩu.", "Wrong manager ID or password."),
}

#: The commands :meth:`QueueCore.execute` accepts.
COMMANDS = frozenset({
    "tick", "issue", "login", "logout", "pause", "resume", "call_next", "call_ticket",
    "recall", "start", "finish", "no_show", "requeue", "transfer", "cancel", "rate",
    "printer_status", "voice_status", "audit", "configure", "set_pin",
    "add_bookings", "check_in",
})

#: What :meth:`QueueCore.audit` records: security events that change no queue
#: state but belong in the log (who tried what, from where).
AUDIT_EVENTS = frozenset({"login_failed", "login_locked", "session_ended",
                          "device_enrolled", "device_revoked", "manager_logged_in",
                          "manager_logged_out", "manager_login_failed", "manager_added",
                          "manager_changed"})

#: The voice statuses kept (one per display device; a display that reports
#: under ever new names must not grow memory and snapshots without bound).
MAX_VOICE_DEVICES = 64

STATUS_VI = {WAITING: "đang chờ", CALLED: "đã gọi", SERVING: "đang phục vụ", DONE: "đã xong",
             NO_SHOW: "vắng mặt", CANCELLED: "đã hủy", EXPIRED: "hết hạn"}


class QueueError(Exception):
    """A refused command, with a stable ``code`` and plain messages."""

    outcome: "Outcome | None" = None

    def __init__(self, code: str, **params: Any) -> None:
        self.code = code
        self.params = params
        vi, en = ERRORS[code]
        self.message = vi.format(**params)
        self.message_en = en.format(**params)
        super().__init__(self.message)


@dataclass
class Ticket:
    id: int
    day: str
    number: str
    department: str
    procedure: str | None
    priority: str | None
    status: str
    issued_at: float
    device: str | None
    request_id: str | None
    band: int
    queued_at: float
    counter: int | None = None
    officer: str | None = None
    called_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    recalls: int = 0
    transfers: int = 0
    note: str | None = None
    visit_id: int | None = None
    #: The booking this ticket was checked in from (its code), if any.
    booking: str | None = None
    #: A booked ticket's slot start (epoch): it is due then, and called ahead
    #: of walk-ins (bounded; see calling.takes_booked). None for walk-ins,
    #: a booking checked in too late, and after a transfer.
    slot: float | None = None

    @property
    def key(self) -> tuple[int, float, int]:
        """Position in its department's queue: lower is called sooner."""
        return (self.band, self.queued_at, self.id)


@dataclass
class Visit:
    """One service episode of a ticket at one counter, from call to end."""

    id: int
    ticket_id: int
    number: str
    day: str
    counter: int
    officer: str | None
    department: str
    procedure: str | None
    called_at: float
    started_at: float | None = None
    ended_at: float | None = None
    outcome: str | None = None  # served | transferred | no_show | requeued | cancelled
    rated: int | None = None


@dataclass
class Rating:
    visit_id: int
    ticket_id: int
    day: str
    counter: int
    officer: str | None
    department: str
    procedure: str | None
    value: int
    reason: str | None
    at: float
    device: str | None
    request_id: str | None


@dataclass
class CounterState:
    number: int
    status: str = CLOSED
    officer: str | None = None
    reason: str | None = None
    ticket_id: int | None = None
    since: float = 0.0
    priority_streak: int = 0
    #: A digest of the secret of the login session that holds the counter
    #: (the server makes the secret; only its digest is kept). None: nobody.
    session: str | None = None
    #: Booked calls in a row (see calling.takes_booked).
    booked_streak: int = 0


@dataclass
class Event:
    """One entry of the audit log; the protocol's AUDIENCE says who hears of it."""

    type: str
    at: float
    ticket_id: int | None = None
    counter: int | None = None
    officer: str | None = None
    device: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    day: str = ""  # the day it counts for (an expiry at rollover: the day before)


@dataclass
class Outcome:
    """What a command did: its events, the rows to persist, and its result."""

    events: list[Event] = field(default_factory=list)
    tickets: set[int] = field(default_factory=set)
    counters: set[int] = field(default_factory=set)
    visits: set[int] = field(default_factory=set)
    ratings: list[Rating] = field(default_factory=list)
    departments: set[str] = field(default_factory=set)
    result: dict[str, Any] = field(default_factory=dict)
    changed: bool = True
    #: Keys of :class:`Meta` this command changed (only those are rewritten).
    meta: set[str] = field(default_factory=set)
    #: The configuration's new versions, when the command changed it (each
    #: stored with its event; every client is sent the new public configuration).
    versions: list[LiveConfig] = field(default_factory=list)
    #: Officers whose PIN hash the command changed.
    pins: set[str] = field(default_factory=set)
    #: Codes of the bookings the command added or changed.
    bookings: set[str] = field(default_factory=set)


@dataclass
class Meta:
    """Small running state, persisted one row per field (only the fields a
    command changed are written)."""

    day: str = ""
    seq: dict[str, int] = field(default_factory=dict)
    next_ticket: int = 1
    next_visit: int = 1
    #: No longer used (the estimator keeps its own state); kept so that
    #: running state saved by older versions still loads.
    avg_service: dict[str, float] = field(default_factory=dict)
    recent_calls: list[dict[str, Any]] = field(default_factory=list)
    expired_today: bool = False
    printers: dict[str, dict[str, Any]] = field(default_factory=dict)
    voices: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: What the wait estimator has learned, as JSON text (see :mod:`estimate`).
    estimator: Any = None


#: A center has a handful of kiosks; device names are the device's own claim,
#: so the list of printers they report is bounded (oldest healthy ones go first).
MAX_PRINTERS = 64


class QueueCore:
    """The state of one center and every command that changes it."""

    def __init__(self, config: CenterConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.meta = Meta()
        self.tickets: dict[int, Ticket] = {}
        self.by_number: dict[tuple[str, str], int] = {}
        # Idempotency keys are scoped to a day, in memory as on disk:
        # (day, device, request_id) -> ticket id.
        self.by_request: dict[tuple[str, str | None, str], int] = {}
        self.visits: dict[int, Visit] = {}
        self.ratings: dict[int, Rating] = {}
        #: Bookings of today and later days, by code.
        self.bookings: dict[str, bk.Booking] = {}
        # Waiting tickets per department, for counting and picking.
        self.waiting: dict[str, dict[int, Ticket]] = {d.code: {} for d in config.departments}
        # Kept alongside ``waiting`` so a busy hour costs O(1) per ticket,
        # not a scan of the whole queue.
        self._prio_waiting: dict[str, int] = {d.code: 0 for d in config.departments}
        #: Booked tickets waiting, per department: the call rule looks at
        #: bookings only where there are some.
        self._booked_waiting: dict[str, int] = {d.code: 0 for d in config.departments}
        self._oldest: dict[str, float | None] = {}
        self._capacity: dict[str, tuple[float, int]] = {}  # cleared when a counter changes
        self.counters: dict[int, CounterState] = {
            c.number: CounterState(c.number) for c in config.counters
        }
        self.stats: dict[str, int] = {"issued": 0, "served": 0}
        self._out: Outcome | None = None
        self._day_bounds: tuple[float, float, str] = (0.0, 0.0, "")
        #: The configuration as stored (its document, PINs and version); made
        #: from ``config`` when first needed unless the server sets it.
        self.live: LiveConfig | None = None
        self._next_reopen = next_reopening(config)
        self._attach_estimator()

    def _attach_estimator(self) -> None:
        self.estimator = Estimator(self, self.meta.estimator)
        self.meta.estimator = self.estimator.saved()

    # --- dispatch -------------------------------------------------------

    def execute(self, command: str, **kwargs: Any) -> Outcome:
        """Run a command by name. A refused command may still have rolled
        the day over first: that partial outcome rides on the error as
        ``error.outcome`` so the caller can persist it."""
        if command not in COMMANDS:
            raise ValueError(f"unknown command {command!r}")
        self._out = None
        try:
            out = getattr(self, command)(**kwargs)
        except QueueError as e:
            partial = self._out
            e.outcome = partial if partial is not None and partial.events else None
            raise
        self._save_estimator(out)
        return out

    def _save_estimator(self, out: Outcome) -> None:
        """Persist what the estimator learned when its saved text is renewed
        (it renews it every little while, not with every command)."""
        saved = self.estimator.saved()
        if saved is not self.meta.estimator:
            self.meta.estimator = saved
            out.meta.add("estimator")

    # --- loading --------------------------------------------------------

    def load(self, meta: dict[str, Any] | None, tickets: Iterable[Ticket],
             counters: Iterable[CounterState], visits: Iterable[Visit],
             ratings: Iterable[Rating], bookings: Iterable[bk.Booking] = ()) -> None:
        """Restore state saved by the server (rows from its tables)."""
        for b in bookings:
            self.bookings[b.code] = b
        if meta:
            self.meta = Meta(**meta)
            self._attach_estimator()
        for t in tickets:
            self._index(t)
        for c in counters:
            if c.number in self.counters:
                self.counters[c.number] = c
        self._capacity.clear()
        for v in visits:
            self.visits[v.id] = v
        for r in ratings:
            self.ratings[r.visit_id] = r
        for t in self.tickets.values():
            if t.day == self.meta.day:
                self.stats["issued"] += 1
                self.stats["served"] += t.status == DONE

    def merge_bookings(self, bookings: Iterable[bk.Booking]) -> int:
        """Add bookings written by another process (``motcua bookings
        import`` beside a running server); those already known are kept as
        they are in memory. Returns how many were new."""
        n = 0
        for b in bookings:
            if b.code not in self.bookings:
                self.bookings[b.code] = b
                n += 1
        return n

    def _index(self, t: Ticket) -> None:
        self.tickets[t.id] = t
        self.by_number[(t.day, t.number)] = t.id
        if t.request_id:
            self.by_request[(t.day, t.device, t.request_id)] = t.id
        if t.status == WAITING and t.department in self.waiting:
            self._add_waiting(t)

    def _add_waiting(self, t: Ticket) -> None:
        self.waiting[t.department][t.id] = t
        self.estimator.queued(t)
        if t.priority:
            self._prio_waiting[t.department] += 1
        if t.slot is not None:
            self._booked_waiting[t.department] += 1
        oldest = self._oldest.get(t.department, "unknown")
        if oldest != "unknown":
            self._oldest[t.department] = t.queued_at if oldest is None else min(oldest, t.queued_at)

    def meta_dict(self) -> dict[str, Any]:
        """The running state to persist (shallow: json encodes the rest).
        The estimator's part is its saved text, refreshed every little while
        rather than encoded afresh with every commit."""
        self.meta.estimator = self.estimator.saved()
        return dict(self.meta.__dict__)

    def _touch(self, *keys: str) -> None:
        """Mark fields of the meta state as changed by the current command."""
        if self._out is not None:
            self._out.meta.update(keys)

    # --- helpers --------------------------------------------------------

    def _now(self) -> tuple[float, datetime]:
        now = self.clock()
        if now.tzinfo is None:
            raise ValueError("the clock must return an aware datetime")
        return now.timestamp(), now.astimezone(self.config.tz)

    def _begin(self) -> tuple[Outcome, float, datetime]:
        ts, local = self._now()
        self._out = Outcome()
        self.estimator.changed()
        self._rollover(ts, local)
        if self._next_reopen is not None and ts >= self._next_reopen:
            self._reopen_due(ts, local)
        return self._out, ts, local

    def _emit(self, type_: str, at: float, *, ticket: Ticket | None = None,
              counter: int | None = None, officer: str | None = None,
              device: str | None = None, **data: Any) -> None:
        out = self._out
        assert out is not None
        ev = Event(type_, at, ticket.id if ticket else None, counter, officer, device, data,
                   self.meta.day)
        out.events.append(ev)
        self.estimator.observe(type_, at, ticket, counter, data)
        if ticket is not None:
            out.tickets.add(ticket.id)
            out.departments.add(ticket.department)
        if counter is not None:
            out.counters.add(counter)

    def _counter(self, number: int) -> CounterState:
        state = self.counters.get(number)
        if state is None:
            raise QueueError("unknown_counter", counter=number)
        return state

    def _staffed(self, number: int) -> CounterState:
        state = self._counter(number)
        if state.officer is None:
            raise QueueError("not_logged_in", counter=number)
        return state

    def _current(self, state: CounterState) -> Ticket:
        if state.ticket_id is None:
            raise QueueError("no_current_ticket", counter=state.number)
        return self.tickets[state.ticket_id]

    def _ticket(self, number: str) -> Ticket:
        tid = self.by_number.get((self.meta.day, number.strip().upper()))
        if tid is None:
            raise QueueError("unknown_ticket", number=number)
        return self.tickets[tid]

    @staticmethod
    def _wrong(t: Ticket, action: str, action_en: str) -> QueueError:
        return QueueError("wrong_state", number=t.number, status=STATUS_VI[t.status],
                          status_en=t.status.replace("_", "-"), action=action,
                          action_en=action_en)

    def _held_by(self, t: Ticket, counter: int | None) -> int | None:
        """The counter holding a called ticket. A counter may not take over a
        ticket another counter holds; an admin (``counter`` None) may."""
        held = t.counter if t.status == CALLED else None
        if held is not None and counter is not None and held != counter:
            raise QueueError("held_elsewhere", number=t.number, other=held)
        return held

    def _check_serves(self, counter: int | None, t: Ticket) -> None:
        """A counter acts only on tickets of the departments it serves (or the
        ticket it is calling); an admin (``counter`` None) on any."""
        if counter is None or (t.status == CALLED and t.counter == counter):
            return
        if t.department not in self._counter_depts(counter):
            raise QueueError("not_served_here", counter=counter, number=t.number)

    def _enqueue(self, t: Ticket, placement: str, ts: float) -> None:
        """Put a ticket (back) into its department's queue."""
        t.status = WAITING
        t.counter = None
        t.officer = None
        t.visit_id = None
        if placement == "front":
            t.band, t.queued_at = FRONT_BAND, ts
        elif placement == "back":
            t.band, t.queued_at = NORMAL_BAND, ts
        else:  # original: its first place in line (a booking's: its slot)
            t.band, t.queued_at = NORMAL_BAND, t.slot if t.slot is not None else t.issued_at
        self._add_waiting(t)

    def _dequeue(self, t: Ticket) -> None:
        if self.waiting[t.department].pop(t.id, None) is not None:
            self.estimator.dequeued(t)
            if t.priority:
                self._prio_waiting[t.department] -= 1
            if t.slot is not None:
                self._booked_waiting[t.department] -= 1
            if self._oldest.get(t.department) == t.queued_at:
                self._oldest.pop(t.department)  # recomputed when next asked

    def _end_visit(self, t: Ticket, ts: float, outcome: str) -> Visit | None:
        if t.visit_id is None:
            return None
        v = self.visits[t.visit_id]
        v.ended_at = ts
        v.outcome = outcome
        if v.started_at is None and outcome in ("served", "transferred"):
            v.started_at = v.called_at
        assert self._out is not None
        self._out.visits.add(v.id)
        return v

    def _free_counter(self, t: Ticket) -> None:
        if t.counter is not None and t.counter in self.counters:
            state = self.counters[t.counter]
            if state.ticket_id == t.id:
                state.ticket_id = None
                assert self._out is not None
                self._out.counters.add(state.number)

    def _record_call(self, t: Ticket, ts: float) -> None:
        call = {"ticket_id": t.id, "number": t.number, "counter": t.counter,
                "department": t.department, "at": ts, "recall": t.recalls}
        calls = [c for c in self.meta.recent_calls if c["ticket_id"] != t.id]
        self.meta.recent_calls = [call, *calls][: self.config.queue.recent_calls]
        self._touch("recent_calls")

    # --- day handling ---------------------------------------------------

    def _local_day(self, ts: float, local: datetime) -> str:
        """The local date of ``ts`` (cached for the day: every command asks)."""
        start, end, iso = self._day_bounds
        if start <= ts < end:
            return iso
        day = local.date()
        tz = self.config.tz
        start = datetime.combine(day, datetime.min.time(), tz).timestamp()
        end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tz).timestamp()
        self._day_bounds = (start, end, day.isoformat())
        return day.isoformat()

    def _rollover(self, ts: float, local: datetime) -> None:
        today = self._local_day(ts, local)
        if today <= self.meta.day:
            # Same day — or the clock stepped back over midnight (an NTP
            # correction): never start a day twice, numbers would repeat.
            self._expire_if_due(ts, local)
            return
        previous = self.meta.day
        # Only tickets already final before this rollover leave memory now:
        # the ones it expires must stay until this outcome is persisted.
        stale = [tid for tid, t in self.tickets.items() if t.day != today and t.status in FINAL]
        if previous:
            self._expire(ts, (WAITING, CALLED), previous)
        self.meta.day = today
        self.meta.seq = {}
        self.meta.recent_calls = []
        self.meta.expired_today = False
        self._touch("day", "seq", "recent_calls", "expired_today")
        self.stats = {"issued": 0, "served": 0}
        for state in self.counters.values():
            state.priority_streak = 0
            state.booked_streak = 0
        # Bookings of earlier days never checked in have lapsed (kept in
        # memory until this is saved; gone at the next day's start).
        lapsed: dict[str, int] = {}
        for code, b in list(self.bookings.items()):
            if b.day >= today:
                continue
            if b.status == bk.BOOKED:
                self.bookings[code] = bk.with_status(b, bk.LAPSED, None, None)
                self._out.bookings.add(code)
                lapsed[b.day] = lapsed.get(b.day, 0) + 1
            else:
                del self.bookings[code]
        # Final tickets of earlier days are in the database; keep memory to today.
        for tid in stale:
            t = self.tickets.pop(tid)
            self.by_number.pop((t.day, t.number), None)
            if t.request_id:
                self.by_request.pop((t.day, t.device, t.request_id), None)
        # Keep today's visits, the ones this outcome must still save, those
        # of tickets still at a counter (served across midnight), and those
        # that may still be rated (a visit that ended at 23:59:30 can be
        # rated at 00:00:10), with their ratings.
        keep = set(self._out.visits if self._out is not None else ())
        keep |= {t.visit_id for t in self.tickets.values() if t.status in ACTIVE and t.visit_id}
        window = self.config.rating_window_seconds
        keep |= {vid for vid, v in self.visits.items()
                 if v.ended_at is not None and ts - v.ended_at <= window}
        self.visits = {vid: v for vid, v in self.visits.items() if v.day == today or vid in keep}
        self.ratings = {vid: r for vid, r in self.ratings.items()
                        if r.day == today or vid in self.visits}
        self._emit("day_started", ts, day=today, previous=previous or None)
        for day, n in sorted(lapsed.items()):
            self._emit("bookings_lapsed", ts, day=day, lapsed=n)
        self._expire_if_due(ts, local)

    def _expire_if_due(self, ts: float, local: datetime) -> None:
        at = self.config.queue.expire_waiting_at
        if at is None or self.meta.expired_today or local.time() < at:
            return
        self.meta.expired_today = True
        self._touch("expired_today")
        self._expire(ts, (WAITING,), self.meta.day)

    def _expire(self, ts: float, statuses: tuple[str, ...], day: str) -> None:
        for t in list(self.tickets.values()):
            if t.day == day and t.status in statuses:
                self._dequeue(t)
                self._end_visit(t, ts, "expired")
                self._free_counter(t)
                t.status = EXPIRED
                t.finished_at = ts
                self._emit("ticket_expired", ts, ticket=t)

    def tick(self) -> Outcome:
        """Apply time-driven changes (day rollover, end-of-day expiry)."""
        out, _, _ = self._begin()
        out.changed = bool(out.events)
        return out

    def audit(self, kind: str, counter: int | None = None, officer: str | None = None,
              device: str | None = None, **data: Any) -> Outcome:
        """Record a security event (a wrong PIN, a lock-out, a session taken
        over) in the log; the queue is unchanged."""
        if kind not in AUDIT_EVENTS:
            raise ValueError(f"not an audit event: {kind!r}")
        out, ts, _ = self._begin()
        self._emit(kind, ts, counter=counter, officer=officer, device=device, **data)
        out.counters.discard(counter)  # nothing about the counter changed
        out.result = {}
        return out

    # --- live configuration ---------------------------------------------

    def live_config(self) -> LiveConfig:
        """The stored form of the configuration the core runs on."""
        if self.live is None:
            self.live = LiveConfig.of(self.config)
        return self.live

    def configure(self, change: dict[str, Any], by: str | None = None,
                  reason: str | None = None, device: str | None = None) -> Outcome:
        """Change the configuration while the center runs (a department
        closed, a cap, a counter's departments, the notice, an officer): the
        next version, logged as ``config_changed`` with who and why."""
        out, ts, local = self._begin()
        try:
            nxt, record = self.live_config().apply(change, local)
        except ChangeError as e:
            raise QueueError(e.code, **e.params) from None
        self._reconfigure(nxt, record)
        self._emit("config_changed", ts, device=device, version=nxt.version, change=record,
                   by=by, reason=(reason or "").strip()[:200] or None)
        out.result = {"version": nxt.version, "change": record}
        return out

    def _reconfigure(self, nxt: LiveConfig, record: dict[str, Any]) -> None:
        out = self._out
        assert out is not None
        before = {c.number: c.departments for c in self.config.counters}
        old_pins = self.live_config().pins
        out.pins.update(o for o, h in nxt.pins.items() if old_pins.get(o) != h)
        self.live = nxt
        self.config = nxt.config()
        out.versions.append(nxt)
        self._capacity.clear()
        self._next_reopen = next_reopening(self.config)
        if record.get("department"):
            out.departments.add(record["department"])
        if record.get("kind") == "set_counter_departments":
            out.departments.update(before.get(record["counter"], ()), record["departments"])
            out.counters.add(record["counter"])

    def _reopen_due(self, ts: float, local: datetime) -> None:
        """Reopen the departments whose closure ran out (closed for the day,
        or until a time)."""
        for code in due_reopenings(self.config, ts):
            nxt, record = self.live_config().apply(
                {"kind": "open_department", "department": code}, local)
            record["scheduled"] = True
            self._reconfigure(nxt, record)
            self._emit("config_changed", ts, version=nxt.version, change=record, by=None,
                       reason=None)
        self._next_reopen = next_reopening(self.config)

    def set_pin(self, officer: str, pin_hash: str, by: str | None = None,
                device: str | None = None, counter: int | None = None) -> Outcome:
        """Replace an officer's PIN hash (the caller hashed the new PIN and,
        for an officer's own change, checked the old one)."""
        out, ts, _ = self._begin()
        if self.config.officer(officer) is None:
            raise QueueError("no_such_officer", officer=officer)
        nxt = self.live_config().with_pin(officer, pin_hash)
        self.live = nxt
        self.config = nxt.config()
        out.pins.add(officer)
        self._emit("officer_pin_changed", ts, officer=officer, device=device, counter=counter,
                   by=by, own=by == officer)
        out.counters.discard(counter)  # nothing about the counter changed
        out.result = {"officer": officer}
        return out

    # --- issuing --------------------------------------------------------

    def issue(self, department: str, procedure: str | None = None, priority: str | None = None,
              device: str | None = None, request_id: str | None = None) -> Outcome:
        """Issue a ticket. A ``request_id`` a device already used today returns
        that same ticket (a retry), provided it asks for the same thing."""
        out, ts, local = self._begin()
        if request_id is not None:
            tid = self.by_request.get((self.meta.day, device, request_id))
            if tid is not None:
                t = self.tickets[tid]
                if not self._same_request(t, department, procedure, priority):
                    raise QueueError("request_reused", request_id=request_id)
                out.result = {"ticket": self.ticket_view(t), "repeat": True,
                              **self._ahead_and_wait(t)}
                out.changed = bool(out.events)
                return out
        dept = self.config.department(department)
        if dept is None:
            raise QueueError("unknown_department", department=department)
        if procedure is not None:
            proc = self.config.procedure(procedure)
            if proc is None or proc.department != dept.code:
                raise QueueError("unknown_procedure", procedure=procedure)
        if priority is not None and self.config.priority_group(priority) is None:
            raise QueueError("unknown_priority", priority=priority)
        if not dept.open:
            raise QueueError("department_closed", name=dept.vi, name_en=dept.en)
        cfg = self.config
        if WEEKDAYS[local.weekday()] not in cfg.open_days:  # not strftime: no locale
            raise QueueError("closed_today")
        if local.time() < cfg.opens:
            raise QueueError("before_hours", opens=cfg.opens.strftime("%H:%M"))
        if local.time() > cfg.last_ticket:
            raise QueueError("after_hours", last_ticket=cfg.last_ticket.strftime("%H:%M"))
        seq = self.meta.seq.get(dept.code, 0) + 1
        if dept.daily_cap is not None and seq > dept.daily_cap:
            raise QueueError("daily_cap", name=dept.vi, name_en=dept.en, cap=dept.daily_cap)
        if seq > 999:
            raise QueueError("numbers_exhausted", name=dept.vi, name_en=dept.en)
        self.meta.seq[dept.code] = seq
        self._touch("seq", "next_ticket")
        t = Ticket(
            id=self.meta.next_ticket, day=self.meta.day, number=f"{dept.letter}{seq:03d}",
            department=dept.code, procedure=procedure, priority=priority, status=WAITING,
            issued_at=ts, device=device, request_id=request_id, band=NORMAL_BAND,
            queued_at=ts,
        )
        self.meta.next_ticket += 1
        self._index(t)
        self.stats["issued"] += 1
        info = self._ahead_and_wait(t)
        self._emit("ticket_issued", ts, ticket=t, device=device, **info)
        out.result = {"ticket": self.ticket_view(t), "repeat": False, **info}
        return out

    # --- appointments ---------------------------------------------------

    def add_bookings(self, rows: list[Any], source: str, by: str | None = None,
                     device: str | None = None) -> Outcome:
        """Add bookings (an import, the API): all of them, or none when any
        row is bad (``bookings_invalid`` names each, in ``params.rows``).
        Rows already booked with the very same content are left alone."""
        out, ts, local = self._begin()
        try:
            new, unchanged = bk.validate(rows, self.config, self.bookings, local, source, by)
        except bk.BookingsInvalid as e:
            raise QueueError("bookings_invalid", count=len(e.problems),
                             rows=[p.view() for p in e.problems[:200]]) from None
        for b in new:
            self.bookings[b.code] = b
            out.bookings.add(b.code)
        if new:
            # No names, phones, ID numbers or codes in the log: counts only.
            self._emit("bookings_added", ts, device=device, source=source, by=by,
                       added=len(new), unchanged=unchanged,
                       days=sorted({b.day for b in new}))
        else:
            out.changed = bool(out.events)
        out.result = {"added": len(new), "unchanged": unchanged,
                      "bookings": [b.view() for b in new]}
        return out

    def check_in(self, code: str, device: str | None = None,
                 request_id: str | None = None) -> Outcome:
        """A citizen with a booking arrives: a ticket booked for its slot (an
        early one waits until then), or a walk-in ticket when later than the
        grace (``[booking] after_grace``). A retry with the same
        ``request_id`` returns the same ticket."""
        out, ts, local = self._begin()
        norm = bk.code_from_scan(code)
        b = self.bookings.get(norm)
        if request_id is not None:
            tid = self.by_request.get((self.meta.day, device, request_id))
            if tid is not None:
                t = self.tickets[tid]
                if b is None or t.booking != b.code:
                    raise QueueError("request_reused", request_id=request_id)
                out.result = {"ticket": self.ticket_view(t), "repeat": True,
                              **self._booking_result(b, t), **self._ahead_and_wait(t)}
                out.changed = bool(out.events)
                return out
        if b is None or not norm:
            raise QueueError("unknown_booking", booking=(code or "").strip()[:20])
        if b.ticket_id is not None:
            t = self.tickets.get(b.ticket_id)
            raise QueueError("booking_used", number=t.number if t else "?")
        cfg = self.config
        dept = cfg.department(b.department)
        if dept is None:
            raise QueueError("unknown_department", department=b.department)
        if not dept.open:
            raise QueueError("department_closed", name=dept.vi, name_en=dept.en)
        if WEEKDAYS[local.weekday()] not in cfg.open_days:
            raise QueueError("closed_today")
        decision = bk.check_in(b, ts, self.meta.day, cfg.booking, cfg.tz)
        if decision.refusal:
            raise QueueError(decision.refusal, **decision.params)
        seq = self.meta.seq.get(dept.code, 0) + 1
        if seq > 999:
            raise QueueError("numbers_exhausted", name=dept.vi, name_en=dept.en)
        self.meta.seq[dept.code] = seq
        self._touch("seq", "next_ticket")
        booked = decision.kind == "booked"
        due = decision.due if booked else None
        proc = cfg.procedure(b.procedure)
        t = Ticket(
            id=self.meta.next_ticket, day=self.meta.day, number=f"{dept.letter}{seq:03d}",
            department=dept.code, procedure=b.procedure if proc else None, priority=None,
            status=WAITING, issued_at=ts, device=device, request_id=request_id,
            band=NORMAL_BAND, queued_at=due if due is not None else ts, booking=b.code,
            slot=due)
        self.meta.next_ticket += 1
        self._index(t)
        self.stats["issued"] += 1
        nb = bk.with_status(b, bk.CHECKED_IN if booked else bk.WALK_IN, t.id, ts)
        self.bookings[b.code] = nb
        out.bookings.add(b.code)
        info = self._ahead_and_wait(t)
        self._emit("ticket_issued", ts, ticket=t, device=device,
                   check_in="booked" if booked else "late", **info)
        out.result = {"ticket": self.ticket_view(t), "repeat": False,
                      **self._booking_result(nb, t), **info}
        return out

    def _booking_result(self, b: bk.Booking, t: Ticket) -> dict[str, Any]:
        """What a check-in tells the citizen besides the ticket."""
        ts, _ = self._now()
        return {"booking": {"slot": b.slot, "day": b.day, "late": t.slot is None,
                            "early": t.slot is not None and ts < t.slot,
                            "grace_minutes": self.config.booking.grace_minutes}}

    def _same_request(self, t: Ticket, department: str, procedure: str | None,
                      priority: str | None) -> bool:
        """Whether a repeated request asks for what ``t`` was issued for. A
        transfer changes the ticket's department and procedure, but its
        letter still names the department it was issued in."""
        if t.priority != priority:
            return False
        if t.transfers == 0:
            return (t.department, t.procedure) == (department, procedure)
        dept = self.config.department(department)
        return dept is not None and t.number.startswith(dept.letter)

    def _ahead_and_wait(self, t: Ticket) -> dict[str, Any]:
        """People ahead of a waiting ticket in its department, and its wait
        estimate (kept to check the estimator against the real wait)."""
        if t.status != WAITING:
            return {"ahead": 0, "wait_minutes": 0, "wait_range": [0, 0], "wait_unknown": None}
        queue = self.waiting[t.department]
        if t.band == NORMAL_BAND and t.id == next(reversed(queue)) and not (
                self.bookings and any(o.queued_at > t.queued_at for o in queue.values())):
            # The newest ticket: everyone waiting is ahead (O(1) fast path),
            # unless a booking checked in early is in line at its slot to come.
            ahead = (self._prio_waiting[t.department] if t.priority else len(queue)) - 1
        else:
            # From the estimator's sorted queues. Priority tickets overtake
            # normal ones: only priority tickets are really ahead of one (the
            # estimate accounts for the mixing).
            ahead = self.estimator.ahead(t)
        ts, _ = self._now()
        est = self.estimator.estimate(t.department, ts, t, remember=True)
        return {"ahead": ahead, **est.fields()}

    # --- wait estimates -------------------------------------------------

    def service_seconds(self, department: str, procedure: str | None = None) -> float:
        """Expected service seconds (learned; the typical minutes at first)."""
        return self.estimator.service_mean(department, procedure)

    def open_counters(self, department: str) -> int:
        """How many open counters serve a department."""
        cached = self._capacity.get(department)
        if cached is None:
            n = sum(1 for c in self.config.counters if department in c.departments
                    and self.counters[c.number].status == OPEN)
            cached = self._capacity[department] = (float(n), n)
        return cached[1]

    def estimate_wait(self, department: str) -> Estimate:
        """The wait of a normal ticket issued now in ``department``."""
        ts, _ = self._now()
        return self.estimator.estimate(department, ts)

    # --- counters and officers ------------------------------------------

    def login(self, counter: int, officer: str, device: str | None = None,
              session: str | None = None) -> Outcome:
        """Log an officer in at a counter (the PIN was checked by the caller).
        ``session`` is the digest of the new login session's secret: from now
        on only that session acts at this counter in the officer's name; a
        session that held the counter before is over (``takeover`` in the
        event)."""
        out, ts, _ = self._begin()
        state = self._counter(counter)
        who = self.config.officer(officer)
        if who is None or who.disabled:
            raise QueueError("unknown_officer")
        # Every refusal first: a refused login must change nothing.
        if state.officer not in (None, officer) and state.ticket_id is not None:
            raise QueueError("counter_busy", counter=counter,
                             number=self.tickets[state.ticket_id].number)
        others = [o for o in self.counters.values()
                  if o.officer == officer and o.number != counter]
        for other in others:
            if other.ticket_id is not None:
                raise QueueError("officer_elsewhere", officer=officer, other=other.number)
        for other in others:
            self._set_counter(other, CLOSED, None, None, ts)
            self._emit("counter_closed", ts, counter=other.number, officer=officer, device=device)
        takeover = state.session is not None and state.session != session
        self._set_counter(state, OPEN, officer, None, ts)
        state.session = session
        self._emit("counter_opened", ts, counter=counter, officer=officer, device=device,
                   takeover=takeover)
        out.result = {"counter": self.counter_view(state)}
        return out

    def _set_counter(self, state: CounterState, status: str, officer: str | None,
                     reason: str | None, ts: float) -> None:
        self.estimator.counter_changed(state.number, state.status, state.since, state.reason,
                                       status, ts)
        # The priority run is kept across pauses and closes: it counts calls
        # while normal tickets wait, whoever sits at the counter.
        state.status, state.officer, state.reason, state.since = status, officer, reason, ts
        if officer is None:
            state.session = None
        self._capacity.clear()
        for code in self._counter_depts(state.number):
            assert self._out is not None
            self._out.departments.add(code)

    def _counter_depts(self, number: int) -> tuple[str, ...]:
        cfg = self.config.counter(number)
        return cfg.departments if cfg else ()

    def logout(self, counter: int, device: str | None = None) -> Outcome:
        """Close a counter. Refused while it still holds a ticket."""
        out, ts, _ = self._begin()
        state = self._counter(counter)
        if state.ticket_id is not None:
            raise QueueError("counter_busy", counter=counter,
                             number=self.tickets[state.ticket_id].number)
        officer = state.officer
        self._set_counter(state, CLOSED, None, None, ts)
        self._emit("counter_closed", ts, counter=counter, officer=officer, device=device)
        out.result = {"counter": self.counter_view(state)}
        return out

    def pause(self, counter: int, reason: str, device: str | None = None) -> Outcome:
        """Pause a staffed counter with a reason (break, meeting, …)."""
        out, ts, _ = self._begin()
        state = self._staffed(counter)
        if state.ticket_id is not None:
            raise QueueError("counter_busy", counter=counter,
                             number=self.tickets[state.ticket_id].number)
        self._set_counter(state, PAUSED, state.officer, reason.strip()[:200] or None, ts)
        self._emit("counter_paused", ts, counter=counter, officer=state.officer, device=device,
                   reason=state.reason)
        out.result = {"counter": self.counter_view(state)}
        return out

    def resume(self, counter: int, device: str | None = None) -> Outcome:
        """Reopen a paused counter."""
        out, ts, _ = self._begin()
        state = self._staffed(counter)
        if state.status != PAUSED:
            raise QueueError("counter_not_paused", counter=counter)
        self._set_counter(state, OPEN, state.officer, None, ts)
        self._emit("counter_resumed", ts, counter=counter, officer=state.officer, device=device)
        out.result = {"counter": self.counter_view(state)}
        return out

    # --- calling --------------------------------------------------------

    def _ready(self, counter: int) -> CounterState:
        state = self._staffed(counter)
        if state.status == PAUSED:
            raise QueueError("counter_paused", counter=counter)
        if state.ticket_id is not None:
            raise QueueError("counter_busy", counter=counter,
                             number=self.tickets[state.ticket_id].number)
        return state

    def pick_next(self, counter: int, now: float | None = None) -> Ticket | None:
        """The ticket ``call_next`` would call at a counter (no state change),
        by the center's call rule (:mod:`calling`)."""
        if now is None:
            now, _ = self._now()
        state = self.counters[counter]
        depts = self._counter_depts(counter)
        if not any(self._booked_waiting[d] for d in depts):
            return self._pick_walk_in(state, depts, now)
        if self.config.queue.call_policy == "preference":
            # The first department with someone to call now (a booking not
            # yet due only when there is nobody else).
            ready = [d for d in depts if any(t.slot is None or t.slot <= now
                                             for t in self.waiting[d].values())]
            depts = (ready[0],) if ready else next(((d,) for d in depts if self.waiting[d]), ())
        prio: Ticket | None = None
        normal: Ticket | None = None
        booked: Ticket | None = None
        early: Ticket | None = None
        prio_rank = normal_rank = booked_rank = early_rank = None
        past_guard = False
        rules = self.config.booking
        for code in depts:
            ov = self._overdue_s(code)
            guard = None
            for t in self.waiting[code].values():
                r = rank(t.band, t.queued_at, t.id, ov, now)
                if t.slot is not None:
                    if t.slot <= now:
                        if booked_rank is None or r < booked_rank:
                            booked, booked_rank = t, r
                    elif early_rank is None or r < early_rank:
                        early, early_rank = t, r
                    continue
                if not past_guard:
                    if guard is None:
                        dept = self.config.department(code)
                        guard = rules.guard_seconds(dept.target_wait if dept else 15.0)
                    past_guard = now - t.queued_at >= guard
                if t.priority:
                    if prio_rank is None or r < prio_rank:
                        prio, prio_rank = t, r
                elif normal_rank is None or r < normal_rank:
                    normal, normal_rank = t, r
        walk_in = prio is not None or normal is not None
        if takes_booked(booked is not None, walk_in, state.booked_streak,
                        rules.max_booked_in_row, past_guard):
            return booked
        if takes_priority(prio is not None, normal is not None, state.priority_streak,
                          self.config.queue.max_priority_in_row):
            return prio
        return normal if normal is not None else early

    def _pick_walk_in(self, state: CounterState, depts: tuple[str, ...],
                      now: float) -> Ticket | None:
        """The call rule where no booking waits: priority mixing and ageing."""
        if self.config.queue.call_policy == "preference":
            depts = next(((d,) for d in depts if self.waiting[d]), ())
        prio: Ticket | None = None
        normal: Ticket | None = None
        prio_rank = normal_rank = None
        for code in depts:
            ov = self._overdue_s(code)
            for t in self.waiting[code].values():
                r = rank(t.band, t.queued_at, t.id, ov, now)
                if t.priority:
                    if prio_rank is None or r < prio_rank:
                        prio, prio_rank = t, r
                elif normal_rank is None or r < normal_rank:
                    normal, normal_rank = t, r
        if takes_priority(prio is not None, normal is not None, state.priority_streak,
                          self.config.queue.max_priority_in_row):
            return prio
        return normal

    def _overdue_s(self, department: str) -> float | None:
        dept = self.config.department(department)
        return overdue_seconds(dept.target_wait, self.config.queue.overdue_after) if dept else None

    def call_next(self, counter: int, device: str | None = None) -> Outcome:
        """Call the next ticket at a counter: priority first, but never more
        than ``max_priority_in_row`` in a row while normal tickets wait."""
        out, ts, _ = self._begin()
        state = self._ready(counter)
        t = self.pick_next(counter, ts)
        if t is None:
            raise QueueError("nobody_waiting", counter=counter)
        self._call(state, t, ts, device)
        return out

    def call_ticket(self, counter: int, number: str, device: str | None = None) -> Outcome:
        """Call a specific waiting ticket out of order."""
        out, ts, _ = self._begin()
        state = self._ready(counter)
        t = self._ticket(number)
        if t.status != WAITING:
            raise self._wrong(t, "gọi", "call it")
        if t.department not in self._counter_depts(counter):
            raise QueueError("not_served_here", counter=counter, number=t.number)
        self._call(state, t, ts, device, out_of_order=True)
        return out

    def _call(self, state: CounterState, t: Ticket, ts: float, device: str | None,
              out_of_order: bool = False) -> None:
        self._dequeue(t)
        if t.slot is not None:
            # A booked call neither counts as nor interrupts a priority run.
            state.booked_streak += 1
        else:
            state.booked_streak = 0
            state.priority_streak = state.priority_streak + 1 if t.priority else 0
        state.ticket_id = t.id
        t.status, t.counter, t.officer, t.called_at = CALLED, state.number, state.officer, ts
        t.started_at = None
        visit = Visit(self.meta.next_visit, t.id, t.number, t.day, state.number, state.officer,
                      t.department, t.procedure, ts)
        self.meta.next_visit += 1
        self._touch("next_visit")
        self.visits[visit.id] = visit
        t.visit_id = visit.id
        assert self._out is not None
        self._out.visits.add(visit.id)
        self._record_call(t, ts)
        self._emit("ticket_called", ts, ticket=t, counter=state.number, officer=state.officer,
                   device=device, recall=t.recalls, out_of_order=out_of_order,
                   waited=round(max(0.0, ts - t.queued_at), 1))
        self._out.result = {"ticket": self.ticket_view(t)}

    def recall(self, counter: int, device: str | None = None) -> Outcome:
        """Call the counter's current ticket again (counted)."""
        out, ts, _ = self._begin()
        state = self._staffed(counter)
        t = self._current(state)
        if t.status != CALLED:
            raise self._wrong(t, "gọi lại", "recall it")
        t.recalls += 1
        self._record_call(t, ts)
        self._emit("ticket_called", ts, ticket=t, counter=counter, officer=state.officer,
                   device=device, recall=t.recalls, out_of_order=False)
        out.result = {"ticket": self.ticket_view(t)}
        return out

    def start(self, counter: int, device: str | None = None) -> Outcome:
        """The citizen arrived at the counter: service starts."""
        out, ts, _ = self._begin()
        state = self._staffed(counter)
        t = self._current(state)
        if t.status != CALLED:
            raise self._wrong(t, "bắt đầu phục vụ", "start serving it")
        t.status, t.started_at = SERVING, ts
        v = self.visits[t.visit_id] if t.visit_id else None
        if v:
            v.started_at = ts
            out.visits.add(v.id)
        self._emit("service_started", ts, ticket=t, counter=counter, officer=state.officer,
                   device=device)
        out.result = {"ticket": self.ticket_view(t)}
        return out

    def finish(self, counter: int, device: str | None = None) -> Outcome:
        """Service is over. Finishing a ticket that was only called counts
        its service from the call (the officer skipped "start")."""
        out, ts, _ = self._begin()
        state = self._staffed(counter)
        t = self._current(state)
        if t.status not in (CALLED, SERVING):
            raise self._wrong(t, "kết thúc", "finish it")
        if t.started_at is None:
            t.started_at = t.called_at
        t.status, t.finished_at = DONE, ts
        state.ticket_id = None
        out.counters.add(counter)
        v = self._end_visit(t, ts, "served")
        self.stats["served"] += 1
        self._emit("ticket_finished", ts, ticket=t, counter=counter, officer=state.officer,
                   device=device, service=round(ts - (t.started_at or ts), 1))
        self._emit_visit_ended(v, ts)
        out.result = {"ticket": self.ticket_view(t), "visit": self.visit_view(v) if v else None}
        return out

    def _emit_visit_ended(self, v: Visit | None, ts: float) -> None:
        if v is not None:
            self._emit("visit_ended", ts, counter=v.counter, officer=v.officer,
                       visit=self.visit_view(v))

    def no_show(self, counter: int, device: str | None = None) -> Outcome:
        """The called citizen did not come."""
        out, ts, _ = self._begin()
        state = self._staffed(counter)
        t = self._current(state)
        if t.status != CALLED:
            raise self._wrong(t, "đánh dấu vắng mặt", "mark it a no-show")
        t.status, t.finished_at = NO_SHOW, ts
        state.ticket_id = None
        out.counters.add(counter)
        self._end_visit(t, ts, "no_show")
        self._emit("ticket_no_show", ts, ticket=t, counter=counter, officer=state.officer,
                   device=device)
        out.result = {"ticket": self.ticket_view(t)}
        return out

    def requeue(self, number: str, counter: int | None = None, device: str | None = None) -> Outcome:
        """Put a ticket back in its queue: a no-show who turned up late, or
        the counter's called ticket whose citizen is not there yet."""
        out, ts, _ = self._begin()
        if counter is not None:
            self._staffed(counter)
        t = self._ticket(number)
        if t.status not in (NO_SHOW, CALLED):
            raise self._wrong(t, "đưa lại hàng chờ", "put it back in the queue")
        held = self._held_by(t, counter)
        self._check_serves(counter, t)
        if t.status == CALLED:
            self._end_visit(t, ts, "requeued")
            self._free_counter(t)
        t.finished_at = None
        self._enqueue(t, self.config.queue.requeue_placement, ts)
        self._emit("ticket_requeued", ts, ticket=t, counter=held if held is not None else counter,
                   device=device, officer=self.counters[counter].officer if counter else None,
                   by_counter=counter)
        out.result = {"ticket": self.ticket_view(t)}
        return out

    def transfer(self, counter: int, department: str, procedure: str | None = None,
                 note: str | None = None, device: str | None = None) -> Outcome:
        """Send the counter's current citizen to another department's queue,
        keeping the number."""
        out, ts, _ = self._begin()
        state = self._staffed(counter)
        t = self._current(state)
        if t.status not in (CALLED, SERVING):
            raise self._wrong(t, "chuyển", "transfer it")
        dept = self.config.department(department)
        if dept is None:
            raise QueueError("unknown_department", department=department)
        if not dept.open:
            raise QueueError("department_closed", name=dept.vi, name_en=dept.en)
        if dept.code == t.department:
            raise QueueError("same_department", number=t.number)
        if procedure is not None:
            proc = self.config.procedure(procedure)
            if proc is None or proc.department != dept.code:
                raise QueueError("unknown_procedure", procedure=procedure)
        v = self._end_visit(t, ts, "transferred")
        state.ticket_id = None
        out.counters.add(counter)
        source = t.department
        out.departments.add(source)
        t.department, t.procedure = dept.code, procedure
        t.slot = None  # a booking's precedence is for its own department
        t.transfers += 1
        t.note = (note or "").strip()[:500] or None
        t.started_at = None
        self._enqueue(t, self.config.queue.transfer_placement, ts)
        # The citizen walks to the next queue: tell them how long it will be.
        info = self._ahead_and_wait(t)
        self._emit("ticket_transferred", ts, ticket=t, counter=counter, officer=state.officer,
                   device=device, source=source, target=dept.code, note=t.note, **info)
        self._emit_visit_ended(v, ts)
        out.result = {"ticket": self.ticket_view(t), "visit": self.visit_view(v) if v else None,
                      **info}
        return out

    def cancel(self, number: str, counter: int | None = None, device: str | None = None,
               reason: str | None = None) -> Outcome:
        """Cancel a ticket that has not been served (the citizen left)."""
        out, ts, _ = self._begin()
        t = self._ticket(number)
        if t.status not in (WAITING, CALLED, NO_SHOW):
            raise self._wrong(t, "hủy", "cancel it")
        if counter is not None:
            self._staffed(counter)
        held = self._held_by(t, counter)
        self._check_serves(counter, t)
        self._dequeue(t)
        self._end_visit(t, ts, "cancelled")
        self._free_counter(t)
        t.status, t.finished_at = CANCELLED, ts
        self._emit("ticket_cancelled", ts, ticket=t, counter=held if held is not None else counter,
                   device=device, reason=(reason or "").strip()[:200] or None, by_counter=counter)
        out.result = {"ticket": self.ticket_view(t)}
        return out

    # --- ratings --------------------------------------------------------

    def rate(self, visit_id: int, value: int, reason: str | None = None,
             device: str | None = None, request_id: str | None = None,
             counter: int | None = None) -> Outcome:
        """Record the citizen's rating of a finished visit, once. A rating pad
        names its ``counter`` and may rate only that counter's visits."""
        out, ts, _ = self._begin()
        v = self.visits.get(visit_id)
        if v is None:
            raise QueueError("unknown_visit")
        if counter is not None and v.counter != counter:
            raise QueueError("not_this_counter", counter=counter)
        existing = self.ratings.get(visit_id)
        if existing is not None:
            if request_id is not None and existing.request_id == request_id:
                if (existing.value, existing.reason) != (value, reason):
                    raise QueueError("request_reused", request_id=request_id)
                out.result = {"rating": dict(existing.__dict__), "repeat": True}
                out.changed = bool(out.events)
                return out
            raise QueueError("already_rated")
        if v.outcome not in ("served", "transferred") or v.ended_at is None:
            raise QueueError("visit_not_ended")
        if ts - v.ended_at > self.config.rating_window_seconds:
            raise QueueError("rating_window_closed")
        level = self.config.rating_level(value)
        if level is None:
            raise QueueError("bad_rating", value=value)
        if reason is not None:
            if reason not in SIPAS_CRITERIA:
                raise QueueError("bad_reason", reason=reason)
            if not level.negative:
                raise QueueError("reason_not_allowed")
        r = Rating(v.id, v.ticket_id, v.day, v.counter, v.officer, v.department, v.procedure,
                   value, reason, ts, device, request_id)
        self.ratings[v.id] = r
        v.rated = value
        out.ratings.append(r)
        out.visits.add(v.id)
        self._emit("visit_rated", ts, counter=v.counter, officer=v.officer,
                   device=device, visit=self.visit_view(v), value=value, reason=reason,
                   number=v.number, department=v.department)
        # The event's ticket column should still point at the ticket rated.
        out.events[-1].ticket_id = v.ticket_id
        out.result = {"rating": dict(r.__dict__), "repeat": False}
        return out

    def officer_stats(self, officer: str | None) -> dict[str, Any]:
        """An officer's figures today, from the day's visits and ratings."""
        mine = [v for v in self.visits.values() if v.officer == officer and v.day == self.meta.day]
        served = [v for v in mine if v.outcome == "served"]
        durations = [v.ended_at - v.started_at for v in served
                     if v.ended_at is not None and v.started_at is not None]
        ratings: dict[str, int] = {}
        for r in self.ratings.values():
            if r.officer == officer and r.day == self.meta.day:
                ratings[str(r.value)] = ratings.get(str(r.value), 0) + 1
        return {
            "officer": officer, "served": len(served),
            "transferred": sum(1 for v in mine if v.outcome == "transferred"),
            "no_show": sum(1 for v in mine if v.outcome == "no_show"),
            "service_seconds": round(sum(durations), 1),
            "mean_service_seconds": round(sum(durations) / len(durations), 1) if durations else None,
            "ratings": ratings,
        }

    def pending_visit(self, counter: int) -> Visit | None:
        """The counter's last ended visit that may still be rated, so a rating
        pad that was offline when it ended can still ask for its rating."""
        ts, _ = self._now()
        best: Visit | None = None
        for v in self.visits.values():
            if (v.counter == counter and v.outcome in ("served", "transferred")
                    and v.ended_at is not None and v.id not in self.ratings
                    and ts - v.ended_at <= self.config.rating_window_seconds
                    and (best is None or v.ended_at > best.ended_at)):
                best = v
        return best

    # --- devices --------------------------------------------------------

    def printer_status(self, device: str, ok: bool, problem: str | None = None,
                       detail: str | None = None) -> Outcome:
        """A kiosk reports its printer's state; a change is logged once
        (``printer_fault`` / ``printer_ok``). ``status_unknown`` with ``ok``:
        it printed without being able to read the status."""
        if problem is not None and problem not in PRINTER_PROBLEMS:
            raise ValueError(f"unknown printer problem {problem!r}")  # the protocol checks it
        if ok:
            problem = problem if problem == "status_unknown" else None
        return self._device_status("printers", "printer", device, ok, problem,
                                   (detail or "")[:200], MAX_PRINTERS, keep_first_ok=True)

    def voice_status(self, device: str, ok: bool, problem: str | None = None,
                     detail: str | None = None) -> Outcome:
        """A display reports whether it can read calls aloud; a change is
        logged once (``voice_fault`` / ``voice_ok``). A display whose voice
        never failed leaves no entry."""
        return self._device_status("voices", "voice", device, ok, None if ok else problem,
                                   "" if ok else (detail or "")[:200], MAX_VOICE_DEVICES,
                                   keep_first_ok=False)

    def _device_status(self, table: str, what: str, device: str, ok: bool,
                       problem: str | None, detail: str, limit: int,
                       keep_first_ok: bool) -> Outcome:
        """One device's report about a part of it (its printer, its voice):
        one entry per device, at most ``limit`` (device names are the
        device's own claim): past that the oldest healthy entry makes room,
        else the oldest. Repeating the same state changes nothing."""
        out, ts, _ = self._begin()
        entries: dict[str, dict[str, Any]] = getattr(self.meta, table)
        before = entries.get(device)
        status = {"device": device, "ok": bool(ok), "problem": problem if ok else (problem or "error"),
                  "detail": detail, "since": ts}
        if (before is None and ok and not keep_first_ok) or (
                before and before["ok"] == status["ok"] and before["problem"] == status["problem"]):
            out.changed = bool(out.events)
            out.result = {what: before or status}
            return out
        entries.pop(device, None)
        while len(entries) >= limit:
            healthy = [d for d, e in entries.items() if e["ok"]]
            victim = min(healthy or entries, key=lambda d: entries[d]["since"])
            del entries[victim]
        entries[device] = status
        self._touch(table)
        self._emit(f"{what}_ok" if ok else f"{what}_fault", ts, device=device, **{what: status})
        out.result = {what: status}
        return out

    # --- views (what goes on the wire) ----------------------------------

    def ticket_view(self, t: Ticket) -> dict[str, Any]:
        """A ticket as clients see it."""
        return {
            "id": t.id, "number": t.number, "day": t.day, "department": t.department,
            "procedure": t.procedure, "priority": t.priority, "status": t.status,
            "issued_at": t.issued_at, "queued_at": t.queued_at, "counter": t.counter,
            "officer": t.officer, "called_at": t.called_at, "started_at": t.started_at,
            "finished_at": t.finished_at, "recalls": t.recalls, "transfers": t.transfers,
            "note": t.note, "visit": t.visit_id, "booked": t.booking is not None,
            "slot": t.slot,
        }

    def visit_view(self, v: Visit) -> dict[str, Any]:
        """A visit as clients see it (the rating pad rates it by ``id``)."""
        officer = self.config.officer(v.officer) if v.officer else None
        return {**v.__dict__, "officer_name": officer.name if officer else None}

    def counter_view(self, state: CounterState) -> dict[str, Any]:
        """A counter as clients see it, with its current ticket."""
        cfg = self.config.counter(state.number)
        officer = self.config.officer(state.officer) if state.officer else None
        t = self.tickets.get(state.ticket_id) if state.ticket_id else None
        return {
            "number": state.number, "name": cfg.name if cfg else str(state.number),
            "departments": list(cfg.departments) if cfg else [], "status": state.status,
            "officer": state.officer, "officer_name": officer.name if officer else None,
            "reason": state.reason, "since": state.since,
            "ticket": self.ticket_view(t) if t else None,
        }

    def counter_view_full(self, state: CounterState) -> dict[str, Any]:
        """A counter view plus its visit awaiting a rating (for snapshots)."""
        pending = self.pending_visit(state.number)
        return {**self.counter_view(state),
                "pending_visit": self.visit_view(pending) if pending else None}

    def department_view(self, code: str) -> dict[str, Any]:
        """A department's queue: counts, oldest wait and the estimate."""
        queue = self.waiting[code]
        if code not in self._oldest:
            self._oldest[code] = min((t.queued_at for t in queue.values()), default=None)
        oldest = self._oldest[code]
        if oldest is not None and self.bookings:
            # A booking checked in early is in line from its slot: nobody
            # has waited since a time still to come.
            oldest = min(oldest, self._now()[0])
        return {
            "code": code, "waiting": len(queue),
            "priority_waiting": self._prio_waiting[code],
            "oldest_since": oldest, **self.estimate_wait(code).fields(),
            "open_counters": self.open_counters(code), "issued": self.meta.seq.get(code, 0),
        }

    def snapshot(self) -> dict[str, Any]:
        """Everything a display or console needs to draw the center now."""
        return {
            "day": self.meta.day,
            "departments": [self.department_view(d.code) for d in self.config.departments],
            "counters": [self.counter_view_full(s) for s in self.counters.values()],
            "recent_calls": list(self.meta.recent_calls),
            "printers": list(self.meta.printers.values()),
            "voices": list(self.meta.voices.values()),
            "totals": self.totals(),
        }

    def totals(self) -> dict[str, int]:
        """Today's running figures."""
        return {"issued": self.stats["issued"], "served": self.stats["served"],
                "waiting": sum(len(q) for q in self.waiting.values())}

    def waiting_tickets(self, departments: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Waiting tickets in call order (priority not applied), for consoles."""
        codes = list(departments) if departments else list(self.waiting)
        tickets = [t for c in codes if c in self.waiting for t in self.waiting[c].values()]
        return [self.ticket_view(t) for t in sorted(tickets, key=lambda t: t.key)]
