"""The kiosk's check-in for citizens with a booking: "Tôi đã đặt lịch" on the
home screen → type the booking code (or scan it: a USB barcode or QR scanner
types like a keyboard and ends with Enter) → a ticket booked for its slot,
shown and printed with the slot.

A refusal (an unknown code, another day, too early — with the time to come
back) is said under the code, which is cleared for the next try or scan.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime
from typing import Any, Iterable

from textual import on, work
from textual.binding import Binding
from textual.containers import Center, Horizontal, Vertical
from textual.widgets import Button, Input, Static
from textual.worker import Worker, WorkerState

from motcua.client import AuthError, NotConnected, ServerError

from .app import KioskScreen, TicketScreen
from .model import Choice, IssuedTicket, center_tz
from .widgets import OnScreenKeyboard

log = logging.getLogger("motcua.kiosk")


class CodeKeyboard(OnScreenKeyboard):
    """Digits and the letters booking codes use, for touch screens."""

    ROWS = ("1234567890", "ABCDEFGHJK", "MNPQRSTVWXYZ")


class BookingScreen(KioskScreen):
    """Type or scan a booking code; the server checks it in."""

    HINT = "hint_booking"
    BINDINGS = [Binding("escape", "back", show=False)]

    def __init__(self) -> None:
        super().__init__()
        #: One attempt's id, kept across retries of the same code (a lost
        #: reply never makes a second ticket); a new code gets a new one.
        self._attempt: tuple[str, str] | None = None
        self.error = ""

    def body(self) -> Iterable:
        with Vertical(id="booking"):
            yield Static(self.t("booking_title"), classes="title")
            yield Static(self.t("booking_prompt"), classes="prompt")
            yield Input(placeholder=self.t("booking_placeholder"), id="booking-code",
                        max_length=40, compact=self.app.size.height < 30)
            yield Static(self.error, id="booking-error", classes="note refusal")
            with Center(id="booking-buttons"):
                with Horizontal():
                    yield Button(self.t("back"), id="back")
                    yield Button(self.t("booking_submit"), id="booking-submit",
                                 variant="primary")
            if self.app.size.height >= 30:
                yield CodeKeyboard(self.t("key_space"), self.t("key_clear"), id="keyboard")

    def on_mount(self) -> None:
        self.query_one("#booking-code", Input).focus()

    def after_recompose(self) -> None:
        self.query_one("#booking-code", Input).focus()

    def action_back(self) -> None:
        self.kiosk.go_home()

    @on(Button.Pressed, "#back")
    def _back(self, event: Button.Pressed) -> None:
        event.stop()
        self.kiosk.go_home()

    @on(OnScreenKeyboard.Typed)
    def _typed(self, event: OnScreenKeyboard.Typed) -> None:
        box = self.query_one("#booking-code", Input)
        if event.key == "backspace":
            box.value = box.value[:-1]
        elif event.key == "clear":
            box.value = ""
        elif event.key != " ":
            box.value += event.key
        box.cursor_position = len(box.value)
        box.focus()

    @on(Input.Submitted, "#booking-code")
    def _submitted(self) -> None:
        self.submit()

    @on(Button.Pressed, "#booking-submit")
    def _submit_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.submit()

    def _say(self, text: str) -> None:
        self.error = text
        for line in self.query("#booking-error").results(Static):
            line.update(text)

    def submit(self) -> None:
        """Check the typed code in (once at a time)."""
        kiosk = self.kiosk
        if kiosk.pending is not None:
            return
        box = self.query_one("#booking-code", Input)
        code = box.value.strip()
        if not code:
            self._say(self.t("booking_empty"))
            return
        if self._attempt is None or self._attempt[0] != code:
            self._attempt = (code, uuid.uuid4().hex)
        self._say(self.t("booking_checking"))
        kiosk.pending = Choice("booking", request_id=self._attempt[1])
        self._check_in(code, self._attempt[1])

    @work(exclusive=True, group="check-in", exit_on_error=False)
    async def _check_in(self, code: str, request_id: str) -> Any:
        kiosk = self.kiosk
        loop = asyncio.get_running_loop()
        deadline = loop.time() + kiosk.retry_for
        while True:
            left = deadline - loop.time()
            if left <= 0:
                return None
            try:
                await kiosk.client.wait_ready(timeout=left)
                reply = await kiosk.client.request(
                    "check_in", timeout=min(kiosk.reply_timeout, left), code=code,
                    request_id=request_id)
                issued = IssuedTicket.from_reply(reply)
                if kiosk.printing:
                    await kiosk._paper_first(issued)
                return issued, reply.get("booking") or {}
            except ServerError as e:
                return e
            except AuthError:
                return None
            except (NotConnected, TimeoutError):
                log.info("check-in: no reply yet, retrying")
                await asyncio.sleep(0.1)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "check-in" or event.state not in (WorkerState.SUCCESS,
                                                                   WorkerState.ERROR):
            return
        kiosk = self.kiosk
        kiosk.pending = None
        result = event.worker.result if event.state == WorkerState.SUCCESS else None
        box = self.query_one("#booking-code", Input)
        if isinstance(result, tuple):
            issued, booking = result
            state = kiosk._print_states.pop(issued.number, "printing") if kiosk.printing \
                else "none"
            kiosk.show(BookedTicketScreen(issued, state, booking))
            return
        # Cleared for the next try: a scanner would otherwise type after it.
        box.value = ""
        self._attempt = None
        if isinstance(result, ServerError):
            self._say(result.text(kiosk.t.language))
        else:
            self._say(self.t("booking_failed"))
        box.focus()


class BookedTicketScreen(TicketScreen):
    """The ticket screen of a booked ticket: its slot first."""

    def __init__(self, issued: IssuedTicket, print_state: str,
                 booking: dict[str, Any]) -> None:
        super().__init__(issued, print_state)
        self.booking = booking

    def booking_line(self) -> str:
        b = self.booking
        slot = str(b.get("slot") or "")
        if b.get("late"):
            return self.t("booked_walk_in", slot=slot, grace=b.get("grace_minutes", ""))
        due = self.issued.ticket.get("slot")
        issued_at = float(self.issued.ticket.get("issued_at") or 0)
        if due is not None and issued_at < float(due):
            return self.t("booked_early", slot=slot)
        if due is not None and issued_at > float(due):
            return self.t("booked_late_kept", slot=slot)
        return self.t("booked_on_time", slot=slot)

    def body(self) -> Iterable:
        yield Static(self.booking_line(), id="t-booking", classes="booked")
        yield from super().body()


def slot_text(ticket: dict[str, Any], center: dict[str, Any]) -> str | None:
    """A booked ticket's slot as HH:MM in the center's time zone."""
    slot = ticket.get("slot")
    if slot is None:
        return None
    return datetime.fromtimestamp(float(slot), center_tz(center)).strftime("%H:%M")
