"""The asyncio server: websockets in, the pure core in the middle, SQLite below.

Each message goes decode → validate → apply to the core → persist (one
transaction) → reply → broadcast. Replies and broadcasts leave only after the
commit returns. HTTP ``/healthz`` and ``/metrics`` share the port.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import hashlib
import hmac
import logging
import secrets
import socket
import time as _time
from collections import defaultdict
from datetime import datetime, timezone
from http import HTTPStatus
from pathlib import Path
from typing import Any

from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from motcua.protocol import (
    AUDIENCE,
    CITIZEN,
    ERROR_MESSAGES,
    MANAGER_COMMANDS,
    MAX_FRAME_BYTES,
    PER_COUNTER,
    PROTOCOL_VERSION,
    ROLES,
    ProtocolError,
    check_command,
    check_hello,
    check_voice_status,
    decode,
    encode,
    encode_text,
    error,
    reply_id,
)

from motcua.web.live import CitizenWeb

from . import admin_store
from .accounts import Managers, pin_problem, verify_password
from .booking import rows_of
from .config import CenterConfig, hash_pin, verify_pin
from .core import Clock, Outcome, QueueCore, QueueError
from .devices import DeviceError, Devices, enrolment_code
from .live_config import LiveConfig, always_open
from .lockout import LoginLimiter
from .storage import DatabaseUnusable, Rows, StorageError, Store, Superseded, rows_for, ticket_views
from .strings import START, both, pair

log = logging.getLogger("motcua.server")

HELLO_TIMEOUT = 10.0
#: How often the file is checked for devices and managers changed by another
#: process (the command line).
WATCH_SECONDS = 1.0
#: A manager's login lasts this long (then the admin app asks again).
MANAGER_LOGIN_SECONDS = 12 * 3600
TICK_SECONDS = 15.0
#: How often, at most, each role hears a coalesced queue_changed. Officers
#: pick from their queue, so theirs is quick; a kiosk's "N people waiting"
#: or a pad's idle screen can be half a second old, and with 50 kiosks a
#: tenth of a second would cost more sends than the tickets themselves.
QUEUE_FLUSH_SECONDS = {"counter": 0.1, "admin": 0.2, "display": 0.2, "kiosk": 0.5,
                       "rating": 1.0}
#: Connections that have not said hello yet, at most; more are turned away
#: at once (each costs buffers until its hello or its timeout).
MAX_PENDING_HELLOS = 256
#: A client whose unsent data passes this is dropped: it isn't reading (a
#: hung TV), and every broadcast would pile up in memory for it. It resyncs
#: from a fresh welcome when it reconnects.
MAX_UNSENT_BYTES = 256 * 1024
#: The kernel's send buffer per connection (autotuned up to megabytes by
#: default, which is where a non-reading client's backlog piled up).
SOCKET_SEND_BUFFER = 64 * 1024
#: Connections gone since the last peak before memory is reclaimed.
RECLAIM_AFTER_DROP = 200
#: How often a change that a later one superseded in a refused commit is
#: applied again before giving up.
SUPERSEDED_RETRIES = 3
# Spent on unknown officer IDs too, so a wrong ID and a wrong PIN look alike.
_DUMMY_HASH = hash_pin("0000", "motcua-dummy")

#: Hello refusals that close with 4001: the device's identity is refused
#: (the shared client stops instead of retrying).
_IDENTITY_ERRORS = {"bad_token", "device_revoked", "wrong_counter"}

# Commands that act on "this counter" (the device's own, or an admin's pick).
_COUNTER_COMMANDS = {"login", "logout", "pause", "resume", "call_next", "call_ticket",
                     "recall", "start", "finish", "no_show", "transfer", "waiting_list",
                     "officer_stats"}
# Commands done in the name of the officer logged in at the counter: a counter
# device may send them only over the login session it made (or resumed).
_OFFICER_COMMANDS = (_COUNTER_COMMANDS - {"login", "waiting_list"}) | {"requeue", "cancel"}
# What an admin device may do without a manager logged in: read (the monitor).
_READ_COMMANDS = {"ping", "snapshot", "waiting_list", "officer_stats"}


def reclaim_memory() -> None:
    """Collect garbage and hand free heap memory back to the system."""
    import gc
    gc.collect()
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc: the collection alone still helps


def session_digest(secret: str) -> str:
    """What the database keeps of a login session's secret."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class StartError(RuntimeError):
    """The server could not start. ``message`` says why in Vietnamese,
    ``message_en`` in English, each in one line; nothing is left running."""

    def __init__(self, message: str, message_en: str) -> None:
        self.message = message
        self.message_en = message_en
        super().__init__(both(message, message_en))

    @classmethod
    def of(cls, key: str, **params: Any) -> "StartError":
        """From a key of :data:`strings.START`."""
        return cls(*pair(START, key, **params))


def utc_now() -> datetime:
    """The real clock."""
    return datetime.now(timezone.utc)


__all__ = ["MotcuaServer", "always_open", "utc_now", "session_digest"]


@dataclasses.dataclass(eq=False)
class Session:
    """One connection after its hello."""

    ws: ServerConnection
    role: str
    device: str
    counter: int | None
    source: str = ""  # the peer's address: what lock-outs count by
    #: Digest of the login session this connection holds at its counter.
    login: str | None = None
    #: The device's name was proven by its own secret (an enrolled device),
    #: not merely claimed (a shared demo token).
    proven: bool = False
    #: The manager logged in over this (admin) connection, and the digest of
    #: that login's secret.
    manager: str | None = None
    manager_login: str | None = None

    @property
    def stream(self) -> str:
        """Its event stream: per role, and per counter for rating pads."""
        return f"rating:{self.counter}" if self.role == "rating" else self.role


