"""The citizen web inside the queue server: the ticket page's HTTP route, the
citizen's websocket channel, and the messages that say when to come back.

A thin shell around the pure parts (secret, view, page, alerts). The server
calls in at four places only: ``http`` (a ``GET /ve/<secret>``), ``admit`` and
``run`` (a websocket whose hello says ``role: citizen``), ``link`` (the
``issue`` reply) and ``changed`` (after every commit).

The citizen channel has the least privilege: its hello carries one ticket's
secret, it hears only that ticket's view, and it may only leave the queue
with that ticket or ask for messages about it.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import secrets
import socket
import sqlite3
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, broadcast
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from motcua.protocol import (
    CITIZEN,
    ERROR_MESSAGES,
    PROTOCOL_VERSION,
    ProtocolError,
    check_command,
    decode,
    encode,
    error,
    reply_id,
)

from motcua.phone import keep_secrets_out_of_logs

from . import alerts as al
from .page import render_not_found, render_ticket_page
from .secret import new_key, secret_from_path, ticket_link, ticket_secret
from .view import citizen_view

if TYPE_CHECKING:
    from motcua.server.app import MotcuaServer, Session
    from motcua.server.core import Ticket

log = logging.getLogger("motcua.web")
keep_secrets_out_of_logs()  # websockets' DEBUG lines show frames: not a number

#: Pages following one ticket at once (a citizen's phone and a relative's).
MAX_PER_TICKET = 4
#: Citizen connections in all: each costs a little memory and a view per change.
MAX_CITIZENS = 3000
#: How often citizen views are recomputed after changes, at most.
FLUSH_SECONDS = 0.25
#: Messages waiting for the gateway, at most (beyond: failed, not queued).
MAX_OUTBOX = 2000
#: Concurrent requests to the gateway.
SENDERS = 2

_CSP = ("default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-{nonce}'; "
        "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'")


@dataclass(eq=False)
class Citizen:
    """One page following one ticket."""

    ws: ServerConnection
    ticket_id: int
    sent: dict[str, Any] | None = None  # the view it was last sent


@dataclass
class _Stats:
    sent: int = 0
    failed: int = 0
    attempts: int = 0
    pages: int = 0
    not_found: int = 0


class CitizenWeb:
    """Everything citizen-facing in one server process."""

    def __init__(self, server: "MotcuaServer", public_url: str | None = None) -> None:
        self.server = server
        self._public_url = (public_url or server.config.web.public_url or "").rstrip("/") or None
        self.key: str = ""
        self.db = AlertFile(server.store.path)
        # Today's tickets by link secret, filled as tickets are issued.
        self._by_secret: dict[str, int] = {}
        self._secret_of: dict[int, str] = {}
        self._day = ""
        self._indexed_to = 0
        self.citizens: dict[ServerConnection, Citizen] = {}
        self.alerts: dict[int, al.Alert] = {}
        self._flush_handle: asyncio.Handle | None = None
        self._outbox: asyncio.Queue[tuple[int, str, dict[str, Any]]] = asyncio.Queue()
        self._senders: list[asyncio.Task] = []
        self.stats = _Stats()

    @property
    def notify(self):
        """The gateway settings, or None when the center sends no messages."""
        return self.server.config.web.notify

    # --- lifecycle ------------------------------------------------------

    async def open(self) -> None:
        """Read the center's link key and today's alerts (after the store
        migrated the file), and start the senders."""
        self.key, rows = await self.db.call(self.db.open, self.server.core.meta.day)
        self._sync_index()
        self.alerts = {r[0]: al.Alert(*r) for r in rows}
        for _ in range(SENDERS):
            self._senders.append(asyncio.create_task(self._send_loop(), name="motcua-notify"))
        # Messages that were due when the server stopped are due again.
        for a in self.alerts.values():
            for kind in al.KINDS:
                if getattr(a, kind) == al.PENDING:
                    setattr(a, kind, None)
        self.changed()

    async def close(self) -> None:
        """Stop sending and close the alerts file."""
        if self._flush_handle:
            self._flush_handle.cancel()
        for task in self._senders:
            task.cancel()
        for task in self._senders:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        self._senders = []
        await self.db.call(self.db.close)

    # --- links ----------------------------------------------------------

    @property
    def base_url(self) -> str:
        """Where phones reach this server (``[web] public_url`` or the
        listening address; 0.0.0.0 becomes this machine's address)."""
        if self._public_url:
            return self._public_url
        host = self.server.host
        if host in ("0.0.0.0", "::", ""):
            try:
                host = socket.gethostbyname(socket.gethostname())
            except OSError:
                host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        scheme = "https" if getattr(self.server, "tls", None) is not None else "http"
        return f"{scheme}://{host}:{self.server.port}"

    def secret(self, t: "Ticket") -> str:
        """A ticket's link secret."""
        return ticket_secret(self.key, t.day, t.id, t.number)

    def link(self, ticket: dict[str, Any]) -> str:
        """The link for a ticket view (in the ``issue`` reply)."""
        secret = self._secret_of.get(ticket["id"]) if ticket["day"] == self._day else None
        if secret is None:
            secret = ticket_secret(self.key, ticket["day"], ticket["id"], ticket["number"])
            if ticket["day"] == self._day:
                # Indexed now, once: the next sync skips what is indexed.
                self._secret_of[ticket["id"]] = secret
                self._by_secret[secret] = ticket["id"]
        return ticket_link(self.base_url, secret)

    def _sync_index(self) -> None:
        core = self.server.core
        if core.meta.day != self._day:
            self._day = core.meta.day
            self._by_secret.clear()
            self._secret_of.clear()
            todays = [t for t in core.tickets.values() if t.day == self._day]
        else:
            todays = [t for tid in range(self._indexed_to, core.meta.next_ticket)
                      if (t := core.tickets.get(tid)) is not None and t.day == self._day]
        for t in todays:
            s = self._secret_of.get(t.id) or self.secret(t)
            self._by_secret[s] = t.id
            self._secret_of[t.id] = s
        self._indexed_to = core.meta.next_ticket

    def find(self, secret: str) -> "Ticket | None":
        """Today's ticket with this secret, or None (also for another day's)."""
        self._sync_index()
        tid = self._by_secret.get(secret)
        t = self.server.core.tickets.get(tid) if tid is not None else None
        if t is None or t.day != self._day:
            return None
        # Past midnight the link is over even before the next tick rolls the day.
        today = self.server.clock().astimezone(self.server.config.tz).date().isoformat()
        return t if t.day >= today else None

    def view(self, t: "Ticket") -> dict[str, Any]:
        """The citizen's view of a ticket, with its alert (never the phone)."""
        v = citizen_view(self.server.core, t)
        a = self.alerts.get(t.id)
        v["alert"] = a.public(self.notify.ahead) if a is not None and self.notify else None
        return v

    # --- HTTP -----------------------------------------------------------

    def http(self, conn: ServerConnection, request: Request) -> Response:
        """``GET /ve/<secret>``: the ticket page, or a plain 404 for a wrong,
        expired or malformed secret (all alike)."""
        secret = secret_from_path(request.path)
        t = self.find(secret) if secret else None
        if t is None or request.method != "GET":
            self.stats.not_found += 1
            return conn.respond(HTTPStatus.NOT_FOUND, render_not_found())
        query = parse_qs(urlsplit(request.path).query, max_num_fields=4)
        lang = "en" if query.get("lang", [""])[0] == "en" else "vi"
        cfg = self.server.config
        nonce = secrets.token_urlsafe(16)
        html = render_ticket_page(
            self.view(t), secret=secret or "", lang=lang,
            center=cfg.name_en if lang == "en" else cfg.name, nonce=nonce,
            notify_ahead=self.notify.ahead if self.notify else None)
        self.stats.pages += 1
        resp = conn.respond(HTTPStatus.OK, "")
        body = html.encode("utf-8")
        headers = resp.headers
        del headers["Content-Type"]
        del headers["Content-Length"]
        headers["Content-Type"] = "text/html; charset=utf-8"
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            body = gzip.compress(body, 6, mtime=0)
            headers["Content-Encoding"] = "gzip"
        headers["Vary"] = "Accept-Encoding"
        headers["Content-Length"] = str(len(body))
        headers["Cache-Control"] = "no-store"
        headers["Referrer-Policy"] = "no-referrer"
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Content-Security-Policy"] = _CSP.format(nonce=nonce)
        resp.body = body
        return resp

    # --- the citizen channel --------------------------------------------

    def admit(self, ws: ServerConnection, hello: dict[str, Any]) -> "Session":
        """Check a citizen hello (its token is a ticket's secret) and send the
        welcome; raises ``bad_token`` for a wrong or expired secret."""
        from motcua.server.app import Session

        t = self.find(hello["token"]) if isinstance(hello.get("token"), str) else None
        if t is None:
            raise ProtocolError("bad_token", role=CITIZEN)
        if (len(self.citizens) >= MAX_CITIZENS
                or sum(1 for c in self.citizens.values() if c.ticket_id == t.id) >= MAX_PER_TICKET):
            raise ProtocolError("too_busy")
        c = Citizen(ws, t.id)
        c.sent = self.view(t)
        broadcast([ws], encode({"type": "welcome", "protocol": PROTOCOL_VERSION, "role": CITIZEN,
                                "server_time": self.server.clock().timestamp(),
                                "ticket": c.sent}), text=True)
        self.citizens[ws] = c
        return Session(ws, CITIZEN, "web", None)

    async def run(self, session: "Session") -> None:
        """Serve one citizen connection until it closes."""
        ws = session.ws
        try:
            async for raw in ws:
                reply = await self._handle(ws, raw)
                if reply is not None:
                    await ws.send(encode(reply), text=True)
        except ConnectionClosed:
            pass
        finally:
            self.citizens.pop(ws, None)

    async def _handle(self, ws: ServerConnection, raw: str | bytes) -> dict[str, Any] | None:
        re = None
        try:
            msg = decode(raw)
            re = reply_id(msg)
            kind, args = check_command(msg, CITIZEN)
            c = self.citizens.get(ws)
            t = self.server.core.tickets.get(c.ticket_id) if c else None
            if c is None or t is None or t.day != self._day:
                raise ProtocolError("bad_token", role=CITIZEN)
            if kind == "ping":
                return {"type": "reply", "re": re, "ok": True,
                        "pong": self.server.clock().timestamp()}
            if kind == "leave":
                await self.server._apply("cancel", None, number=t.number, counter=None,
                                         device="web", reason="citizen_left")
            elif kind == "notify":
                await self.subscribe(t, args["phone"], args.get("lang") or "vi")
            elif kind == "notify_off":
                await self.unsubscribe(t)
            t = self.server.core.tickets.get(c.ticket_id) or t
            c.sent = self.view(t)
            return {"type": "reply", "re": re, "ok": True, "ticket": c.sent}
        except ProtocolError as e:
            return error(e.code, e.message, e.message_en, re=re, **e.params)
        except Exception as e:  # QueueError, StorageError: plain words, connection stays
            from motcua.server.core import QueueError
            from motcua.server.storage import StorageError
            if isinstance(e, QueueError):
                return error(e.code, e.message, e.message_en, re=re, **e.params)
            if isinstance(e, StorageError):
                return error("storage", *ERROR_MESSAGES["storage"], re=re)
            log.exception("internal error handling a citizen message")
            return error("internal", *ERROR_MESSAGES["internal"], re=re)

    async def notify_command(self, args: dict[str, Any]) -> dict[str, Any]:
        """The kiosk's ``notify``: a phone number for the ticket it just issued
        (named by its secret, like the page)."""
        t = self.find(args["ticket"])
        if t is None:
            raise ProtocolError("bad_field", field="ticket", problem="không có / unknown")
        a = await self.subscribe(t, args["phone"], args.get("lang") or "vi")
        return {"alert": a.public(self.notify.ahead if self.notify else 0)}

    # --- after every commit ---------------------------------------------

    def changed(self) -> None:
        """Something committed: recompute the citizens' views soon (coalesced)."""
        if self._flush_handle is None:
            loop = asyncio.get_running_loop()
            self._flush_handle = loop.call_later(FLUSH_SECONDS, self._flush)

    def _flush(self) -> None:
        self._flush_handle = None
        day_before = self._day
        self._sync_index()
        if self._day != day_before:
            asyncio.ensure_future(self.db.call(self.db.purge, self._day))
            self.alerts = {k: a for k, a in self.alerts.items() if a.day == self._day}
        core = self.server.core
        views: dict[int, dict[str, Any] | None] = {}

        def view_of(tid: int) -> dict[str, Any] | None:
            if tid not in views:
                t = core.tickets.get(tid)
                views[tid] = self.view(t) if t is not None and t.day == self._day else None
            return views[tid]

        for c in list(self.citizens.values()):
            v = view_of(c.ticket_id)
            if v is None:  # a new day: yesterday's link is over
                self.citizens.pop(c.ws, None)
                asyncio.create_task(c.ws.close(4001, "expired"))
            elif v != c.sent:
                c.sent = v
                self.server._write({c.ws}, encode({"type": "ticket_updated", "ticket": v}))
        if self.notify is None:
            return
        for tid, a in self.alerts.items():
            v = view_of(tid)
            if v is None:
                continue
            before = (a.near, a.called)
            for kind in al.due(a, v, self.notify.ahead):
                self._queue_message(a, kind, v)
            if (a.near, a.called) != before:
                asyncio.create_task(self._save(a))

    # --- alerts ---------------------------------------------------------

    async def subscribe(self, t: "Ticket", phone: str, lang: str) -> al.Alert:
        """Keep a phone number for this ticket (today only)."""
        if self.notify is None:
            raise ProtocolError("notify_unavailable")
        try:
            phone = al.normalize_phone(phone)
        except ValueError:
            raise ProtocolError("bad_phone") from None
        a = self.alerts.get(t.id)
        if a is None:
            a = al.Alert(t.id, t.day, phone, lang)
        elif a.phone != phone:
            if a.changes >= al.MAX_PHONE_CHANGES:
                raise ProtocolError("notify_limit")
            a.phone, a.changes = phone, a.changes + 1
        a.lang = lang
        await self._save(a)
        self.alerts[t.id] = a
        log.info("ticket %s asked to be told when %d are ahead", t.number, self.notify.ahead)
        self.changed()
        return a

    async def unsubscribe(self, t: "Ticket") -> None:
        """Forget the phone number of this ticket."""
        if self.alerts.pop(t.id, None) is not None:
            await self.db.call(self.db.delete, t.id)

    async def _save(self, a: al.Alert) -> None:
        if self.alerts.get(a.ticket_id, a) is not a:
            return  # withdrawn meanwhile
        try:
            await self.db.call(self.db.save, a)
        except Exception:  # noqa: BLE001 - the status is kept in memory meanwhile
            log.exception("could not record a message status for ticket id %d", a.ticket_id)

    def _queue_message(self, a: al.Alert, kind: str, view: dict[str, Any]) -> None:
        if self._outbox.qsize() >= MAX_OUTBOX:
            setattr(a, kind, al.FAILED)
            self.stats.failed += 1
            log.warning("message %s for ticket %s not sent: outbox full", kind, view["number"])
            return
        self._outbox.put_nowait((a.ticket_id, kind, view))

    async def _send_loop(self) -> None:
        while True:
            tid, kind, view = await self._outbox.get()
            try:
                await self._deliver(tid, kind, view)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("message %s for a ticket could not be handled", kind)

    async def _deliver(self, tid: int, kind: str, view: dict[str, Any]) -> None:
        settings = self.notify
        a = self.alerts.get(tid)
        if settings is None or a is None:
            return
        cfg = self.server.config
        center = cfg.name_en if a.lang == "en" else cfg.name
        text = al.message_text(kind, view, a.lang, center)
        req = al.gateway_request(settings, phone=a.phone, text=text, number=view["number"],
                                 counter=view.get("counter"), ahead=view.get("ahead"),
                                 kind=kind, center=center)
        status, why = al.FAILED, ""
        for attempt in range(settings.retries + 1):
            if attempt:
                await asyncio.sleep(settings.backoff * 2 ** (attempt - 1))
            a.attempts += 1
            self.stats.attempts += 1
            try:
                code = await asyncio.to_thread(_http_send, req, settings.timeout)
            except Exception as e:  # noqa: BLE001 - any failure is a retry
                why = al.redact(f"{type(e).__name__}: {e}", a.phone)[:200]
                continue
            if 200 <= code < 300:
                status = al.SENT
                break
            why = f"HTTP {code}"
        if self.alerts.get(tid) is not a:
            return  # the citizen withdrew the number meanwhile
        setattr(a, kind, status)
        if status == al.SENT:
            self.stats.sent += 1
            log.info("message %s for ticket %s sent", kind, view["number"])
        else:
            self.stats.failed += 1
            log.warning("message %s for ticket %s failed after %d tries: %s", kind,
                        view["number"], settings.retries + 1, why)
        await self._save(a)
        self.changed()

    # --- figures --------------------------------------------------------

    def metrics(self) -> list[str]:
        """Prometheus lines for the citizen web."""
        return [
            "# HELP motcua_citizen_connections Ticket pages following live.",
            "# TYPE motcua_citizen_connections gauge",
            f"motcua_citizen_connections {len(self.citizens)}",
            "# HELP motcua_citizen_alerts Tickets with a phone number to notify today.",
            "# TYPE motcua_citizen_alerts gauge",
            f"motcua_citizen_alerts {len(self.alerts)}",
            "# HELP motcua_messages_total Messages to citizens, by outcome.",
            "# TYPE motcua_messages_total counter",
            f'motcua_messages_total{{status="sent"}} {self.stats.sent}',
            f'motcua_messages_total{{status="failed"}} {self.stats.failed}',
        ]


class AlertFile:
    """The phone numbers on disk (``citizen_alerts``) and the link key, in
    the server's SQLite file. Plain sqlite3 in one worker thread rather than
    aiosqlite, which logs every statement's parameters at DEBUG level: a
    phone number must never reach a log. Its own connection, short
    autocommit writes; WAL lets it run beside the queue's writer."""

    def __init__(self, path: Any) -> None:
        self.path = path
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="motcua-alerts")
        self._db: sqlite3.Connection | None = None

    async def call(self, fn: Any, *args: Any) -> Any:
        """Run one of the methods below in the worker thread."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def open(self, day: str) -> tuple[str, list[tuple]]:
        """Connect; return the link key and today's alerts (older ones deleted)."""
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA busy_timeout=5000")
        # Deleted phone numbers are overwritten, not left in free pages.
        db.execute("PRAGMA secure_delete=ON")
        self._db = db
        row = db.execute("SELECT value FROM meta WHERE key = 'web.key'").fetchone()
        key = row[0].strip('"') if row else ""
        if len(key) != 64:
            key = new_key()
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('web.key', ?)",
                       (f'"{key}"',))
        self.purge(day)
        rows = db.execute("SELECT ticket_id, day, phone, lang, near, called, changes, attempts "
                          "FROM citizen_alerts WHERE day = ?", (day,)).fetchall()
        return key, rows

    def save(self, a: al.Alert) -> None:
        assert self._db is not None
        self._db.execute(
            "INSERT INTO citizen_alerts (ticket_id, day, phone, lang, near, called, changes, "
            "attempts, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(ticket_id) DO "
            "UPDATE SET phone=excluded.phone, lang=excluded.lang, near=excluded.near, "
            "called=excluded.called, changes=excluded.changes, attempts=excluded.attempts, "
            "updated_at=excluded.updated_at",
            (a.ticket_id, a.day, a.phone, a.lang, a.near, a.called, a.changes, a.attempts,
             time.time()))

    def delete(self, ticket_id: int) -> None:
        assert self._db is not None
        self._db.execute("DELETE FROM citizen_alerts WHERE ticket_id = ?", (ticket_id,))

    def purge(self, day: str) -> None:
        """Phone numbers are kept for their day only."""
        if self._db is not None and day:
            self._db.execute("DELETE FROM citizen_alerts WHERE day < ?", (day,))

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def _http_send(req: al.GatewayRequest, timeout: float) -> int:
    """One request to the gateway (in a thread); its HTTP status."""
    r = urllib.request.Request(req.url, data=req.body, method=req.method, headers=req.headers)
    try:
        with urllib.request.urlopen(r, timeout=timeout) as resp:  # noqa: S310 - configured URL
            resp.read(65536)
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code
