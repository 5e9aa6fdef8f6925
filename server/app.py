"""The asyncio server: websockets in, the pure core in the middle, SQLite below.

Each message goes decode → validate → apply to the core → persist (one
transaction) → reply → broadcast. Replies and broadcasts leave only after the
commit returns. HTTP ``/healthz`` and ``/metrics`` share the port.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
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
    ERROR_MESSAGES,
    MAX_FRAME_BYTES,
    PROTOCOL_VERSION,
    ROLES,
    ProtocolError,
    check_command,
    check_hello,
    decode,
    encode,
    error,
)

from .config import WEEKDAYS, CenterConfig, hash_pin, verify_pin
from .core import Clock, Outcome, QueueCore, QueueError
from .storage import StorageError, Store, rows_for

log = logging.getLogger("motcua.server")

HELLO_TIMEOUT = 10.0
TICK_SECONDS = 15.0
QUEUE_FLUSH_SECONDS = 0.1
# Spent on unknown officer IDs too, so a wrong ID and a wrong PIN look alike.
_DUMMY_HASH = hash_pin("0000", "motcua-dummy")

# Commands that act on "this counter" (the device's own, or an admin's pick).
_COUNTER_COMMANDS = {"login", "logout", "pause", "resume", "call_next", "call_ticket",
                     "recall", "start", "finish", "no_show", "transfer", "waiting_list",
                     "officer_stats"}


def utc_now() -> datetime:
    """The real clock."""
    return datetime.now(timezone.utc)


def always_open(config: CenterConfig) -> CenterConfig:
    """The same center with hours lifted (demos, benchmarks, tests): no lunch
    closure either."""
    return dataclasses.replace(config, opens=time(0, 0), closes=time(23, 59, 59),
                               last_ticket=time(23, 59, 59), open_days=WEEKDAYS, lunch=None)


@dataclasses.dataclass
class Session:
    ws: ServerConnection
    role: str
    device: str
    counter: int | None


class MotcuaServer:
    """One center's server. ``await start()``, then ``port`` is known."""

    def __init__(self, config: CenterConfig, db_path: str | Path, host: str = "127.0.0.1",
                 port: int = 8765, clock: Clock = utc_now) -> None:
        self.config = config
        self.host = host
        self.port = port
        self.clock = clock
        self.store = Store(db_path)
        self._public = config.public()  # the config is frozen: build once, not per welcome
        self.core = QueueCore(config, clock)
        self.conns: dict[str, set[ServerConnection]] = {r: set() for r in ROLES}
        self.seq: dict[str, int] = defaultdict(int)
        self._server: Any = None
        self._tick_task: asyncio.Task | None = None
        self._pending_depts: dict[str, dict[str, Any]] = {}
        self._pending_totals: dict[str, int] | None = None
        self._flush_handle: asyncio.Handle | None = None
        self._last_flush = 0.0
        self._recovering = asyncio.Lock()
        self.started_at = _time.time()

    # --- lifecycle ------------------------------------------------------

    async def start(self) -> None:
        """Open the database, restore state and start listening."""
        await self.store.open()
        await self.store.load(self.core)
        await self._apply("tick")
        self._server = await serve(
            self._handler, self.host, self.port, process_request=self._http,
            max_size=MAX_FRAME_BYTES, ping_interval=20, ping_timeout=20,
            # Messages are small and the network is a LAN; per-connection
            # deflate would cost more CPU than 500 displays' bandwidth saves.
            compression=None,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._tick_task = asyncio.create_task(self._ticker(), name="motcua-tick")
        log.info("listening on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        """Stop listening, close connections, flush and close the database."""
        if self._tick_task:
            self._tick_task.cancel()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._flush_handle:
            self._flush_handle.cancel()
        await self.store.close()

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            try:
                await self._apply("tick")
            except Exception:
                log.exception("tick failed")

    # --- HTTP -----------------------------------------------------------

    def _http(self, conn: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path == "/healthz":
            broken = self.store.failed
            status = HTTPStatus.SERVICE_UNAVAILABLE if broken else HTTPStatus.OK
            return conn.respond(status, "storage error\n" if broken else "ok\n")
        if path == "/metrics":
            resp = conn.respond(HTTPStatus.OK, self.metrics())
            resp.headers["Content-Type"] = "text/plain; version=0.0.4; charset=utf-8"
            return resp
        return None

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
        for role in ROLES:
            lines.append(f'motcua_connections{{role="{role}"}} {len(self.conns[role])}')
        lines += [
            "# HELP motcua_commits_total Database commits since start.",
            "# TYPE motcua_commits_total counter",
            f"motcua_commits_total {self.store.commits}",
            "# HELP motcua_changes_total State changes committed since start.",
            "# TYPE motcua_changes_total counter",
            f"motcua_changes_total {self.store.changes}",
        ]
        return "\n".join(lines) + "\n"

    # --- connections ----------------------------------------------------

    async def _handler(self, ws: ServerConnection) -> None:
        session = await self._greet(ws)
        if session is None:
            return
        try:
            async for raw in ws:
                reply = await self._handle(session, raw)
                if reply is not None:
                    await ws.send(encode(reply))
        except ConnectionClosed:
            pass
        finally:
            self.conns[session.role].discard(ws)

    async def _greet(self, ws: ServerConnection) -> Session | None:
        try:
            raw = await asyncio.wait_for(ws.recv(), HELLO_TIMEOUT)
        except (TimeoutError, ConnectionClosed):
            await ws.close(1008, "hello expected")
            return None
        try:
            hello = check_hello(decode(raw))
            role = hello["role"]
            if self.config.tokens.get(role) != hello["token"]:
                raise ProtocolError("bad_token", role=role)
            counter = hello.get("counter")
            if role in ("counter", "rating"):
                if counter is None or self.config.counter(counter) is None:
                    raise QueueError("unknown_counter", counter=counter)
        except (ProtocolError, QueueError) as e:
            log.warning("refused hello from %s: %s", ws.remote_address, e.code)
            try:
                await ws.send(encode(error(e.code, e.message, e.message_en)))
                await ws.close(4001 if e.code == "bad_token" else 1008, e.code)
            except ConnectionClosed:
                pass
            return None
        except Exception:
            log.exception("unexpected error in a hello from %s", ws.remote_address)
            await ws.close(1011, "internal")
            return None
        session = Session(ws, role, hello["device"], counter)
        # Snapshot, its seq and registration in one synchronous step, written
        # with broadcast() (no await): no event can slip in between.
        welcome = {
            "type": "welcome", "protocol": PROTOCOL_VERSION, "role": role,
            "device": session.device, "counter": counter, "server_time": self.clock().timestamp(),
            "seq": self.seq[role], "center": self._public, "snapshot": self.core.snapshot(),
        }
        broadcast([ws], encode(welcome))
        self.conns[role].add(ws)
        log.info("%s %s connected from %s", role, session.device, ws.remote_address)
        return session

    async def _handle(self, session: Session, raw: str | bytes) -> dict[str, Any] | None:
        re = None
        try:
            msg = decode(raw)
            re = msg.get("id")
            if not isinstance(re, (str, int)) or isinstance(re, bool) or len(str(re)) > 80:
                re = None
            kind, args = check_command(msg, session.role)
            result = await self._dispatch(session, kind, args)
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

    async def _dispatch(self, s: Session, kind: str, args: dict[str, Any]) -> dict[str, Any] | None:
        if kind == "ping":
            return {"pong": self.clock().timestamp()}
        if kind == "snapshot":
            # Written synchronously, like the welcome, to keep its seq exact.
            broadcast([s.ws], encode({"type": "snapshot", "seq": self.seq[s.role],
                                      "snapshot": self.core.snapshot()}))
            return None
        counter = None
        if kind in _COUNTER_COMMANDS or (kind in ("requeue", "cancel") and s.role == "counter"):
            counter = self._counter_for(s, args.get("counter"))
        elif "counter" in args and s.role == "admin":
            counter = args["counter"]
        dev = s.device
        if kind == "issue":
            out = await self._apply("issue", department=args["department"],
                                    procedure=args.get("procedure"),
                                    priority=args.get("priority"), device=dev,
                                    request_id=args["request_id"])
        elif kind == "login":
            officer = self.config.officer(args["officer"])
            ok = await asyncio.to_thread(
                verify_pin, args["pin"], officer.pin_hash if officer else _DUMMY_HASH)
            if not ok or officer is None:
                raise QueueError("unknown_officer")
            out = await self._apply("login", counter=counter, officer=officer.id, device=dev)
        elif kind == "pause":
            out = await self._apply("pause", counter=counter, reason=args["reason"], device=dev)
        elif kind == "call_ticket":
            out = await self._apply("call_ticket", counter=counter, number=args["number"],
                                    device=dev)
        elif kind == "transfer":
            out = await self._apply("transfer", counter=counter, department=args["department"],
                                    procedure=args.get("procedure"), note=args.get("note"),
                                    device=dev)
        elif kind == "requeue":
            out = await self._apply("requeue", number=args["number"], counter=counter, device=dev)
        elif kind == "cancel":
            out = await self._apply("cancel", number=args["number"], counter=counter,
                                    reason=args.get("reason"), device=dev)
        elif kind == "rate":
            out = await self._apply("rate", visit_id=args["visit"], value=args["value"],
                                    reason=args.get("reason"), device=dev,
                                    request_id=args["request_id"])
        elif kind == "printer_status":
            out = await self._apply("printer_status", device=dev, ok=args["ok"],
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
            out = await self._apply(kind, counter=counter, device=dev)
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

    # --- applying and persisting ----------------------------------------

    async def _apply(self, command: str, **kwargs: Any) -> Outcome:
        if self.store.failed:
            await self._recover()
        try:
            out = self.core.execute(command, **kwargs)
        except QueueError as e:
            if e.outcome is not None:  # e.g. a day rollover before the refusal
                await self._persist(e.outcome)
            raise
        except Exception:
            # A bug left memory half-changed: stop writing and reload.
            self.store.mark_failed()
            raise
        if out.changed:
            await self._persist(out)
        else:
            # A repeat (same request_id) answers from memory: don't acknowledge
            # it before the original's commit is through.
            await self.store.barrier()
        return out

    async def _persist(self, out: Outcome) -> None:
        rows = rows_for(self.core, out)
        messages = self._messages(out)
        await self.store.write(rows, after=lambda: self._broadcast(messages))

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

    def _messages(self, out: Outcome) -> tuple[list[dict[str, Any]], dict[str, Any], dict]:
        """Build the wire events now, from the state this command left."""
        core = self.core
        events = []
        for ev in out.events:
            if ev.type not in AUDIENCE:
                continue
            msg: dict[str, Any] = {"type": ev.type, "at": ev.at, **ev.data}
            t = core.tickets.get(ev.ticket_id) if ev.ticket_id is not None else None
            if t is not None:
                msg["ticket"] = core.ticket_view(t)
            if ev.counter is not None and ev.counter in core.counters:
                msg["counter"] = core.counter_view(core.counters[ev.counter])
            if ev.officer is not None:
                officer = self.config.officer(ev.officer)
                msg["officer"] = ev.officer
                msg["officer_name"] = officer.name if officer else None
            events.append(msg)
        depts = {code: core.department_view(code) for code in out.departments
                 if code in core.waiting}
        return events, depts, core.totals()

    def _broadcast(self, messages: tuple[list[dict[str, Any]], dict[str, Any], dict]) -> None:
        events, depts, totals = messages
        for msg in events:
            self._send(msg)
        if depts:
            # Queue counts are absolute values, so bursts coalesce safely.
            self._pending_depts.update(depts)
            self._pending_totals = totals
            if self._flush_handle is None:
                delay = max(0.0, self._last_flush + QUEUE_FLUSH_SECONDS - _time.monotonic())
                loop = asyncio.get_running_loop()
                self._flush_handle = loop.call_later(delay, self._flush_queue)

    def _flush_queue(self) -> None:
        self._flush_handle = None
        self._last_flush = _time.monotonic()
        depts, self._pending_depts = self._pending_depts, {}
        self._send({"type": "queue_changed", "departments": list(depts.values()),
                    "totals": self._pending_totals})

    def _send(self, msg: dict[str, Any]) -> None:
        for role in AUDIENCE[msg["type"]]:
            self.seq[role] += 1
            conns = self.conns[role]
            if conns:
                broadcast(conns, encode({**msg, "seq": self.seq[role]}))