class MotcuaServer:
    """One center's server. ``await start()``, then ``port`` is known."""

    def __init__(self, config: CenterConfig, db_path: str | Path, host: str = "127.0.0.1",
                 port: int = 8765, clock: Clock = utc_now, public_url: str | None = None,
                 hub: str | None = None, *, demo: bool | None = None,
                 ignore_hours: bool = False, prefer_file: bool = False,
                 tls: Any = None, tls_fingerprint: str | None = None,
                 api_port: int | None = None) -> None:
        """``config`` is the center file's configuration; the database's
        stored configuration wins over it unless ``prefer_file`` (see
        :meth:`start`). ``demo`` (default: the built-in sample center)
        accepts the shared per-role tokens of ``[devices]``; ``tls`` is an
        ``ssl.SSLContext`` (wss)."""
        self.file_config = config
        self.demo = config.demo if demo is None else demo
        self.ignore_hours = ignore_hours
        self.prefer_file = prefer_file
        self.tls = tls
        self.tls_fingerprint = tls_fingerprint
        self.host = host
        self.port = port
        self.clock = clock
        self.store = Store(db_path)
        self.core = QueueCore(self._live_from_file().config(), clock)
        self._public = self.core.config.public()  # rebuilt only when the configuration changes
        #: Which configuration won at start, when the file and the database
        #: differ (the command line prints it).
        self.config_notice: str | None = None
        self.devices = Devices()
        self.managers = Managers()
        #: Digest of a manager login's secret -> (manager ID, expiry).
        self.manager_logins: dict[str, tuple[str, float]] = {}
        self.manager_limiter = LoginLimiter()
        self._data_version: int | None = None
        self._watch_task: asyncio.Task | None = None
        # Connections per event stream (see Session.stream) and their numbering.
        self.conns: dict[str, set[ServerConnection]] = defaultdict(set)
        self.seq: dict[str, int] = defaultdict(int)
        self.sessions: dict[ServerConnection, Session] = {}
        self.limiter = LoginLimiter()
        self._pending_hellos = 0
        self.dropped_slow = 0
        self._server: Any = None
        self._tick_task: asyncio.Task | None = None
        # Department views waiting for the next coalesced queue_changed, per
        # role (a role that got them folded into an event needs no repeat).
        self._pending_depts: dict[str, dict[str, dict[str, Any]]] = {r: {} for r in ROLES}
        self._pending_totals: dict[str, int] | None = None
        self._flush_handles: dict[str, asyncio.Handle] = {}
        self._last_flush: dict[str, float] = {r: 0.0 for r in ROLES}
        self._recovering = asyncio.Lock()
        self.started_at = _time.time()
        #: The citizen web: ticket pages, the citizen channel, messages.
        self.web = CitizenWeb(self, public_url)
        # The province hub (motcua.hub): a background shipper, if configured.
        self.hub_url = hub or config.hub.url
        self.shipper: Any = None
        #: The bookings API's own listener (``serve --api-port``), if asked for.
        self.api: Any = None
        self.api_port = api_port

    @property
    def config(self) -> CenterConfig:
        """The configuration in force (changes live)."""
        return self.core.config

    def _live_from_file(self) -> LiveConfig:
        live = LiveConfig.of(self.file_config)
        return dataclasses.replace(live, ignore_hours=self.ignore_hours, demo=self.demo)

    @property
    def scheme(self) -> str:
        return "wss" if self.tls is not None else "ws"

    @property
    def device_url(self) -> str:
        """The address devices connect to (in enrolment codes)."""
        base = self.web.base_url if hasattr(self, "web") else ""
        if base.startswith(("http://", "https://")):
            return ("wss://" if base.startswith("https://") else "ws://") + base.split("://", 1)[1]
        return f"{self.scheme}://{self.host}:{self.port}"

    # --- lifecycle ------------------------------------------------------

    async def start(self) -> None:
        """Open the database, restore state and start listening.

        Raises :class:`StartError` when the database can't be used or the
        address can't be listened on; whatever failed, nothing is left open
        (an open aiosqlite thread would keep the process alive).
        """
        if not 0 <= self.port <= 65535:
            raise StartError.of("bad_port", port=self.port)
        try:
            try:
                await self.store.open()
            except DatabaseUnusable as e:
                raise StartError(e.message, e.message_en) from e
            live = await self._choose_config()
            self._data_version = await self._file_version()
            await self._load_accounts()
            core = QueueCore(live.config(), self.clock)
            core.live = live
            await self.store.load(core)
            self.core = core
            self._public = core.config.public()
            await self._apply("tick")
            await self.web.open()
            self._server = await self._listen()
            if self.api_port is not None:
                from .booking_api import BookingAPI

                self.api = BookingAPI(self, self.host, self.api_port)
                try:
                    await self.api.start()
                except OSError as e:
                    where = {"host": self.host, "port": self.api_port}
                    if e.errno == errno.EADDRINUSE:
                        raise StartError.of("port_in_use", **where) from e
                    raise StartError.of("listen_failed", reason=e.strerror or e, **where) from e
        except BaseException:
            await self.stop()
            raise
        self.port = self._server.sockets[0].getsockname()[1]
        # For `motcua devices add` beside this server: the address and the
        # certificate fingerprint its enrolment codes give devices.
        await self.store.write(Rows(meta=[("tls.fingerprint", encode_text(self.tls_fingerprint)),
                                          ("server.url", encode_text(self.device_url))]))
        self._tick_task = asyncio.create_task(self._ticker(), name="motcua-tick")
        self._watch_task = asyncio.create_task(self._watch_file(), name="motcua-watch")
        if self.hub_url:
            # In a child process: shipping never competes with the queue.
            from motcua.hub.process import ShipperProcess

            self.shipper = ShipperProcess(self.store.path, self.hub_url, self.config,
                                          code=self.config.hub.code,
                                          name=self.config.hub.name, heartbeat=self.heartbeat)
            await self.shipper.start()
        log.info("listening on %s:%d", self.host, self.port)

    async def _listen(self) -> Any:
        try:
            return await serve(
                self._handler, self.host, self.port, process_request=self._http,
                max_size=MAX_FRAME_BYTES, ping_interval=20, ping_timeout=20,
                # Messages are small and the network is a LAN; per-connection
                # deflate would cost more CPU than 500 displays' bandwidth saves.
                compression=None, ssl=self.tls,
            )
        except socket.gaierror as e:
            raise StartError.of("bad_host", host=self.host) from e
        except OSError as e:
            where = {"host": self.host, "port": self.port}
            if e.errno == errno.EADDRINUSE:
                raise StartError.of("port_in_use", **where) from e
            if e.errno == errno.EADDRNOTAVAIL:
                raise StartError.of("bad_host", **where) from e
            if e.errno == errno.EACCES:
                raise StartError.of("port_denied", **where) from e
            raise StartError.of("listen_failed", reason=e.strerror or e, **where) from e
    async def _choose_config(self) -> LiveConfig:
        """The configuration to run on: the database's latest version, or
        the center file's when the database has none yet (stored as version
        1) or ``prefer_file`` is set (stored as a new version). When both
        exist and differ, the database wins and :attr:`config_notice` says
        so."""
        assert self.store.db is not None
        stored, at, by = await admin_store.load_config(self.store.db)
        mine = self._live_from_file()
        source = self.file_config.name if not self.file_config.demo else "sample"
        now = self.clock().timestamp()
        if stored is not None:
            stored = dataclasses.replace(stored, ignore_hours=self.ignore_hours, demo=self.demo)
            if stored.same(mine):
                return stored
            if not self.prefer_file:
                when = datetime.fromtimestamp(at or 0, self.file_config.tz)
                base = await admin_store.last_file_version(self.store.db)
                v = stored.version
                if base is not None and base.doc == mine.doc:
                    self.config_notice = (
                        f"giữ các thay đổi trực tiếp (phiên bản {base.version + 1}–{v}); tệp "
                        f"cấu hình không đổi từ phiên bản {base.version} / live changes "
                        f"(versions {base.version + 1}–{v}, the last {when:%Y-%m-%d %H:%M}"
                        f"{' by ' + by if by else ''}) are kept over the center file, which "
                        f"is unchanged since version {base.version}")
                else:
                    self.config_notice = (
                        f"TỆP CẤU HÌNH BỊ BỎ QUA: cấu hình trong cơ sở dữ liệu (phiên bản {v}, "
                        f"{when:%d/%m/%Y %H:%M}{', ' + by if by else ''}) được dùng / THE CENTER "
                        f"FILE IS IGNORED: it differs from the database's configuration (version "
                        f"{v}, {when:%Y-%m-%d %H:%M}{', by ' + by if by else ''}), which wins. "
                        "`motcua config export` writes the stored one; `serve --from-file` "
                        "stores the file as a new version")
                log.warning("%s", self.config_notice)
                try:
                    stored.config()
                except Exception:
                    log.exception("the stored configuration no longer loads; using the file")
                else:
                    return stored
        version = (stored.version if stored is not None else 0) + 1
        live = dataclasses.replace(mine, version=version)
        change = {"kind": "file", "source": source}
        rows = Rows(extra=admin_store.version_rows(live, now, "file", None, change)
                    + admin_store.pin_rows(live.pins, live.pins, now))
        await self.store.write(rows)
        if stored is not None:
            log.warning("the center file replaces the stored configuration (now version %d)",
                        version)
        return live

    async def _load_accounts(self) -> None:
        """Devices and managers from the database (at start, after a storage
        error, and when another process changed the file)."""
        assert self.store.db is not None
        devices = await admin_store.load_devices(self.store.db)
        seen = {d.name: d for d in self.devices.by_name.values() if d.last_seen}
        fresh = Devices(devices)
        for name, d in seen.items():  # connections not yet written
            now = fresh.get(name)
            if now is not None and (now.last_seen or 0) < (d.last_seen or 0):
                fresh.seen(name, d.last_seen or 0, d.last_address)
        self.devices = fresh
        self.managers = Managers(await admin_store.load_managers(self.store.db))
        for digest, (manager, _until) in list(self.manager_logins.items()):
            m = self.managers.get(manager)
            if m is None or m.disabled:
                self.manager_logins.pop(digest, None)
        for s in list(self.sessions.values()):
            if s.proven:
                d = self.devices.get(s.device)
                if d is None or d.revoked:
                    self._drop(s, "device_revoked")
            if s.manager is not None and s.manager_login not in self.manager_logins:
                s.manager = s.manager_login = None

    async def _file_version(self) -> int | None:
        db = self.store.db
        if db is None:
            return None
        async with db.execute("PRAGMA data_version") as cur:
            (version,) = await cur.fetchone()
        return int(version)

    async def _watch_file(self) -> None:
        """Notice, within a second, devices and managers changed by another
        process on the same file (``motcua devices revoke`` beside a running
        server): SQLite's ``data_version`` moves only for other connections'
        commits."""
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            try:
                if self.store.failed:
                    continue
                version = await self._file_version()
                if version is not None and version != self._data_version:
                    await self.store.barrier()  # our own changes first
                    await self._load_accounts()
                    # Bookings imported by `motcua bookings import` beside us.
                    self.core.merge_bookings(await self.store.bookings_from(self.core.meta.day))
                    self._data_version = version
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("checking the database for outside changes failed")

    def _drop(self, s: Session, code: str) -> None:
        """End a connection at once with an error (a revoked device)."""
        self.sessions.pop(s.ws, None)
        self.conns[s.stream].discard(s.ws)
        e = ProtocolError(code, device=s.device)
        log.warning("closing %s %s: %s", s.role, s.device, code)
        asyncio.ensure_future(self._refuse(s.ws, e, 4001))

    def _persist_seen(self) -> None:
        """Write devices' last connections (kept in memory between ticks)."""
        seen = self.devices.take_seen()
        if seen and not self.store.failed:
            self.store.write(Rows(extra=[(admin_store.SQL_DEVICE_SEEN,
                                          (d.last_seen, d.last_address, d.name)) for d in seen]))

    async def stop(self) -> None:
        """Stop listening, close connections, flush and close the database."""
        if self._tick_task:
            self._tick_task.cancel()
        if self._watch_task:
            self._watch_task.cancel()
        if self.shipper is not None:
            await self.shipper.stop()
            self._tick_task = None
        if self.api is not None:
            await self.api.stop()
            self.api = None
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for handle in self._flush_handles.values():
            handle.cancel()
        self._flush_handles.clear()
        await self.web.close()
        await self.store.close()

    async def _ticker(self) -> None:
        peak = 0
        while True:
            await asyncio.sleep(TICK_SECONDS)
            try:
                await self._apply("tick")
                self._persist_seen()
            except Exception:
                log.exception("tick failed")
            # After a burst of connections has gone (a reconnect storm, or a
            # flood that never said hello), give the memory back: collect
            # their reference cycles and let the C allocator return what is
            # free to the system, instead of holding the burst's peak all day.
            open_now = len(self.sessions) + self._pending_hellos
            peak = max(peak, open_now)
            if RECLAIM_AFTER_DROP and peak - open_now >= RECLAIM_AFTER_DROP:
                peak = open_now
                reclaim_memory()

    # --- HTTP -----------------------------------------------------------

    def _http(self, conn: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path == "/healthz":
            broken = self.store.failed
            status = HTTPStatus.SERVICE_UNAVAILABLE if broken else HTTPStatus.OK
            return conn.respond(status, "storage error\n" if broken else "ok\n")
        if path == "/metrics":
            resp = conn.respond(HTTPStatus.OK, self.metrics())
            # Headers is a multi-dict: assigning would add a second Content-Type.
            del resp.headers["Content-Type"]
            resp.headers["Content-Type"] = "text/plain; version=0.0.4; charset=utf-8"
            return resp
        if path.startswith("/ve/"):
            return self.web.http(conn, request)  # a citizen's ticket page
        if path == "/" and "websocket" in request.headers.get("Upgrade", "").lower():
            if self._pending_hellos >= MAX_PENDING_HELLOS:
                # Turned away before the upgrade: a flood of connections that
                # never say hello costs a short HTTP answer each, no more.
                return conn.respond(HTTPStatus.SERVICE_UNAVAILABLE, "too busy, retry\n")
            return None  # the websocket handshake goes on
        if path == "/":
            return conn.respond(HTTPStatus.UPGRADE_REQUIRED,
                                "motcua: connect with a websocket client\n")
        return conn.respond(HTTPStatus.NOT_FOUND, "not found\n")

    def metrics(self) -> str:
        """Prometheus text exposition of the server's figures."""
        totals = self.core.totals()
        lines = [
            "# HELP motcua_tickets_issued_today Tickets issued today.",
            "# TYPE motcua_tickets_issued_today gauge",
            f"motcua_tickets_issued_today {totals['issued']}",
            "# HELP motcua_tickets_served_today Tickets served (finished) today.",
            "# TYPE motcua_tickets_served_today gauge",
            f"motcua_tickets_served_today {totals['served']}",
            "# HELP motcua_waiting Tickets waiting, per department.",
            "# TYPE motcua_waiting gauge",
        ]
        for code, queue in self.core.waiting.items():
            lines.append(f'motcua_waiting{{department="{code}"}} {len(queue)}')
        lines += ["# HELP motcua_connections Open connections per role.",
                  "# TYPE motcua_connections gauge"]
        per_role = {role: 0 for role in ROLES}
        for stream, conns in self.conns.items():
            per_role[stream.split(":", 1)[0]] += len(conns)
        for role in ROLES:
            lines.append(f'motcua_connections{{role="{role}"}} {per_role[role]}')
        lines += [
            "# HELP motcua_commits_total Database commits since start.",
            "# TYPE motcua_commits_total counter",
            f"motcua_commits_total {self.store.commits}",
            "# HELP motcua_changes_total State changes committed since start.",
            "# TYPE motcua_changes_total counter",
            f"motcua_changes_total {self.store.changes}",
            "# HELP motcua_slow_clients_dropped_total Clients dropped for not reading.",
            "# TYPE motcua_slow_clients_dropped_total counter",
            f"motcua_slow_clients_dropped_total {self.dropped_slow}",
        ]
        lines += self.web.metrics()
        if self.shipper is not None:
            lines += self.shipper.metrics_lines()
        return "\n".join(lines) + "\n"

    def heartbeat(self) -> dict[str, Any]:
        """What the province hub shows of this center right now: queues,
        counters, printers and today's totals (the snapshot, without the
        visits awaiting a rating)."""
        snap = self.core.snapshot()
        for c in snap["counters"]:
            c.pop("pending_visit", None)
        return snap

    # --- connections ----------------------------------------------------

    async def _handler(self, ws: ServerConnection) -> None:
        if self._pending_hellos >= MAX_PENDING_HELLOS:
            await self._refuse(ws, ProtocolError("too_busy"), 1013)
            return
        self._pending_hellos += 1
        try:
            session = await self._greet(ws)
        finally:
            self._pending_hellos -= 1
        if session is None:
            return
        if session.role == CITIZEN:
            await self.web.run(session)  # its own channel: one ticket, few commands
            return
        try:
            async for raw in ws:
                if self.sessions.get(ws) is not session:
                    break  # dropped (a revoked device): read nothing more
                reply = await self._handle(session, raw)
                if reply is not None:
                    await ws.send(encode(reply), text=True)
        except ConnectionClosed:
            pass
        finally:
            self.conns[session.stream].discard(ws)
            self.sessions.pop(ws, None)

    async def _refuse(self, ws: ServerConnection, e: ProtocolError | QueueError,
                      code: int) -> None:
        try:
            await ws.send(encode(error(e.code, e.message, e.message_en)), text=True)
            await ws.close(code, e.code)
        except ConnectionClosed:
            pass

    async def _greet(self, ws: ServerConnection) -> Session | None:
        try:
            raw = await asyncio.wait_for(ws.recv(), HELLO_TIMEOUT)
        except (TimeoutError, ConnectionClosed):
            await ws.close(1008, "hello expected")
            return None
        try:
            hello = check_hello(decode(raw))
            role = hello["role"]
            if role == CITIZEN:
                return self.web.admit(ws, hello)  # the token is a ticket's link secret
            name, proven, counter = self._identify(role, hello)
            if role in ("counter", "rating"):
                if counter is None or self.config.counter(counter) is None:
                    raise QueueError("unknown_counter", counter=counter)
            else:
                counter = None
        except (ProtocolError, QueueError) as e:
            log.warning("refused hello from %s: %s", ws.remote_address, e.code)
            await self._refuse(ws, e, 4001 if e.code in _IDENTITY_ERRORS else 1008)
            return None
        except Exception:
            log.exception("unexpected error in a hello from %s", ws.remote_address)
            await ws.close(1011, "internal")
            return None
        peer = ws.remote_address
        session = Session(ws, role, name, counter, source=str(peer[0]) if peer else "",
                          proven=proven)
        if proven:
            self.devices.seen(name, self.clock().timestamp(), session.source)
        resumed = False
        if role == "counter" and hello.get("session"):
            # A console back after a network blip or a server restart: the
            # secret it got at login still holds the counter, no new PIN.
            digest = session_digest(hello["session"])
            resumed = self.core.counters[counter].session == digest
            session.login = digest if resumed else None
        elif role == "admin" and hello.get("session"):
            # The admin app back after a blip: its manager stays logged in.
            digest = session_digest(hello["session"])
            held = self.manager_logins.get(digest)
            if held is not None and held[1] > self.clock().timestamp():
                resumed = True
                session.manager, session.manager_login = held[0], digest
        self._limit_send_buffer(ws)
        # Snapshot, its seq and registration in one synchronous step, written
        # with broadcast() (no await): no event can slip in between.
        stream = session.stream
        welcome = {
            "type": "welcome", "protocol": PROTOCOL_VERSION, "role": role,
            "device": session.device, "counter": counter, "server_time": self.clock().timestamp(),
            "seq": self.seq[stream], "center": self._public, "snapshot": self.core.snapshot(),
        }
        if role == "counter" or (role == "admin" and hello.get("session")):
            welcome["session_resumed"] = resumed
        if role == "admin":
            welcome["manager"] = session.manager
        if self.demo:
            welcome["demo"] = True
        broadcast([ws], encode(welcome), text=True)
        self.conns[stream].add(ws)
        self.sessions[ws] = session
        log.info("%s %s connected from %s", role, session.device, ws.remote_address)
        return session

    def _identify(self, role: str, hello: dict[str, Any]) -> tuple[str, bool, int | None]:
        """Who is saying hello: an enrolled device proven by its secret (its
        enrolled name and counter count, not the hello's), or — in demo mode
        only — any device showing the role's shared token (its name is only
        claimed)."""
        token = hello["token"]
        counter = hello.get("counter")
        device = self.devices.authenticate(token)
        if device is not None:
            if device.revoked:
                raise ProtocolError("device_revoked", device=device.name)
            if device.role != role:
                raise ProtocolError("bad_token", role=role)
            if device.counter is not None:
                if counter is not None and counter != device.counter:
                    raise ProtocolError("wrong_counter", device=device.name,
                                        counter=device.counter)
                counter = device.counter
            return device.name, True, counter
        expected = self.config.tokens.get(role) if self.demo else None
        if expected and hmac.compare_digest(expected.encode(), token.encode()):
            return hello["device"], False, counter
        raise ProtocolError("bad_token", role=role)

    @staticmethod
    def _limit_send_buffer(ws: ServerConnection) -> None:
        sock = ws.transport.get_extra_info("socket") if ws.transport else None
        if sock is not None and SOCKET_SEND_BUFFER:
            import socket
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_SEND_BUFFER)
            except OSError:
                pass

    async def _handle(self, session: Session, raw: str | bytes) -> dict[str, Any] | None:
        re = None
        try:
            msg = decode(raw)
            re = reply_id(msg)
            kind, args = check_command(msg, session.role)
            result = await self._dispatch(session, kind, args, re)
            if result is None:
                return None
            return {"type": "reply", "re": re, "ok": True, **result}
        except (ProtocolError, QueueError) as e:
            return error(e.code, e.message, e.message_en, re=re, **e.params)
        except StorageError:
            return error("storage", *ERROR_MESSAGES["storage"], re=re)
        except Exception:
            log.exception("internal error handling a %s message", session.role)
            return error("internal", *ERROR_MESSAGES["internal"], re=re)

    async def _dispatch(self, s: Session, kind: str, args: dict[str, Any],
                        re: Any = None) -> dict[str, Any] | None:
        if kind == "ping":
            return {"pong": self.clock().timestamp()}
        if kind == "snapshot":
            # Written synchronously, like the welcome, to keep its seq exact.
            msg = {"type": "snapshot", "seq": self.seq[s.stream], "snapshot": self.core.snapshot()}
            if re is not None:
                msg["re"] = re
            # Through the slow-client check: a client asking for snapshots
            # without reading them would otherwise pile them up here.
            self._write({s.ws}, encode(msg))
            return None
        counter = None
        if kind in _COUNTER_COMMANDS or (kind in ("requeue", "cancel") and s.role == "counter"):
            counter = self._counter_for(s, args.get("counter"))
        elif "counter" in args and s.role == "admin":
            counter = args["counter"]
        if kind in _OFFICER_COMMANDS and s.role == "counter":
            self._check_login(s, counter)
        if s.role == "admin":
            if s.manager is not None and self._manager_expired(s):
                s.manager = s.manager_login = None
            if kind in MANAGER_COMMANDS or (not self.demo and kind not in _READ_COMMANDS
                                            and kind != "manager_login"):
                # Every admin action is recorded with the manager who did it;
                # the demo's shared admin token alone may still act.
                if s.manager is None:
                    raise ProtocolError("manager_required")
            if kind in MANAGER_COMMANDS or kind == "manager_login":
                return await self._administer(s, kind, args)
        if kind == "change_pin":
            return await self._change_pin(s, args["old_pin"], args["new_pin"])
        dev = s.device
        tag = {"reason": args["reason"]} if kind in ("logout", "requeue") and args.get(
            "reason") and s.role == "admin" else None
        if kind == "issue":
            out = await self._apply("issue", s, department=args["department"],
                                    procedure=args.get("procedure"),
                                    priority=args.get("priority"), device=dev,
                                    request_id=args["request_id"])
            return {**out.result, "link": self.web.link(out.result["ticket"]),
                    "notify_ahead": self.web.notify.ahead if self.web.notify else None}
        elif kind == "check_in":
            out = await self._apply("check_in", s, code=args["code"], device=dev,
                                    request_id=args["request_id"])
            return {**out.result, "link": self.web.link(out.result["ticket"]),
                    "notify_ahead": self.web.notify.ahead if self.web.notify else None}
        elif kind == "notify":
            return await self.web.notify_command(args)
        elif kind == "login":
            return await self._login(s, counter, args["officer"], args["pin"])
        elif kind == "pause":
            out = await self._apply("pause", s, counter=counter, reason=args["reason"], device=dev)
        elif kind == "call_ticket":
            out = await self._apply("call_ticket", s, counter=counter, number=args["number"],
                                    device=dev)
        elif kind == "transfer":
            out = await self._apply("transfer", s, counter=counter, department=args["department"],
                                    procedure=args.get("procedure"), note=args.get("note"),
                                    device=dev)
        elif kind == "requeue":
            out = await self._apply("requeue", s, number=args["number"], counter=counter,
                                    device=dev, tag=tag)
        elif kind == "cancel":
            out = await self._apply("cancel", s, number=args["number"], counter=counter,
                                    reason=args.get("reason"), device=dev)
        elif kind == "rate":
            out = await self._apply("rate", s, visit_id=args["visit"], value=args["value"],
                                    reason=args.get("reason"), device=dev,
                                    request_id=args["request_id"],
                                    counter=s.counter if s.role == "rating" else None)
        elif kind == "printer_status":
            out = await self._apply("printer_status", s, device=dev, ok=args["ok"],
                                    problem=args.get("problem"), detail=args.get("detail"))
        elif kind == "voice_status":
            check_voice_status(args)
            out = await self._apply("voice_status", device=dev, ok=args["ok"],
                                    problem=args.get("problem"), detail=args.get("detail"))
        elif kind == "officer_stats":
            return {"stats": self.core.officer_stats(self.core.counters[counter].officer)
                    if counter in self.core.counters else None}
        elif kind == "waiting_list":
            cfg = self.config.counter(counter)
            if cfg is None:
                raise QueueError("unknown_counter", counter=counter)
            return {"tickets": self.core.waiting_tickets(cfg.departments)}
        elif kind == "logout":
            out = await self._apply(kind, s, counter=counter, device=dev, tag=tag)
        else:  # resume, call_next, recall, start, finish, no_show
            out = await self._apply(kind, s, counter=counter, device=dev)
        return out.result

    def _counter_for(self, s: Session, asked: int | None) -> int:
        if s.role == "counter":
            if asked is not None and asked != s.counter:
                raise ProtocolError("forbidden", role=f"counter {s.counter}",
                                    type=f"counter {asked}")
            assert s.counter is not None
            return s.counter
        if asked is None:
            raise ProtocolError("bad_field", field="counter", problem="bắt buộc / required")
        return asked

    def _check_login(self, s: Session, counter: int) -> None:
        """A counter device acts in the officer's name only over the login
        session it made or resumed; a second device at the same counter must
        log in itself (which ends the first one's session)."""
        state = self.core.counters.get(counter)
        if state is None or state.officer is None:
            return  # nobody is logged in: the core refuses what needs an officer
        if s.login is None or s.login != state.session:
            raise ProtocolError("login_required", counter=counter)

    async def _login(self, s: Session, counter: int, officer_id: str, pin: str) -> dict[str, Any]:
        now = self.clock().timestamp()
        locked = self.limiter.check(officer_id, s.source, now)
        if locked is not None:
            raise ProtocolError("login_locked", minutes=max(1, -(-locked.retry_after // 60)))
        officer = self.config.officer(officer_id)
        if officer is not None and officer.disabled:
            officer = None  # as if unknown: the same answer, the same time
        ok = await asyncio.to_thread(
            verify_pin, pin, officer.pin_hash if officer else _DUMMY_HASH)
        if not ok or officer is None:
            await self._login_failed(s, counter, officer_id)
            raise QueueError("unknown_officer")
        self.limiter.success(officer.id, s.source, now)
        secret = secrets.token_urlsafe(32)
        digest = session_digest(secret)
        out = await self._apply("login", s, counter=counter, officer=officer.id, device=s.device,
                                session=digest)
        s.login = digest
        return {**out.result, "session": secret}

    async def _login_failed(self, s: Session, counter: int | None, officer_id: str) -> None:
        now = self.clock().timestamp()
        locks = self.limiter.failure(officer_id, s.source, now)
        who = officer_id[:40]
        try:
            await self._apply("audit", s, kind="login_failed", counter=counter, officer=who,
                              device=s.device, source=s.source)
            for lock in locks:
                log.warning("login locked (%s) for %s from %s: %d wrong PINs, %d s",
                            lock.kind, lock.officer, lock.source, lock.failures, lock.seconds)
                await self._apply("audit", s, kind="login_locked", counter=counter,
                                  officer=lock.officer, device=s.device, source=lock.source,
                                  scope=lock.kind, seconds=lock.seconds, failures=lock.failures)
        except StorageError:
            log.warning("could not record a failed login of %s", who)

    # --- administration -------------------------------------------------

    def _manager_expired(self, s: Session) -> bool:
        held = self.manager_logins.get(s.manager_login or "")
        if held is None or held[1] <= self.clock().timestamp():
            self.manager_logins.pop(s.manager_login or "", None)
            return True
        return False

    async def _administer(self, s: Session, kind: str, args: dict[str, Any]) -> dict[str, Any]:
        """The manager's commands (an admin device, a manager logged in)."""
        by = s.manager
        reason = args.get("reason")
        if kind == "manager_login":
            return await self._manager_login(s, args["manager"], args["password"])
        if kind == "manager_logout":
            self.manager_logins.pop(s.manager_login or "", None)
            await self._apply("audit", s, kind="manager_logged_out", device=s.device, manager=by)
            s.manager = s.manager_login = None
            return {}
        if kind == "list_devices":
            return {"devices": self.devices.views(), "fingerprint": self.tls_fingerprint}
        if kind == "enrol_device":
            try:
                device, secret = self.devices.enrol(args["role"], args["name"],
                                                    self.clock().timestamp(), by,
                                                    args.get("counter"))
            except DeviceError as e:
                raise QueueError(e.code, **e.params) from None
            if device.counter is not None and self.config.counter(device.counter) is None:
                self.devices.by_name.pop(device.name)
                raise QueueError("unknown_counter", counter=device.counter)
            await self._apply("audit", s, kind="device_enrolled", device=s.device,
                              name=device.name, role=device.role, counter=device.counter,
                              extra=admin_store.device_rows(device))
            return {"device": device.view(), "secret": secret,
                    "fingerprint": self.tls_fingerprint,
                    "enrolment": enrolment_code(self.device_url, device, secret,
                                                self.tls_fingerprint)}
        if kind == "revoke_device":
            try:
                device = self.devices.revoke(args["name"], self.clock().timestamp(), by, reason)
            except DeviceError as e:
                raise QueueError(e.code, **e.params) from None
            # Refused from now on (its hello), and its open connections now.
            for other in list(self.sessions.values()):
                if other.proven and other.device == device.name:
                    self._drop(other, "device_revoked")
            await self._apply("audit", s, kind="device_revoked", device=s.device,
                              name=device.name, role=device.role, reason=device.revoke_reason,
                              extra=admin_store.device_rows(device))
            return {"device": device.view()}
        if kind == "add_bookings":
            out = await self._apply("add_bookings", s, rows=rows_of(args["bookings"]),
                                    source=(args.get("source") or "admin")[:40], by=by,
                                    device=s.device)
            return out.result
        if kind == "list_officers":
            at = {st.officer: st.number for st in self.core.counters.values() if st.officer}
            return {"officers": [{"id": o.id, "name": o.name, "disabled": o.disabled,
                                  "counters": list(o.counters), "at_counter": at.get(o.id)}
                                 for o in self.config.officers]}
        if kind == "config_history":
            assert self.store.db is not None
            limit = max(1, min(200, args.get("limit") or 50))
            return {"versions": await admin_store.history(self.store.db, limit),
                    "version": self.core.live_config().version}
        if kind == "reset_pin":
            problem = pin_problem(args["pin"])
            if problem:
                raise QueueError("bad_value", field="pin", problem=problem)
            if self.config.officer(args["officer"]) is None:
                raise QueueError("no_such_officer", officer=args["officer"])
            pin_hash = await asyncio.to_thread(hash_pin, args["pin"])
            out = await self._apply("set_pin", s, officer=args["officer"], pin_hash=pin_hash,
                                    by=by, device=s.device,
                                    tag={"reason": reason} if reason else None)
            return out.result
        change: dict[str, Any]
        if kind == "add_officer":
            problem = pin_problem(args["pin"])
            if problem:
                raise QueueError("bad_value", field="pin", problem=problem)
            change = {"kind": kind, "officer": args["officer"], "name": args["name"],
                      "counters": args.get("counters"),
                      "pin_hash": await asyncio.to_thread(hash_pin, args["pin"])}
        elif kind == "update_officer":
            change = {"kind": kind, **{k: args.get(k) for k in
                                       ("officer", "name", "disabled", "counters")}}
        elif kind == "close_department":
            change = {"kind": kind, "department": args["department"], "until": args.get("until")}
        elif kind == "open_department":
            change = {"kind": kind, "department": args["department"]}
        elif kind == "set_daily_cap":
            change = {"kind": kind, "department": args["department"], "cap": args["cap"]}
        elif kind == "set_counter_departments":
            change = {"kind": kind, "counter": args["counter"], "departments": args["departments"]}
        elif kind == "set_notice":
            change = {"kind": kind, "notice": args["notice"], "notice_en": args.get("notice_en")}
        else:  # pragma: no cover - the protocol lists every command
            raise ProtocolError("unknown_type", type=kind)
        out = await self._apply("configure", s, change=change, by=by, reason=reason,
                                device=s.device)
        return {**out.result, "center": self._public}

    async def _manager_login(self, s: Session, manager_id: str, password: str) -> dict[str, Any]:
        now = self.clock().timestamp()
        locked = self.manager_limiter.check(manager_id, s.source, now)
        if locked is not None:
            raise ProtocolError("login_locked", minutes=max(1, -(-locked.retry_after // 60)))
        m = self.managers.get(manager_id)
        usable = m is not None and not m.disabled
        ok = await asyncio.to_thread(verify_password, password,
                                     m.password_hash if usable else None)  # type: ignore[union-attr]
        if not ok or not usable:
            locks = self.manager_limiter.failure(manager_id, s.source, now)
            who = manager_id[:40]
            try:
                await self._apply("audit", s, kind="manager_login_failed", device=s.device,
                                  manager=who, source=s.source)
                for lock in locks:
                    await self._apply("audit", s, kind="login_locked", device=s.device,
                                      manager=lock.officer, source=lock.source, scope=lock.kind,
                                      seconds=lock.seconds, failures=lock.failures)
            except StorageError:
                log.warning("could not record a failed manager login of %s", who)
            raise QueueError("unknown_manager")
        assert m is not None
        self.manager_limiter.success(m.id, s.source, now)
        secret = secrets.token_urlsafe(32)
        digest = session_digest(secret)
        self.manager_logins.pop(s.manager_login or "", None)
        self.manager_logins[digest] = (m.id, now + MANAGER_LOGIN_SECONDS)
        s.manager, s.manager_login = m.id, digest
        await self._apply("audit", s, kind="manager_logged_in", device=s.device, manager=m.id,
                          source=s.source)
        return {"manager": m.view(), "session": secret}

    async def _change_pin(self, s: Session, old_pin: str, new_pin: str) -> dict[str, Any]:
        """An officer changes their own PIN at the console that holds their
        login; the current PIN is required (and counted like a login)."""
        assert s.counter is not None
        self._check_login(s, s.counter)
        state = self.core.counters.get(s.counter)
        officer_id = state.officer if state is not None else None
        if officer_id is None:
            raise QueueError("not_logged_in", counter=s.counter)
        now = self.clock().timestamp()
        locked = self.limiter.check(officer_id, s.source, now)
        if locked is not None:
            raise ProtocolError("login_locked", minutes=max(1, -(-locked.retry_after // 60)))
        officer = self.config.officer(officer_id)
        assert officer is not None
        if not await asyncio.to_thread(verify_pin, old_pin, officer.pin_hash):
            await self._login_failed(s, s.counter, officer_id)
            raise QueueError("wrong_pin")
        self.limiter.success(officer_id, s.source, now)
        problem = pin_problem(new_pin)
        if problem:
            raise QueueError("bad_value", field="new_pin", problem=problem)
        if new_pin == old_pin:
            raise QueueError("no_change")
        pin_hash = await asyncio.to_thread(hash_pin, new_pin)
        out = await self._apply("set_pin", s, officer=officer_id, pin_hash=pin_hash,
                                by=officer_id, device=s.device, counter=s.counter)
        return out.result

    # --- applying and persisting ----------------------------------------

    async def _apply(self, command: str, origin: Session | None = None, *,
                     tag: dict[str, Any] | None = None,
                     extra: list[tuple[str, tuple]] | None = None, **kwargs: Any) -> Outcome:
        """Apply a command to the core and persist what it did; answer only
        once it is durable. ``origin`` is the connection it came from; its
        manager (and ``tag``, e.g. a reason) is recorded in the command's
        events; ``extra`` rows go into the same transaction."""
        for attempt in range(SUPERSEDED_RETRIES + 1):
            try:
                return await self._apply_once(command, origin, kwargs, tag, extra)
            except Superseded:
                # Another change in the same commit was refused by the file,
                # and this one was built on it: never recorded, so apply it
                # again on the state reloaded from the file.
                if attempt == SUPERSEDED_RETRIES:
                    raise
                await self._recover()
        raise AssertionError("unreachable")

    async def _apply_once(self, command: str, origin: Session | None,
                          kwargs: dict[str, Any], tag: dict[str, Any] | None = None,
                          extra: list[tuple[str, tuple]] | None = None) -> Outcome:
        if self.store.failed:
            await self._recover()
        try:
            out = self.core.execute(command, **kwargs)
        except QueueError as e:
            if e.outcome is not None:  # e.g. a day rollover before the refusal
                await self._persist(e.outcome, origin)
            raise
        except Exception:
            # A bug left memory half-changed: stop writing and reload.
            self.store.mark_failed()
            raise
        manager = origin.manager if origin is not None else None
        if manager is not None or tag:
            for ev in out.events:
                if ev.device is not None and ev.device == origin.device:  # type: ignore[union-attr]
                    if manager is not None:
                        ev.data.setdefault("by", manager)
                    if tag:
                        ev.data.update(tag)
        if out.changed or extra:
            await self._persist(out, origin, extra)
        else:
            # A repeat (same request_id) answers from memory: don't acknowledge
            # it before the original's commit is through.
            await self.store.barrier()
        return out

    async def _persist(self, out: Outcome, origin: Session | None = None,
                       extra: list[tuple[str, tuple]] | None = None) -> None:
        if out.versions:
            # Before the events are built: config_changed carries it, and
            # every welcome from now on.
            self._public = self.core.config.public()
        views = ticket_views(self.core, out)
        rows = rows_for(self.core, out, views)
        if out.versions or out.pins:
            rows.extra += admin_store.outcome_rows(out, self.clock().timestamp(),
                                                   self.core.live_config().pins)
        if extra:
            rows.extra += extra
        messages = self._messages(out, views)
        counters = set(out.counters)

        def after() -> None:
            self._broadcast(messages)
            self.web.changed()
            if counters:
                self._end_stale_logins(counters, origin)
        await self.store.write(rows, after=after)

    def _end_stale_logins(self, counters: set[int], origin: Session | None) -> None:
        """Tell each console whose login no longer holds its counter (another
        device logged in there, or the counter was closed) that its session
        is over, and forget it."""
        for s in list(self.sessions.values()):
            if s.login is None or s.counter not in counters:
                continue
            state = self.core.counters.get(s.counter)
            if state is not None and state.session == s.login:
                continue
            s.login = None
            if s is origin:
                continue  # its own logout: the reply says so
            reason = "taken_over" if state is not None and state.officer else "closed"
            msg = {"type": "session_ended", "counter": s.counter, "reason": reason,
                   "officer": state.officer if state else None}
            broadcast([s.ws], encode(msg), text=True)

    async def _recover(self) -> None:
        """Rebuild memory from the file after a failed commit. One at a time,
        and only once every queued write has finished, so the file is quiet
        while it is read (a failed store accepts no new writes)."""
        async with self._recovering:
            if not self.store.failed:
                return  # another command already recovered
            try:
                await self.store.barrier()
            except StorageError:
                pass  # expected: the store is failed; the queue is now empty
            assert self.store.db is not None
            live, _, _ = await admin_store.load_config(self.store.db)
            live = dataclasses.replace(live or self._live_from_file(),
                                       ignore_hours=self.ignore_hours, demo=self.demo)
            core = QueueCore(live.config(), self.clock)
            core.live = live
            await self.store.load(core)
            self.core = core
            self._public = core.config.public()
            await self._load_accounts()
            self.store.reset()
            log.warning("state reloaded from %s after a storage error", self.store.path)

    def _streams(self, type_: str, counter: int | None) -> list[str]:
        """The event streams an event goes to."""
        out = []
        for role in AUDIENCE[type_]:
            if role != "rating":
                out.append(role)
            elif type_ in PER_COUNTER and counter is not None:
                out.append(f"rating:{counter}")  # only the pads at that counter
            else:
                out.extend(k for k in self.seq if k.startswith("rating:"))
        return out

    def _messages(self, out: Outcome, views: dict[int, dict]) -> tuple[list[tuple[dict[str, Any], list[str]]],
                                                                       dict[str, Any], dict]:
        """Build the wire events now, from the state this command left (only
        those someone is connected to hear)."""
        core = self.core
        events = []
        for ev in out.events:
            if ev.type not in AUDIENCE:
                continue
            streams = [st for st in self._streams(ev.type, ev.counter) if self.conns.get(st)]
            if not streams:
                continue
            msg: dict[str, Any] = {"type": ev.type, "at": ev.at, **ev.data}
            view = views.get(ev.ticket_id) if ev.ticket_id is not None else None
            if view is not None:
                msg["ticket"] = view
            if ev.counter is not None and ev.counter in core.counters:
                msg["counter"] = core.counter_view(core.counters[ev.counter])
            if ev.officer is not None:
                officer = self.config.officer(ev.officer)
                msg["officer"] = ev.officer
                msg["officer_name"] = officer.name if officer else None
            if ev.type == "config_changed":
                msg["center"] = self._public
            events.append((msg, streams))
        depts = {code: core.department_view(code) for code in out.departments
                 if code in core.waiting}
        return events, depts, core.totals()

    def _broadcast(self, messages: tuple[list[tuple[dict[str, Any], list[str]]],
                                         dict[str, Any], dict]) -> None:
        events, depts, totals = messages
        if self.shipper is not None:
            self.shipper.poke()  # committed: the hub may have it now
        folded: set[str] = set()
        if depts and events:
            # The queues this change moved ride on its last event, so a TV
            # gets one frame per call instead of the call plus a queue update.
            last, streams = events[-1]
            last["departments"] = list(depts.values())
            last["totals"] = totals
            folded = {st for st in streams if not st.startswith("rating:")}
            if last["type"] not in PER_COUNTER and "rating" in AUDIENCE[last["type"]]:
                folded.add("rating")  # it went to every pad
        for msg, streams in events:
            self._send(msg, streams)
        if depts:
            # Queue counts are absolute values, so bursts coalesce safely.
            for role, pending in self._pending_depts.items():
                if role in folded:
                    for code in depts:
                        pending.pop(code, None)  # just delivered, newer than any pending
                else:
                    pending.update(depts)
            self._pending_totals = totals
            loop = asyncio.get_running_loop()
            now = _time.monotonic()
            for role, pending in self._pending_depts.items():
                if pending and role not in self._flush_handles:
                    delay = max(0.0, self._last_flush[role] + QUEUE_FLUSH_SECONDS[role] - now)
                    self._flush_handles[role] = loop.call_later(delay, self._flush_queue, role)

    def _flush_queue(self, role: str) -> None:
        self._flush_handles.pop(role, None)
        self._last_flush[role] = _time.monotonic()
        pending, self._pending_depts[role] = self._pending_depts[role], {}
        if not pending:
            return
        msg = {"type": "queue_changed", "departments": list(pending.values()),
               "totals": self._pending_totals}
        streams = [st for st in self._streams("queue_changed", None)
                   if st.split(":", 1)[0] == role]
        self._send(msg, streams)

    def _send(self, msg: dict[str, Any], streams: list[str]) -> None:
        for stream in streams:
            self.seq[stream] += 1
            conns = self.conns.get(stream)
            if conns:
                self._write(conns, encode({**msg, "seq": self.seq[stream]}))

    def _write(self, conns: set[ServerConnection], data: str) -> None:
        """Broadcast, dropping clients that stopped reading: their backlog
        would otherwise grow with every event until a ping timed out."""
        live = []
        for ws in list(conns):
            transport = ws.transport
            if transport is not None and transport.get_write_buffer_size() > MAX_UNSENT_BYTES:
                conns.discard(ws)
                self.dropped_slow += 1
                log.warning("dropped %s: it is not reading (%d bytes unsent)",
                            ws.remote_address, transport.get_write_buffer_size())
                transport.abort()
            else:
                live.append(ws)
        if live:
            broadcast(live, data, text=True)
