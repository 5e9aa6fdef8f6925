"""The bookings API over HTTP: how a public service portal pushes the
appointments made there (``motcua serve --api-port N``).

Its own small listener (aiohttp): the websocket port's HTTP is parsed by
websockets, which takes no request bodies. Same TLS as the websocket port.

    POST /api/bookings        body: JSON ({"bookings": [...]} or a list) or CSV
    GET  /api/bookings?day=YYYY-MM-DD

Credentials: HTTP Basic with a manager account (``motcua managers add``),
limited like the admin app's logins; in demo mode also ``Authorization:
Bearer`` with the admin role's token or an enrolled admin device's secret.
Any other device's secret is 403; a wrong secret or password, or none, 401;
a malformed body 400 (JSON) and bad rows 422 naming each row — nothing is
imported then. Answers are JSON with the same ``code``/``message``/
``message_en`` as the websocket's errors.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import hmac
import json
import logging
from typing import TYPE_CHECKING, Any

from aiohttp import web

from motcua.protocol import ERROR_MESSAGES, ProtocolError

from .accounts import verify_password
from .booking import BookingFileError, parse_file
from .core import QueueError
from .storage import StorageError

if TYPE_CHECKING:
    from .app import MotcuaServer

log = logging.getLogger("motcua.api")

#: Vietnamese as it is, not as \u escapes (UTF-8 answers).
_dumps = functools.partial(json.dumps, ensure_ascii=False)

#: The largest body taken (a day's export of a big center is a few hundred KB).
MAX_BODY = 2 * 1024 * 1024

_MESSAGES = {
    "unauthorized": ("Cần tài khoản quản lý (HTTP Basic).",
                     "A manager's account is required (HTTP Basic)."),
    "bad_body": ("Nội dung yêu cầu không đọc được: {problem}.",
                 "The request body cannot be read: {problem}."),
    "bad_day": ("Ngày phải có dạng YYYY-MM-DD.", "The day must be YYYY-MM-DD."),
    "not_found": ("Không có địa chỉ này.", "No such address."),
}


def _answer(status: int, code: str, message: str, message_en: str,
            **params: Any) -> web.Response:
    body: dict[str, Any] = {"ok": False, "code": code, "message": message,
                            "message_en": message_en}
    if params:
        body["params"] = params
    headers = {"Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="motcua", charset="UTF-8"'
    return web.json_response(body, status=status, headers=headers, dumps=_dumps)


def _ours(status: int, key: str, **params: Any) -> web.Response:
    vi, en = _MESSAGES[key]
    return _answer(status, key, vi.format(**params), en.format(**params), **params)


class BookingAPI:
    """The listener; :meth:`start` and :meth:`stop` from the server."""

    def __init__(self, server: "MotcuaServer", host: str, port: int) -> None:
        self.server = server
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY, middlewares=[self._errors])
        app.router.add_post("/api/bookings", self.post_bookings)
        app.router.add_get("/api/bookings", self.get_bookings)
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=self.server.tls)
        await site.start()
        server = getattr(site, "_server", None)
        if server is not None and server.sockets:
            self.port = server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @web.middleware
    async def _errors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPRequestEntityTooLarge:
            return _answer(413, "too_large", *ERROR_MESSAGES["too_large"])
        except web.HTTPNotFound:
            return _ours(404, "not_found")
        except web.HTTPMethodNotAllowed:
            return _ours(404, "not_found")
        except (ProtocolError, QueueError) as e:
            status = {"forbidden": 403, "manager_required": 403, "login_locked": 429,
                      "unknown_manager": 401, "bookings_invalid": 422}.get(e.code, 400)
            return _answer(status, e.code, e.message, e.message_en, **e.params)
        except StorageError:
            return _answer(503, "storage", *ERROR_MESSAGES["storage"])
        except Exception:
            log.exception("internal error in the bookings API")
            return _answer(500, "internal", *ERROR_MESSAGES["internal"])

    # --- who is asking ---------------------------------------------------

    async def _who(self, request: web.Request) -> str:
        """The manager (or demo device) the request is made by; raises a
        refusal otherwise."""
        srv = self.server
        auth = request.headers.get("Authorization", "")
        scheme, _, value = auth.partition(" ")
        value = value.strip()
        source = request.remote or "?"
        if scheme.lower() == "bearer" and value:
            device = srv.devices.authenticate(value)
            role = None
            if device is not None and not device.revoked:
                role, name = device.role, f"device:{device.name}"
            elif srv.demo:
                for r, token in srv.config.tokens.items():
                    if hmac.compare_digest(token.encode(), value.encode()):
                        role, name = r, f"demo:{r}"
            if role is None:
                raise QueueError("unknown_manager")
            if role != "admin":
                raise ProtocolError("forbidden", role=role, type="add_bookings")
            if not srv.demo:
                raise ProtocolError("manager_required")
            return name
        if scheme.lower() != "basic" or not value:
            raise _Unauthorized()
        try:
            manager_id, _, password = base64.b64decode(value, validate=True).decode(
                "utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise _Unauthorized() from None
        manager_id = manager_id[:40]
        now = srv.clock().timestamp()
        locked = srv.manager_limiter.check(manager_id, source, now)
        if locked is not None:
            raise ProtocolError("login_locked", minutes=max(1, -(-locked.retry_after // 60)))
        m = srv.managers.get(manager_id)
        usable = m is not None and not m.disabled
        ok = await asyncio.to_thread(verify_password, password[:200],
                                     m.password_hash if usable else None)  # type: ignore[union-attr]
        if not ok or not usable:
            srv.manager_limiter.failure(manager_id, source, now)
            try:
                await srv._apply("audit", kind="manager_login_failed", device="api",
                                 manager=manager_id, source=source)
            except StorageError:
                log.warning("could not record a failed API login of %s", manager_id)
            raise QueueError("unknown_manager")
        srv.manager_limiter.success(manager_id, source, now)
        return manager_id

    # --- routes ------------------------------------------------------------

    async def post_bookings(self, request: web.Request) -> web.StreamResponse:
        try:
            by = await self._who(request)
        except _Unauthorized:
            return _ours(401, "unauthorized")
        raw = await request.read()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return _ours(400, "bad_body", problem="không phải UTF-8 / not UTF-8")
        ctype = request.content_type
        kind = "csv" if ctype in ("text/csv", "text/plain") else "json"
        if kind == "json" and ctype not in ("application/json", "application/octet-stream"):
            return _ours(400, "bad_body", problem=f"Content-Type {ctype[:40]}")
        try:
            rows = parse_file(text, kind)
        except BookingFileError as e:
            return _answer(400, "bad_body", e.message, e.message_en)
        source = (request.query.get("source") or "api")[:40]
        out = await self.server._apply("add_bookings", rows=rows, source=source, by=by,
                                       device="api")
        return web.json_response({"ok": True, **out.result}, dumps=_dumps,
                                 headers={"Cache-Control": "no-store"})

    async def get_bookings(self, request: web.Request) -> web.StreamResponse:
        try:
            await self._who(request)
        except _Unauthorized:
            return _ours(401, "unauthorized")
        day = request.query.get("day") or self.server.core.meta.day
        import re

        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", day):
            return _ours(400, "bad_day")
        items = sorted((b for b in self.server.core.bookings.values() if b.day == day),
                       key=lambda b: (b.slot, b.department, b.code))
        tickets = self.server.core.tickets
        views = []
        for b in items:
            v = b.view()
            t = tickets.get(b.ticket_id) if b.ticket_id else None
            v["ticket"] = {"number": t.number, "status": t.status} if t else None
            views.append(v)
        return web.json_response({"ok": True, "day": day, "bookings": views}, dumps=_dumps,
                                 headers={"Cache-Control": "no-store"})


class _Unauthorized(Exception):
    pass
