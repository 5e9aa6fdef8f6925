"""The citizen rating pad at a counter: one touch to rate the visit just ended.

Idle, it shows the counter and the officer on duty. When the server says a
visit at this counter ended (``visit_ended``) it shows the rating scale as
large buttons; a negative rating asks for one of the five SIPAS criteria;
then it thanks the citizen and goes back to idle. An untouched screen goes
back to idle by itself. A visit that ended while the pad was away (off,
restarting, disconnected) is offered when it connects: the server's snapshot
names each counter's ``pending_visit`` still inside the rating window.

A rating is kept in an outbox with its ``request_id`` and sent again with
the same id until the server answers, so a network blip neither loses nor
doubles it (the server answers a repeated id with ``repeat: true``).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any, Callable

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, Grid, Horizontal, Vertical
from textual.css.query import NoMatches
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Button, ContentSwitcher, Label, Static

from motcua.client import AuthError, CenterState, MotcuaClient, NotConnected, ServerError
from motcua.i18n import Catalogue
from motcua.tui import (ClientConnection, ClientEvent, ClientSynced, PublicApp, SteadyScreen,
                        bridge, exit_when_refused)

from .model import big_text
from .strings import EN, VI

log = logging.getLogger("motcua.rating")

Clock = Callable[[], float]

IDLE, LEVELS, REASONS, THANKS = "idle", "levels", "reasons", "thanks"


class RatingPad(PublicApp):
    """The rating pad of one counter.

    ``timeout``: seconds an untouched rating screen waits before going back
    to idle (never longer than the server's rating window). ``thanks``:
    seconds the thank-you stays up. ``client=None`` with a ``state`` draws
    without a server (previews, snapshot tests); ``clock`` is injectable.
    """

    CSS_PATH = "rating.tcss"
    TITLE = "motcua"
    BINDINGS = [
        *[Binding(str(n), f"choose({n})", show=False) for n in range(1, 10)],
        Binding("l", "language", show=False),
    ]

    phase: reactive[str] = reactive(IDLE)
    """idle → levels → (reasons →) thanks → idle."""
    connected: reactive[bool] = reactive(False)
    """Whether the server connection is up."""


    class RatingDelivered(Message):
        """The server stored (or had already stored) a rating from this pad."""

        def __init__(self, item: dict[str, Any], reply: dict[str, Any]) -> None:
            super().__init__()
            self.item = item
            self.reply = reply

    def __init__(self, client: MotcuaClient | None, counter: int, language: str = "vi", *,
                 timeout: float = 60.0, thanks: float = 5.0, clock: Clock = time.time,
                 state: CenterState | None = None, connected: bool | None = None) -> None:
        super().__init__()
        self.client = client
        self.counter = counter
        self.t = Catalogue(VI, EN, language)
        self.default_language = language
        self.timeout = timeout
        self.thanks_seconds = thanks
        self.clock = clock
        self.state = client.state if client is not None else (state or CenterState())
        self.visit: dict[str, Any] | None = None
        self.officer_name: str | None = None
        self.value: int | None = None
        self.deadline: float | None = None
        self.outbox: list[dict[str, Any]] = []
        #: What the server confirmed: ``{"item": …, "reply": …}`` per rating.
        self.delivered: list[dict[str, Any]] = []
        self.rated_visits: set[int] = set()
        #: Visits this pad has put on screen (rated or left untouched): a
        #: snapshot's ``pending_visit`` offers only a visit not among them.
        self.offered_visits: set[int] = set()
        self._wake = asyncio.Event()
        self._connected_preset = connected if connected is not None else client is None
        #: A snapshot arrived: until then the pad says "connecting", not "closed".
        self.synced = client is None

    # --- layout ---------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Horizontal(id="bar"):
            yield Label("", id="bar-counter")
            yield Label("", id="bar-status")
            yield Button("", id="language", compact=True)
        with ContentSwitcher(initial=IDLE, id="phases"):
            with Center(id=IDLE):
                with Vertical(classes="panel"):
                    yield Label("", id="idle-welcome", classes="headline")
                    yield Static("", id="idle-counter")
                    yield Label("", id="idle-officer-label", classes="muted")
                    yield Label("", id="idle-officer", classes="headline")
            with Vertical(id=LEVELS):
                yield Label("", id="levels-ticket", classes="muted")
                yield Label("", id="levels-question", classes="question")
                yield Grid(id="levels-buttons", classes="choices")
            with Vertical(id=REASONS):
                yield Label("", id="reasons-question", classes="question")
                yield Vertical(id="reasons-buttons", classes="choices")
            with Center(id=THANKS):
                with Vertical(classes="panel"):
                    yield Label("", id="thanks-text", classes="headline")
                    yield Label("", id="thanks-sub", classes="muted")
        yield Label("", id="footline")

    def get_default_screen(self) -> SteadyScreen:
        return SteadyScreen(id="_default")

    def on_resize(self, event: events.Resize) -> None:
        # Runs before App's own handler takes the new size: use the event's.
        self._fit(event.size.width)

    def _fit(self, width: int) -> None:
        # Every level side by side where each label fits on one line; else two
        # a row, else one (four side by side at 60 columns pushed three of
        # them off the screen, and a touch user could not rate badly).
        labels = [f"{i}. {self.t.pick(lv)}" for i, lv in enumerate(self.levels, 1)] or ["?"]
        need = max(len(label) for label in labels) + 6  # padding, gutter, a margin
        n = len(labels)
        columns = next((c for c in (n, 2, 1) if c <= n and (width - 2) // c >= need), 1)
        try:
            grid = self.query_one("#levels-buttons", Grid)
        except NoMatches:
            return  # not composed yet
        grid.styles.grid_size_columns = columns
        grid.styles.grid_size_rows = -(-n // columns)

    def on_mount(self) -> None:
        if self.client is not None:
            bridge(self, self.client)
            self.run_worker(exit_when_refused(self, self.client.start()), group="client")
            self.run_worker(self._deliver_forever(), group="deliver")
        else:
            self.connected = self._connected_preset
        self.set_interval(1.0, self._tick)
        self.redraw()
        self._fit(self.size.width)

    async def on_unmount(self) -> None:
        if self.client is not None:
            await self.client.close()

    # --- the visit being rated --------------------------------------------

    @property
    def levels(self) -> list[dict[str, Any]]:
        """The configured rating scale, best first as configured."""
        return list(self.state.center.get("rating", {}).get("levels", []))

    @property
    def reasons(self) -> list[dict[str, Any]]:
        """The SIPAS criteria a negative rating names."""
        return list(self.state.center.get("rating", {}).get("reasons", []))

    def show_visit(self, visit: dict[str, Any], officer_name: str | None = None) -> None:
        """Ask the citizen to rate ``visit`` (a visit view from the server)."""
        if visit["id"] in self.rated_visits:
            return
        self.visit = visit
        self.offered_visits.add(visit["id"])
        self.officer_name = officer_name or visit.get("officer_name")
        self.value = None
        self.t.language = self.default_language
        self._touch()
        self.phase = LEVELS
        self.redraw()

    def _touch(self) -> None:
        now = self.clock()
        deadline = now + self.timeout
        window = self.state.center.get("rating", {}).get("window_seconds")
        if self.visit and window and self.visit.get("ended_at"):
            # Past the server's window a rating would be refused anyway.
            deadline = min(deadline, self.visit["ended_at"] + window)
        self.deadline = deadline

    def choose_level(self, value: int) -> None:
        """The citizen touched a level."""
        if self.phase != LEVELS or self.visit is None:
            return
        level = next((lv for lv in self.levels if lv["value"] == value), None)
        if level is None:
            return
        self.value = value
        if level.get("negative") and self.reasons:
            self._touch()
            self.phase = REASONS
            self.redraw()
            return
        self._submit(None)

    def choose_reason(self, code: str | None) -> None:
        """The citizen touched a reason (None: left without choosing one)."""
        if self.phase != REASONS:
            return
        self._submit(code)

    def _submit(self, reason: str | None) -> None:
        assert self.visit is not None and self.value is not None
        item: dict[str, Any] = {"visit": self.visit["id"], "value": self.value,
                                "request_id": uuid.uuid4().hex}
        if reason:
            item["reason"] = reason
        self.rated_visits.add(self.visit["id"])
        self.outbox.append(item)
        self._wake.set()
        self.visit = None
        self.deadline = self.clock() + self.thanks_seconds
        self.phase = THANKS
        self.redraw()

    def go_idle(self) -> None:
        """Back to the counter's resting screen."""
        self.visit = None
        self.value = None
        self.deadline = None
        self.t.language = self.default_language
        self.phase = IDLE
        self.redraw()

    def _tick(self) -> None:
        if self.deadline is None:
            return
        try:
            if self.clock() >= self.deadline:
                if self.phase == REASONS:
                    # The citizen chose a negative level and walked away:
                    # the rating itself still counts, without a reason.
                    self._submit(None)
                else:
                    self.go_idle()
                return
            self._draw_footline()
        except NoMatches:
            pass  # a last tick while the app tears its widgets down

    # --- delivery -------------------------------------------------------

    async def _deliver_forever(self) -> None:
        assert self.client is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self.outbox:
                item = self.outbox[0]
                try:
                    await self.client.wait_ready()
                    reply = await self.client.request("rate", **item)
                except (NotConnected, TimeoutError):
                    await asyncio.sleep(0.3)
                    continue  # same item, same request_id
                except AuthError:
                    return
                except ServerError as e:
                    # Refused for good (window closed, visit unknown): keep
                    # no copy that would be retried forever.
                    log.warning("rating for visit %s refused: %s", item["visit"], e)
                    self.outbox.pop(0)
                    continue
                self.outbox.pop(0)
                self.delivered.append({"item": item, "reply": reply})
                self.post_message(self.RatingDelivered(item, reply))

    @on(RatingDelivered)
    def _delivered(self) -> None:
        self._draw_footline()

    # --- server messages ------------------------------------------------

    @on(ClientEvent)
    def _event(self, message: ClientEvent) -> None:
        ev = message.event
        if ev.type == "visit_ended":
            visit = ev.raw.get("visit") or {}
            if visit.get("counter") == self.counter:
                self.show_visit(visit, ev.raw.get("officer_name"))
                return
        elif ev.type == "visit_rated":
            visit = ev.raw.get("visit")
            rated = visit.get("id") if isinstance(visit, dict) else visit
            if self.visit is not None and rated == self.visit["id"]:
                self.rated_visits.add(self.visit["id"])
                self.go_idle()
                return
        elif ev.type == "day_started":
            self.go_idle()
            return
        if self.phase == IDLE:
            self.redraw()

    @on(ClientConnection)
    def _connection(self, message: ClientConnection) -> None:
        self.connected = message.connected

    @on(ClientSynced)
    def _loaded(self) -> None:
        self.synced = True
        # A visit that ended while the pad was away, not rated yet.
        pending = self.state.counters.get(self.counter, {}).get("pending_visit")
        if (pending and self.phase == IDLE and pending["id"] not in self.offered_visits
                and pending["id"] not in self.rated_visits):
            self.show_visit(pending)
            return
        self.redraw()

    def watch_connected(self) -> None:
        self._draw_footline()

    def watch_phase(self, phase: str) -> None:
        if self.is_mounted:
            self.query_one("#phases", ContentSwitcher).current = phase

    # --- drawing --------------------------------------------------------

    def redraw(self) -> None:
        """Draw the current phase from the mirror and the visit."""
        if not self.is_mounted:
            return
        t = self.t
        view = self.state.counters.get(self.counter, {})
        name = view.get("name") or VI["counter"].format(number=self.counter)
        if t.language == "en":
            name = EN["counter"].format(number=self.counter)
        self.query_one("#bar-counter", Label).update(f" {name} ")
        self.query_one("#language", Button).label = t("pad_language")
        status = view.get("status", "closed")
        self.query_one("#bar-status", Label).update(
            "" if status == "open" else t("pad_paused") if status == "paused"
            else t("pad_closed"))
        self.query_one("#phases", ContentSwitcher).current = self.phase
        # idle
        self.query_one("#idle-welcome", Label).update(t("pad_welcome"))
        self.query_one("#idle-counter", Static).update(big_text(str(self.counter)))
        officer = view.get("officer_name") if status != "closed" else None
        self.query_one("#idle-officer-label", Label).update(t("pad_officer") if officer else "")
        self.query_one("#idle-officer", Label).update(
            officer or (t("pad_closed") if self.synced else t("pad_connecting")))
        if not self.synced:
            self.query_one("#bar-status", Label).update("")
        # levels
        if self.visit is not None:
            self.query_one("#levels-ticket", Label).update(
                t("pad_ticket", number=self.visit.get("number", "")))
        self.query_one("#levels-question", Label).update(
            t("pad_question", name=self.officer_name) if self.officer_name
            else t("pad_question_plain"))
        self._fill(self.query_one("#levels-buttons"), [
            (f"level-{lv['value']}", f"{i}. {t.pick(lv)}",
             "success" if lv.get("satisfied") else "error" if lv.get("negative") else "warning")
            for i, lv in enumerate(self.levels, 1)])
        # reasons
        self.query_one("#reasons-question", Label).update(t("pad_reason"))
        self._fill(self.query_one("#reasons-buttons"), [
            (f"reason-{r['code']}", f"{i}. {t.pick(r)}", "primary")
            for i, r in enumerate(self.reasons, 1)])
        # thanks
        self.query_one("#thanks-text", Label).update(t("pad_thanks"))
        self.query_one("#thanks-sub", Label).update(t("pad_thanks_sub"))
        self._draw_footline()

    def _fill(self, box: Any, buttons: list[tuple[str, str, str]]) -> None:
        # The scale is configured, so the buttons are made on first draw and
        # relabelled afterwards (a language switch).
        existing = {b.id: b for b in box.query(Button)}
        if set(existing) == {bid for bid, _, _ in buttons}:
            for bid, label, _ in buttons:
                existing[bid].label = label
            return
        box.remove_children()
        box.mount_all([Button(label, id=bid, variant=variant) for bid, label, variant in buttons])
        if box.id == "levels-buttons" and self.is_mounted:
            self._fit(self.size.width)

    def _draw_footline(self) -> None:
        if not self.is_mounted:
            return
        t = self.t
        parts = []
        if not self.connected:
            parts.append(t("pad_offline") if self.synced else t("pad_connecting"))
        if self.outbox:
            parts.append(t("pad_pending", n=len(self.outbox)))
        if self.phase in (LEVELS, REASONS) and self.deadline is not None:
            parts.append(t("pad_countdown", s=max(0, round(self.deadline - self.clock()))))
        line = self.query_one("#footline", Label)
        line.update("   ".join(parts))
        line.set_class(not self.connected, "-down")

    # --- touches and keys -------------------------------------------------

    @on(Button.Pressed, "#language")
    def action_language(self) -> None:
        self.t.toggle()
        self._fit(self.size.width)
        if self.phase in (LEVELS, REASONS):
            self._touch()
        self.redraw()

    @on(Button.Pressed, "#levels-buttons Button")
    def _level_pressed(self, event: Button.Pressed) -> None:
        self.choose_level(int((event.button.id or "").removeprefix("level-")))

    @on(Button.Pressed, "#reasons-buttons Button")
    def _reason_pressed(self, event: Button.Pressed) -> None:
        self.choose_reason((event.button.id or "").removeprefix("reason-"))

    def action_choose(self, n: int) -> None:
        """Keys 1–9 pick the n-th button on screen (a pad with a keypad)."""
        if self.phase == LEVELS and 1 <= n <= len(self.levels):
            self.choose_level(self.levels[n - 1]["value"])
        elif self.phase == REASONS and 1 <= n <= len(self.reasons):
            self.choose_reason(self.reasons[n - 1]["code"])
