"""The one reconnecting client every terminal app (and test) uses.

It connects, says ``hello``, keeps a local mirror of the center (:class:`CenterState`)
current from the server's events, detects gaps by sequence number and
resyncs, and reconnects by itself with backoff. No Textual import here: apps
pass callbacks, which run on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidURI

from .phone import keep_secrets_out_of_logs
from .protocol import PROTOCOL_VERSION, decode, encode

log = logging.getLogger("motcua.client")
keep_secrets_out_of_logs()  # a kiosk sends a citizen's number in a frame


def _reconnect_delays() -> Iterator[float]:
    """Quick retries, capped at 3 s: a kiosk or TV on the center's LAN should
    come back within seconds of the server, not after websockets' default
    of up to 90 s, and there are too few devices for a stampede to matter."""
    yield random.uniform(0, 0.5)
    delay = 0.5
    while True:
        yield delay + random.uniform(0, 0.25)
        delay = min(delay * 2, 3.0)


class ServerError(Exception):
    """The server refused a request: a stable ``code`` and plain messages."""

    def __init__(self, code: str, message: str, message_en: str = "",
                 params: dict[str, Any] | None = None) -> None:
        self.code = code
        self.message = message
        self.message_en = message_en or message
        self.params = params or {}
        super().__init__(f"{code}: {message}")

    def text(self, language: str = "vi") -> str:
        """The message in the UI's language."""
        return self.message_en if language == "en" else self.message


class NotConnected(Exception):
    """There is no connection now (the request may be retried later)."""


class AuthError(Exception):
    """The server refused the hello (wrong token, role or counter): retrying
    with the same settings cannot help, so the client stops."""

    def __init__(self, error: ServerError) -> None:
        self.error = error
        super().__init__(str(error))


@dataclass
class Event:
    """A broadcast event from the server, with its common parts typed."""

    type: str
    seq: int
    at: float | None
    ticket: dict[str, Any] | None
    counter: dict[str, Any] | None
    raw: dict[str, Any]

    @classmethod
    def from_wire(cls, msg: dict[str, Any]) -> "Event":
        return cls(msg["type"], int(msg.get("seq", 0)), msg.get("at"), msg.get("ticket"),
                   msg.get("counter"), msg)


@dataclass
class CenterState:
    """The client's mirror of the center, as the last snapshot plus events."""

    center: dict[str, Any] = field(default_factory=dict)
    day: str = ""
    departments: dict[str, dict[str, Any]] = field(default_factory=dict)
    counters: dict[int, dict[str, Any]] = field(default_factory=dict)
    recent_calls: list[dict[str, Any]] = field(default_factory=list)
    printers: list[dict[str, Any]] = field(default_factory=list)
    voices: list[dict[str, Any]] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)
    #: The server's clock in the last welcome (epoch seconds), so a device
    #: with a wrong clock still knows whether the center issues tickets now.
    server_time: float | None = None

    def load(self, snapshot: dict[str, Any]) -> None:
        """Replace everything with a snapshot from the server."""
        self.day = snapshot.get("day", "")
        self.departments = {d["code"]: d for d in snapshot.get("departments", [])}
        self.counters = {c["number"]: c for c in snapshot.get("counters", [])}
        self.recent_calls = list(snapshot.get("recent_calls", []))
        self.printers = list(snapshot.get("printers", []))
        self.voices = list(snapshot.get("voices", []))
        self.totals = dict(snapshot.get("totals", {}))

    def apply(self, ev: Event) -> None:
        """Fold one event into the mirror (events carry whole views)."""
        if ev.counter is not None:
            self.counters[ev.counter["number"]] = ev.counter
        # queue_changed carries department views; so may any other event
        # (the queues a change moved ride on its event).
        for d in ev.raw.get("departments") or ():
            self.departments[d["code"]] = d
        if ev.raw.get("totals"):
            self.totals = ev.raw["totals"]
        if ev.type == "config_changed" and isinstance(ev.raw.get("center"), dict):
            # A live change (a department closed, the notice…): the whole
            # public configuration, as a welcome would give it.
            self.center = ev.raw["center"]
        if ev.type == "ticket_called" and ev.ticket is not None:
            t = ev.ticket
            call = {"ticket_id": t["id"], "number": t["number"], "counter": t["counter"],
                    "department": t["department"], "at": ev.at, "recall": t["recalls"]}
            keep = int(self.center.get("recent_calls", 10))
            self.recent_calls = [call, *[c for c in self.recent_calls
                                         if c["ticket_id"] != t["id"]]][:keep]

    # Convenience lookups for the apps.
    def department_info(self, code: str) -> dict[str, Any] | None:
        """The configured department (names, letter, procedures)."""
        return next((d for d in self.center.get("departments", []) if d["code"] == code), None)

    def department_name(self, code: str, language: str = "vi") -> str:
        info = self.department_info(code)
        return (info.get("en" if language == "en" else "vi") if info else None) or code

    def procedure_info(self, code: str | None) -> dict[str, Any] | None:
        if not code:
            return None
        for d in self.center.get("departments", []):
            for p in d.get("procedures", []):
                if p["code"] == code:
                    return p
        return None


