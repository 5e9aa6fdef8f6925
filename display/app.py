"""``motcua display``: the waiting-room monitor.

The app draws from the shared client's mirror of the center
(:class:`motcua.client.CenterState`) and never touches the network itself.
Events are folded in the order they arrive, but the screen is redrawn at most
ten times a second (a dirty flag and one interval timer), so a burst of calls
neither freezes the display nor reorders it. Each new call in scope is queued
on the :class:`~display.voice.Announcer`, which speaks on its own thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from textual import events, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Static

from motcua.client import AuthError, CenterState, Event, MotcuaClient, NotConnected, ServerError
from motcua.tui import PublicApp, SteadyScreen

from .board import (Call, CallLog, Scope, call_from_event, counter_name, counter_rows,
                    department_rows)
from .strings import catalogue
from .voice import Announcer, SpeechEngine
from .widgets import BigNumber, CountersPanel, DepartmentsPanel, Marquee, RecentPanel

log = logging.getLogger("motcua.display")
voice_log = logging.getLogger("motcua.display.voice")

DEFAULT_URL = "ws://127.0.0.1:8765"
DEFAULT_TZ = "Asia/Ho_Chi_Minh"

#: How long a new call stands out, and how fast it blinks meanwhile (seconds).
FLASH_SECONDS = 6.0
BLINK_SECONDS = 0.5
#: The screen is redrawn at most this often; events in between are coalesced.
REFRESH_SECONDS = 0.1
#: The notice line scrolls this many characters a second when it doesn't fit.
MARQUEE_SPEED = 4

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class DisplayOptions:
    """How one display is set up (the command line's options)."""

    url: str = DEFAULT_URL
    token: str = "display-demo"
    device: str = "display-1"
    voice: str = "vi"  # vi / en / off
    chime: bool = True
    #: How many times each call is read out.
    repeat: int = 1
    scope: Scope = field(default_factory=Scope)
    language: str = "vi"
    #: The client's TLS options (``fingerprint``, ``ca``).
    client: dict = field(default_factory=dict)


@dataclass
class VoiceChanged(Message):
    """The voice started failing (``ok`` False, a ``problem`` code and the
    engine's own words in ``detail``) or works again."""

    ok: bool
    problem: str | None
    detail: str


class DisplayApp(PublicApp):
    """The waiting-room display for the whole center or part of it.

    A voice that fails is reported to the server (``voice_status``: the
    monitor shows it as an alert) and logged, never shown on the TV: the
    people in the room can do nothing about it.
    """

    CSS_PATH = "display.tcss"
    TITLE = "motcua"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (36, "-tall")]
    BINDINGS = [("l", "toggle_language", "Tiếng Việt / English")]

    def __init__(self, options: DisplayOptions | None = None, *,
                 engine: SpeechEngine | None = None, voice_note: str | None = None,
                 clock: Clock | None = None, state: CenterState | None = None) -> None:
        """``engine`` speaks the announcements (None: silent, ``voice_note`` says
        why). ``clock`` gives the wall-clock time shown on screen. With a
        ``state`` the app draws that state and never connects (previews,
        snapshot tests)."""
        super().__init__()
        self.options = options or DisplayOptions()
        self.t = catalogue(self.options.language)
        self.clock: Clock = clock or utc_now
        self.voice_note = voice_note
        voice = self.options.voice if engine is not None else "off"
        self.announcer = Announcer(engine, voice, logger=voice_log, times=self.options.repeat,
                                   on_status=self._voice_status_from_thread)
        #: What is wrong with the voice now: (problem, detail), or None.
        self.voice_problem: tuple[str, str] | None = None
        if self.options.voice != "off" and engine is None:
            self.voice_problem = ("no_engine", (voice_note or "")[:200])
        #: What the server knows of this display's voice, (ok, problem), from the
        #: last snapshot and what was reported since; None: no entry there.
        self._voice_known: tuple[bool, str | None] | None = None
        self.client: MotcuaClient | None = None
        self._static_state = state
        self.calls = CallLog(self.options.scope)
        self.connected = state is not None
        self.ever_connected = state is not None
        #: A snapshot arrived: until then the panels say "connecting", not "0".
        self.synced = state is not None
        self.stopped: str | None = None
        self._dirty = True
        self._flash_until = 0.0
        self._flash_counter: int | None = None
        self._was_flashing = False
        self._scope_checked = False
        self._tz = ZoneInfo(DEFAULT_TZ)
        self._last_clock = ""
        self.redraws = 0
        """How many times the screen was redrawn from the state (bursts coalesce)."""
        if state is not None:
            self._set_timezone(state.center)
            self.calls.sync(state, None)

    # --- the state we draw -------------------------------------------------

    @property
    def state(self) -> CenterState:
        if self.client is not None:
            return self.client.state
        return self._static_state or CenterState()

    # --- layout ------------------------------------------------------------

    def compose(self) -> ComposeResult:
        # Kept as attributes: the refresh timer reaches them without a DOM query.
        self.w_name, self.w_conn = Static("", id="center-name"), Static("", id="conn")
        self.w_total, self.w_clock = Static("", id="waiting-total"), Static("", id="clock")
        self.w_hero = Horizontal(id="hero")
        self.w_call, self.w_counter = Vertical(id="hero-call"), Vertical(id="hero-counter")
        self.w_number, self.w_note = BigNumber("", id="hero-number"), Static("", id="hero-note")
        self.w_counter_number = BigNumber("", id="hero-counter-number")
        self.w_counter_name = Static("", id="hero-counter-name")
        self.w_counters = CountersPanel(self.t, id="counters")
        self.w_recent = RecentPanel(self.t, id="recent")
        self.w_departments = DepartmentsPanel(self.t, id="departments")
        self.w_notice = Marquee(id="notice")
        with Horizontal(id="topbar"):
            yield self.w_name
            yield self.w_conn
            yield self.w_total
            yield self.w_clock
        with self.w_hero:
            with self.w_call:
                yield self.w_number
                yield self.w_note
            with self.w_counter:
                yield self.w_counter_number
                yield self.w_counter_name
        with Horizontal(id="body"):
            yield self.w_counters
            yield self.w_recent
            yield self.w_departments
        yield self.w_notice

    def get_default_screen(self) -> SteadyScreen:
        return SteadyScreen(id="_default")

    def on_mount(self) -> None:
        self._apply_titles()
        self._fit_to_screen()
        if self.voice_problem is not None:
            log.warning("voice announcements off: %s", self.voice_note or "?")
        elif self.voice_note:
            log.info("%s", self.voice_note)
        if self._static_state is None:
            o = self.options
            self.client = MotcuaClient(o.url, "display", o.device, o.token,
                                       on_event=self._on_event, on_status=self._on_status,
                                       on_welcome=self._on_welcome, **o.client)
            self.client.start().add_done_callback(self._client_stopped)
        self._redraw()
        self._timer = self.set_interval(REFRESH_SECONDS, self._tick)

    async def on_unmount(self) -> None:
        self._timer.stop()
        if self.client is not None:
            await self.client.close()
        # Whatever is still queued would be spoken to an empty room.
        self.announcer.close(drain=False, timeout=1.0)

    def on_resize(self, event: events.Resize) -> None:
        # This runs before App's own handler has taken the new size: use the event's.
        self._fit_to_screen(event.size.height)

    def _fit_to_screen(self, height: int | None = None) -> None:
        # The tallest font that leaves room for the 14 counters under it.
        height = self.size.height if height is None else height
        level = 2 if height >= 42 else 1 if height >= 30 else 0
        self.w_number.max_level = self.w_counter_number.max_level = level

    # --- from the client (on the event loop, in arrival order) -------------

    def _on_event(self, ev: Event) -> None:
        if ev.type == "ticket_called" and ev.ticket is not None:
            call = call_from_event(ev.ticket, ev.at)
            if self.calls.add(call):
                self._new_call(call)
        self._dirty = True

    def _set_timezone(self, center: dict) -> None:
        if center.get("timezone"):
            try:
                self._tz = ZoneInfo(center["timezone"])
            except (ZoneInfoNotFoundError, ValueError):
                log.warning("unknown time zone %r", center["timezone"])

    def _on_welcome(self, state: CenterState) -> None:
        self._set_timezone(state.center)
        for call in self.calls.sync(state, self.clock().timestamp()):
            self._new_call(call)
        if not self._scope_checked:
            self._scope_checked = True
            unknown = self.options.scope.unknown(state.center)
            if unknown:
                # For whoever set the display up: the log, not the waiting room.
                log.warning("scope names unknown departments/counters: %s", unknown)
        known = next((v for v in state.voices if v.get("device") == self.options.device), None)
        self._voice_known = None if known is None else (bool(known.get("ok")),
                                                        known.get("problem"))
        self.synced = True
        self._apply_titles()
        self._dirty = True
        self._report_voice()

    def _on_status(self, connected: bool) -> None:
        self.connected = connected
        self.ever_connected = self.ever_connected or connected
        self._dirty = True

    def _client_stopped(self, task: asyncio.Task) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            return
        if isinstance(exc, AuthError):
            self.stopped = self.t("refused", reason=exc.error.text(self.t.language))
        else:
            self.stopped = self.t("stopped")  # the reason is for the log, not the room
        log.error("display client stopped: %s", exc)
        self._dirty = True

    # --- the voice's health, for the server (never on screen) ---------------

    def _voice_status_from_thread(self, ok: bool, problem: str | None, detail: str) -> None:
        # The announcer's worker thread: post_message is safe from any thread.
        self.post_message(VoiceChanged(ok, problem, detail))

    def on_voice_changed(self, message: VoiceChanged) -> None:
        if message.ok:
            log.info("voice announcements work again")
            self.voice_problem = None
        else:
            log.warning("voice announcements failing (%s): %s", message.problem,
                        message.detail)
            self.voice_problem = (message.problem or "error", message.detail[:200])
        self._report_voice()

    @work(exclusive=True, group="voice-report", exit_on_error=False)
    async def _report_voice(self) -> None:
        """Tell the server how the voice is doing when that differs from what
        it knows (after a change, and after each reconnection)."""
        client = self.client
        if client is None or not client.connected:
            return
        problem = self.voice_problem
        want = (problem is None, problem[0] if problem else None)
        known = self._voice_known
        if known == want or (problem is None and known is None):
            return  # the server knows; or a voice that works and nobody worried
        fields: dict = {"ok": problem is None}
        if problem is not None:
            fields["problem"], fields["detail"] = problem[0], problem[1]
        try:
            await client.request("voice_status", **fields)
            self._voice_known = want
        except (NotConnected, TimeoutError, ServerError) as e:
            log.info("voice status not reported yet: %s", e)

    def _new_call(self, call: Call) -> None:
        self.announcer.announce(call["number"], call["counter"],
                                recall=bool(call.get("recall")))
        self._flash_until = time.monotonic() + FLASH_SECONDS
        self._flash_counter = call["counter"]

    # --- drawing -----------------------------------------------------------

    def _tick(self) -> None:
        now = self.clock()
        self._show_clock(now)
        self._show_flash()
        if self._dirty:
            self._dirty = False
            self._redraw()
        self.w_notice.show(self._notice_text(), int(now.timestamp() * MARQUEE_SPEED))

    @property
    def flashing(self) -> bool:
        """True while the latest call still stands out."""
        return time.monotonic() < self._flash_until

    def _show_flash(self) -> None:
        hero = self.w_hero
        flashing = self.flashing
        blink = flashing and int(time.monotonic() / BLINK_SECONDS) % 2 == 0
        hero.set_class(flashing, "-flash")
        hero.set_class(blink, "-blink")
        if flashing != self._was_flashing:
            self._was_flashing = flashing
            self._dirty = True  # the highlighted rows follow the flash

    def _show_clock(self, now: datetime) -> None:
        local = now.astimezone(self._tz)
        if self.size.width >= 120:
            text = f"{self.t('wd' + str(local.weekday()))} {local:%d/%m/%Y}  {local:%H:%M:%S}"
        else:
            text = f"{local:%H:%M:%S}"
        if text != self._last_clock:
            self._last_clock = text
            self.w_clock.update(text)

    def _notice_text(self) -> str:
        center = self.state.center
        if self.t.language == "en":
            return center.get("notice_en") or center.get("notice") or ""
        return center.get("notice") or ""

    def _apply_titles(self) -> None:
        t = self.t
        self.w_call.border_title = t("now_calling")
        self.w_counter.border_title = t("to_counter")
        self.w_counters.border_title = t("counters")
        self.w_recent.border_title = t("recent")
        self.w_departments.border_title = t("waiting")

    def _center_title(self) -> str:
        center = self.state.center
        name = center.get("name", "")
        if self.t.language == "en":
            name = center.get("name_en") or name
        scope = self.options.scope
        if scope.whole_center:
            return name
        items = sorted(scope.departments) + (
            [self.t("scope_counters", numbers=", ".join(map(str, sorted(scope.counters))))]
            if scope.counters else [])
        return f"{name} — {self.t('scope_label', items='; '.join(items))}"

    def _marker(self) -> str:
        if self.stopped:
            return self.stopped
        if self.connected:
            return ""
        if not self.ever_connected:
            return self.t("connecting")
        return self.t("connection_lost" if self.size.width >= 120 else "connection_lost_short")

    def _redraw(self) -> None:
        """Draw everything from the mirror (cheap: widgets repaint only on change)."""
        self.redraws += 1
        t, state, scope = self.t, self.state, self.options.scope
        self.w_name.update(self._center_title())
        marker = self._marker()
        self.w_conn.update(marker)
        self.w_conn.display = bool(marker)
        departments = department_rows(state, scope, t.language)
        # Before the first snapshot nothing is known: "0 waiting" or "no call
        # yet" would be a claim, so every panel says it is connecting.
        total = (t("total_waiting", n=sum(d.waiting for d in departments)) if self.synced
                 else t("loading"))
        self.w_total.update(total)  # on small screens, where the department list is hidden
        self.w_departments.border_subtitle = total if self.synced else ""
        for panel in (self.w_counters, self.w_recent, self.w_departments):
            panel.loading_text = None if self.synced else t("loading")

        latest = self.calls.latest
        flashing = self.flashing and latest is not None
        if latest is None:
            self.w_number.update("")
            self.w_counter_number.update("")
            self.w_note.update(t("no_call_yet") if self.synced else t("loading"))
            self.w_counter_name.update("")
            self.w_hero.set_class(False, "-recall")
        else:
            self.w_number.update(str(latest["number"]))
            self.w_counter_number.update(str(latest["counter"]))
            recalls = int(latest.get("recall") or 0)
            self.w_hero.set_class(recalls > 0, "-recall")
            dept = state.department_name(latest["department"], t.language)
            self.w_note.update(f"↻ {t('recall_n', n=recalls + 1)} · {dept}" if recalls else dept)
            self.w_counter_name.update(counter_name(state, latest["counter"]))
        self.w_counters.show(counter_rows(state, scope), self._flash_counter if flashing else None)
        self.w_recent.show(list(self.calls.calls),
                           [self._hhmm(c.get("at")) for c in self.calls.calls], flashing)
        self.w_departments.show(departments)
        self.w_notice.show(self._notice_text(), int(self.clock().timestamp() * MARQUEE_SPEED))

    def _hhmm(self, at: float | None) -> str:
        if at is None:
            return ""
        return datetime.fromtimestamp(at, self._tz).strftime("%H:%M")

    # --- actions -------------------------------------------------------------

    def action_toggle_language(self) -> None:
        """Switch the screen between Vietnamese and English."""
        self.t.toggle()
        self._last_clock = ""
        self._apply_titles()
        for panel in (self.w_counters, self.w_recent, self.w_departments):
            panel.refresh()
        self._redraw()

    # --- for tests and tools -------------------------------------------------

    def shown_recent(self) -> list[str]:
        """The numbers in the last-calls list, newest first."""
        return [c["number"] for c in self.w_recent.calls]

    def shown_call(self) -> tuple[str, str]:
        """The big number and counter on screen now."""
        return self.w_number.value, self.w_counter_number.value


__all__ = ["DisplayApp", "DisplayOptions"]
