"""The asyncio server: websockets in, the pure core in the middle, SQLite below.

Each message goes decode → validate → apply to the core → persist (one
transaction) → reply → broadcast. Replies and broadcasts leave only after the
commit returns. HTTP ``/healthz`` and ``/metrics`` share the port.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import secrets
import time as _time
from collections import defaultdict
from datetime import datetime, time, timezone
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
    MAX_FRAME_BYTES,
    PER_COUNTER,
    PROTOCOL_VERSION,
    ROLES,
    ProtocolError,
    check_command,
    check_hello,
    decode,
    encode,
    error,
)

from motcua.web.live import CitizenWeb

from .config import WEEKDAYS, CenterConfig, hash_pin, verify_pin
from .core import Clock, Outcome, QueueCore, QueueError
from .lockout import LoginLimiter
from .storage import StorageError, Store, Superseded, rows_for, ticket_views

log = logging.getLogger("motcua.server")

HELLO_TIMEOUT = 10.0
TICK_SECONDS = 15.0
QUEUE_FLUSH_SECONDS = 0.1
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

# Commands that act on "this counter" (the device's own, or an admin's pick).
_COUNTER_COMMANDS = {"login", "logout", "pause", "resume", "call_next", "call_ticket",
                     "recall", "start", "finish", "no_show", "transfer", "waiting_list",
                     "officer_stats"}
# Commands done in the name of the officer logged in at the counter: a counter
# device may send them only over the login session it made (or resumed).
_OFFICER_COMMANDS = (_COUNTER_COMMANDS - {"login", "waiting_list"}) | {"requeue", "cancel"}


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


def utc_now() -> datetime:
    """The real clock."""
    return datetime.now(timezone.utc)


def always_open(config: CenterConfig) -> CenterConfig:
    """The same center with hours lifted (demos, benchmarks, tests)."""
    return dataclasses.replace(config, opens=time(0, 0), closes=time(23, 59, 59),
                               last_ticket=time(23, 59, 59), open_days=WEEKDAYS)


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

    @property
    def stream(self) -> str:
        """Its event stream: per role, and per counter for rating pads."""
        return f"rating:{self.counter}" if self.role == "rating" else self.role


class MotcuaServer:
    """One center's server. ``await start()``, then ``port`` is known."""

    def __init__(self, config: CenterConfig, db_path: str | Path, host: str = "127.0.0.1",
                 port: int = 8765, clock: Clock = utc_now, public_url: str | None = None,
                 hub: str | None = None) -> None:
        self.config = config
        self.host = host
        self.port = port
        self.clock = clock
        self.store = Store(db_path)
        self._public = config.public()  # the config is frozen: build once, not per welcome
        self.core = QueueCore(config, clock)
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
        self._flush_handle: asyncio.Handle | None = None
        self._last_flush = 0.0
        self._recovering = asyncio.Lock()
        self.started_at = _time.time()
        #: The citizen web: ticket pages, the citizen channel, messages.
        self.web = CitizenWeb(self, public_url)
        # The province hub (motcua.hub): a background shipper, if configured.
        self.hub_url = hub or config.hub.url
        self.shipper: Any = None

    # --- lifecycle ------------------------------------------------------

    async def start(self) -> None:
        """Open the database, restore state and start listening."""
        await self.store.open()
        await self.store.load(self.core)
        await self._apply("tick")
        await self.web.open()
        self._server = await serve(
            self._handler, self.host, self.port, process_request=self._http,
            max_size=MAX_FRAME_BYTES, ping_interval=20, ping_timeout=20,
            # Messages are small and the network is a LAN; per-connection
            # deflate would cost more CPU than 500 displays' bandwidth saves.
            compression=None,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._tick_task = asyncio.create_task(self._ticker(), name="motcua-tick")
        if self.hub_url:
            # In a child process: shipping never competes with the queue.
            from motcua.hub.process import ShipperProcess

            self.shipper = ShipperProcess(self.store.path, self.hub_url, self.config,
                                          code=self.config.hub.code,
                                          name=self.config.hub.name, heartbeat=self.heartbeat)
            await self.shipper.start()
        log.info("listening on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        """Stop listening, close connections, flush and close the database."""
        if self._tick_task:
            self._tick_task.cancel()
        if self.shipper is not None:
            await self.shipper.stop()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._flush_handle:
            self._flush_handle.cancel()
        await self.web.close()
        await self.store.close()

    async def _ticker(self) -> None:
        peak = 0
        while True:
            await asyncio.sleep(TICK_SECONDS)
            try:
                await self._apply("tick")
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
            if self.config.tokens.get(role) != hello["token"]:
                raise ProtocolError("bad_token", role=role)
            counter = hello.get("counter")
            if role in ("counter", "rating"):
                if counter is None or self.config.counter(counter) is None:
                    raise QueueError("unknown_counter", counter=counter)
            else:
                counter = None
        except (ProtocolError, QueueError) as e:
            log.warning("refused hello from %s: %s", ws.remote_address, e.code)
            await self._refuse(ws, e, 4001 if e.code == "bad_token" else 1008)
            return None
        except Exception:
            log.exception("unexpected error in a hello from %s", ws.remote_address)
            await ws.close(1011, "internal")
            return None
        peer = ws.remote_address
        session = Session(ws, role, hello["device"], counter,
                          source=str(peer[0]) if peer else "")
        resumed = False
        if role == "counter" and hello.get("session"):
            # A console back after a network blip or a server restart: the
            # secret it got at login still holds the counter, no new PIN.
            digest = session_digest(hello["session"])
            resumed = self.core.counters[counter].session == digest
            session.login = digest if resumed else None
        self._limit_send_buffer(ws)
        # Snapshot, its seq and registration in one synchronous step, written
        # with broadcast() (no await): no event can slip in between.
        stream = session.stream
        welcome = {
            "type": "welcome", "protocol": PROTOCOL_VERSION, "role": role,
            "device": session.device, "counter": counter, "server_time": self.clock().timestamp(),
            "seq": self.seq[stream], "center": self._public, "snapshot": self.core.snapshot(),
        }
        if role == "counter":
            welcome["session_resumed"] = resumed
        broadcast([ws], encode(welcome), text=True)
        self.conns[stream].add(ws)
        self.sessions[ws] = session
        log.info("%s %s connected from %s", role, session.device, ws.remote_address)
        return session

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
            re = msg.get("id")
            if not isinstance(re, (str, int)) or isinstance(re, bool) or len(str(re)) > 80:
                re = None
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
        dev = s.device
        if kind == "issue":
            out = await self._apply("issue", s, department=args["department"],
                                    procedure=args.get("procedure"),
                                    priority=args.get("priority"), device=dev,
                                    request_id=args["request_id"])
            return {**out.result, "link": self.web.link(out.result["ticket"])}
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
            out = await self._apply("requeue", s, number=args["number"], counter=counter, device=dev)
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
        elif kind == "officer_stats":
            return {"stats": self.core.officer_stats(self.core.counters[counter].officer)
                    if counter in self.core.counters else None}
        elif kind == "waiting_list":
            cfg = self.config.counter(counter)
            if cfg is None:
                raise QueueError("unknown_counter", counter=counter)
            return {"tickets": self.core.waiting_tickets(cfg.departments)}
        else:  # logout, resume, call_next, recall, start, finish, no_show
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

    # --- applying and persisting ----------------------------------------

    async def _apply(self, command: str, origin: Session | None = None, **kwargs: Any) -> Outcome:
        """Apply a command to the core and persist what it did; answer only
        once it is durable. ``origin`` is the connection it came from."""
        for attempt in range(SUPERSEDED_RETRIES + 1):
            try:
                return await self._apply_once(command, origin, kwargs)
            except Superseded:
                # Another change in the same commit was refused by the file,
                # and this one was built on it: never recorded, so apply it
                # again on the state reloaded from the file.
                if attempt == SUPERSEDED_RETRIES:
                    raise
                await self._recover()
        raise AssertionError("unreachable")

    async def _apply_once(self, command: str, origin: Session | None,
                          kwargs: dict[str, Any]) -> Outcome:
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
        if out.changed:
            await self._persist(out, origin)
        else:
            # A repeat (same request_id) answers from memory: don't acknowledge
            # it before the original's commit is through.
            await self.store.barrier()
        return out

    async def _persist(self, out: Outcome, origin: Session | None = None) -> None:
        views = ticket_views(self.core, out)
        rows = rows_for(self.core, out, views)
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
            core = QueueCore(self.config, self.clock)
            await self.store.load(core)
            self.core = core
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
            if self._flush_handle is None and any(self._pending_depts.values()):
                delay = max(0.0, self._last_flush + QUEUE_FLUSH_SECONDS - _time.monotonic())
                loop = asyncio.get_running_loop()
                self._flush_handle = loop.call_later(delay, self._flush_queue)

    def _flush_queue(self) -> None:
        self._flush_handle = None
        self._last_flush = _time.monotonic()
        by_content: dict[tuple[str, ...], list[str]] = {}
        views: dict[str, dict[str, Any]] = {}
        for role, pending in self._pending_depts.items():
            if pending:
                views.update(pending)
                by_content.setdefault(tuple(sorted(pending)), []).append(role)
                self._pending_depts[role] = {}
        for codes, roles in by_content.items():
            msg = {"type": "queue_changed", "departments": [views[c] for c in codes],
                   "totals": self._pending_totals}
            streams = [st for st in self._streams("queue_changed", None)
                       if st.split(":", 1)[0] in roles]
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