Callback = Callable[..., Any]


class MotcuaClient:
    """A device's connection to the server, kept up for as long as it runs.

    ``on_event(event)`` is called for each broadcast after the mirror is
    updated; ``on_status(connected: bool)`` when the connection comes or goes;
    ``on_welcome(state)`` after each (re)connection's snapshot.
    """

    def __init__(self, url: str, role: str, device: str, token: str, counter: int | None = None,
                 *, on_event: Callback | None = None, on_status: Callback | None = None,
                 on_welcome: Callback | None = None, open_timeout: float = 5.0,
                 fingerprint: str | None = None, ca: str | None = None) -> None:
        """``fingerprint`` pins the server's certificate (``wss://``; given at
        enrolment), ``ca`` trusts the center's CA file instead (see
        :mod:`motcua.tls`)."""
        self.url = url
        self.fingerprint = fingerprint
        self.ca = ca
        self.role = role
        self.device = device
        self.token = token
        self.counter = counter
        self.on_event = on_event
        self.on_status = on_status
        self.on_welcome = on_welcome
        self.open_timeout = open_timeout
        self.state = CenterState()
        self.seq = 0
        #: The secret of this console's login session (from the ``login``
        #: reply); sent in every hello so a reconnect resumes the login.
        self.session: str | None = None
        self.connected = False
        #: The last welcome's fields (its ``device`` is the name the server
        #: proved; ``manager``, ``demo``…), without the center and snapshot.
        self.welcome: dict[str, Any] = {}
        self.auth_error: AuthError | None = None
        self._ws: ClientConnection | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future] = {}
        self._task: asyncio.Task | None = None
        self._ready = asyncio.Event()
        self._resyncing = False

    # --- lifecycle ------------------------------------------------------

    def start(self) -> asyncio.Task:
        """Start the connection loop in the background."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name=f"motcua-client-{self.device}")
        return self._task

    async def wait_ready(self, timeout: float | None = None) -> None:
        """Wait until connected and synced (raises TimeoutError or AuthError)."""
        waiter = asyncio.ensure_future(self._ready.wait())
        tasks = {waiter} | ({self._task} if self._task else set())
        done, _ = await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if waiter not in done:
            waiter.cancel()
            if self.auth_error:
                raise self.auth_error
            if self._task in done and self._task.exception():
                raise self._task.exception()  # type: ignore[misc]
            raise TimeoutError("not connected to the motcua server")

    async def close(self) -> None:
        """Stop reconnecting and close the connection."""
        ws = self._ws
        if ws is not None:
            # A closing handshake, so the server doesn't wait out its timeout.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 2)
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None
        self._set_connected(False)

    async def run(self) -> None:
        """Connect and reconnect forever (until closed or refused)."""
        options: dict[str, Any] = {}
        if self.url.startswith("wss://"):
            from .tls import client_context

            options["ssl"] = client_context(self.fingerprint, self.ca)
        try:
            async for ws in connect(self.url, open_timeout=self.open_timeout,
                                    max_size=2**22, ping_interval=10, ping_timeout=10,
                                    compression=None, reconnect_delays=_reconnect_delays,
                                    **options):
                try:
                    await self._session(ws)
                except ConnectionClosed:
                    pass
                except AuthError as e:
                    self.auth_error = e
                    await ws.close()
                    raise
                finally:
                    self._ws = None
                    self._set_connected(False)
                await asyncio.sleep(0.2)  # a server restarting needs a moment
        except (InvalidURI, AuthError):
            raise
        finally:
            self._set_connected(False)

    async def _session(self, ws: ClientConnection) -> None:
        if self.fingerprint and self.url.startswith("wss://"):
            from .tls import check_pinned, peer_fingerprint

            if not check_pinned(ws.transport, self.fingerprint):
                # Not our server's certificate: it gets no hello, no secret.
                seen = peer_fingerprint(ws.transport) or "?"
                raise AuthError(ServerError(
                    "tls_mismatch",
                    f"Chứng chỉ máy chủ không khớp (SHA-256 {seen[:16]}…); không gửi gì.",
                    f"The server's certificate does not match the pinned one (SHA-256 "
                    f"{seen[:16]}…); nothing was sent."))
        hello: dict[str, Any] = {"type": "hello", "role": self.role, "device": self.device,
                                 "token": self.token, "protocol": PROTOCOL_VERSION}
        if self.counter is not None:
            hello["counter"] = self.counter
        if self.session is not None:
            hello["session"] = self.session
        await ws.send(encode(hello), text=True)
        first = decode(await ws.recv(), limit=None)
        if first["type"] == "error":
            raise AuthError(ServerError(first["code"], first.get("message", ""),
                                        first.get("message_en", "")))
        if first["type"] != "welcome":
            raise ConnectionClosed(None, None)
        self.welcome = {k: v for k, v in first.items() if k not in ("center", "snapshot")}
        self.state.center = first["center"]
        self.state.load(first["snapshot"])
        server_time = first.get("server_time")
        if isinstance(server_time, (int, float)) and not isinstance(server_time, bool):
            self.state.server_time = float(server_time)
        self.seq = int(first["seq"])
        self._resyncing = False
        self._ws = ws
        lost = self.session is not None and not first.get("session_resumed")
        if lost:
            self.session = None  # taken over or closed while we were away
        self._set_connected(True)
        self._call(self.on_welcome, self.state)
        if lost:
            self._call(self.on_event, Event("session_ended", 0, None, None, None, {
                "type": "session_ended", "counter": self.counter, "reason": "not_resumed"}))
        async for raw in ws:
            try:
                msg = decode(raw, limit=None)
            except Exception:
                log.warning("ignored a malformed message from the server")
                continue
            self._receive(msg)

    def _set_connected(self, value: bool) -> None:
        if value == self.connected:
            return
        self.connected = value
        if value:
            self._ready.set()
        else:
            self._ready.clear()
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(NotConnected("connection lost"))
            self._pending.clear()
        self._call(self.on_status, value)

    def _call(self, cb: Callback | None, *args: Any) -> None:
        if cb is None:
            return
        try:
            result = cb(*args)
            if asyncio.iscoroutine(result):
                asyncio.ensure_future(result)
        except Exception:
            log.exception("client callback failed")

    # --- incoming -------------------------------------------------------

    def _receive(self, msg: dict[str, Any]) -> None:
        kind = msg["type"]
        if kind == "error" and msg.get("code") == "device_revoked":
            # Revoked while connected: the server closes; never come back.
            raise AuthError(ServerError(msg["code"], msg.get("message", ""),
                                        msg.get("message_en", ""), msg.get("params")))
        if kind in ("reply", "error") and "re" in msg:
            fut = self._pending.pop(msg["re"], None)
            if fut is not None and not fut.done():
                if kind == "reply":
                    fut.set_result(msg)
                else:
                    fut.set_exception(ServerError(msg["code"], msg.get("message", ""),
                                                  msg.get("message_en", ""), msg.get("params")))
            return
        if kind == "session_ended":
            # Not a numbered event: it is for this connection alone.
            self.session = None
            self._call(self.on_event, Event("session_ended", 0, None, None, None, msg))
            return
        if kind == "snapshot":
            self.state.load(msg["snapshot"])
            self.seq = int(msg["seq"])
            self._resyncing = False
            self._call(self.on_welcome, self.state)
            return
        if "seq" not in msg:
            return
        seq = int(msg["seq"])
        if seq <= self.seq:
            return  # already covered by the snapshot
        if seq != self.seq + 1:
            log.warning("event gap (%d after %d): resyncing", seq, self.seq)
            self._resync()
            return
        if self._resyncing:
            return
        self.seq = seq
        ev = Event.from_wire(msg)
        self.state.apply(ev)
        if kind == "day_started":
            self._resync()
        self._call(self.on_event, ev)

    def _resync(self) -> None:
        if self._resyncing or self._ws is None:
            return
        self._resyncing = True
        asyncio.ensure_future(self._send_quiet({"type": "snapshot"}))

    async def _send_quiet(self, msg: dict[str, Any]) -> None:
        try:
            if self._ws is not None:
                await self._ws.send(encode(msg), text=True)
        except ConnectionClosed:
            pass

    # --- requests -------------------------------------------------------

    async def request(self, type_: str, timeout: float = 10.0, **fields: Any) -> dict[str, Any]:
        """Send a command and wait for its reply. Raises :class:`ServerError`
        when refused, :class:`NotConnected` when the connection is down or
        drops before the reply (retry with the same ``request_id`` where the
        command has one), or ``TimeoutError``."""
        ws = self._ws
        if ws is None or not self.connected:
            raise NotConnected("not connected")
        rid = next(self._ids)
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        try:
            await ws.send(encode({"type": type_, "id": rid, **fields}), text=True)
            reply = await asyncio.wait_for(fut, timeout)
            if type_ in ("login", "manager_login") and reply.get("session"):
                self.session = reply["session"]
            elif (type_ == "logout" and self.role == "counter") or type_ == "manager_logout":
                self.session = None
            return reply
        except ConnectionClosed:
            raise NotConnected("connection lost") from None
        finally:
            self._pending.pop(rid, None)


async def connect_once(url: str, role: str, device: str, token: str,
                       counter: int | None = None, timeout: float = 5.0,
                       **options: Any) -> MotcuaClient:
    """Start a client and wait until it is connected (for scripts and tests)."""
    client = MotcuaClient(url, role, device, token, counter, **options)
    client.start()
    try:
        await client.wait_ready(timeout)
    except BaseException:
        await client.close()
        raise
    return client


__all__ = ["MotcuaClient", "CenterState", "Event", "ServerError", "NotConnected", "AuthError",
           "connect_once"]
