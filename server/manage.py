"""The administration from the command line, straight on the database file:
``motcua devices``, ``motcua managers``, ``motcua config export|history``.

Safe beside a running server: SQLite serialises the writes, and the server
notices within a second (``PRAGMA data_version``) and reloads devices and
managers — a device revoked here is refused at once, its open connections
closed. Every change is logged in the event log, by ``cli:<user>``.
"""

from __future__ import annotations

import getpass
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from motcua.protocol import encode_text

from . import admin_store
from .accounts import AccountError, Managers, hash_password
from .devices import DeviceError, Devices, enrolment_code
from .storage import Rows, Store

DEFAULT_TZ = "Asia/Ho_Chi_Minh"


def who() -> str:
    """Who does it, in the log: ``cli:<the machine user>``."""
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:
        return "cli"


class Manage:
    """One session on a database file (``async with Manage(path) as m``)."""

    def __init__(self, path: str | Path) -> None:
        self.store = Store(path)

    async def __aenter__(self) -> "Manage":
        await self.store.open(exclusive=False)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.store.close()

    @property
    def db(self) -> Any:
        return self.store.db

    async def _tz(self) -> ZoneInfo:
        live, _, _ = await admin_store.load_config(self.db)
        try:
            return ZoneInfo((live.doc.get("center") or {}).get("timezone") or DEFAULT_TZ) \
                if live else ZoneInfo(DEFAULT_TZ)
        except Exception:
            return ZoneInfo(DEFAULT_TZ)

    async def _event(self, type_: str, now: float, **data: Any) -> tuple[str, tuple]:
        day = datetime.fromtimestamp(now, await self._tz()).date().isoformat()
        return (admin_store.SQL_EVENT, (now, day, type_, None, None, None, "cli",
                                        encode_text({**data, "by": who()})))

    async def _write(self, extra: list[tuple[str, tuple]]) -> None:
        await self.store.write(Rows(extra=extra))

    # --- devices --------------------------------------------------------

    async def meta(self, key: str) -> Any:
        import json

        async with self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)) as cur:
            row = await cur.fetchone()
        return json.loads(row[0]) if row else None

    async def devices(self) -> Devices:
        return Devices(await admin_store.load_devices(self.db))

    async def enrol(self, role: str, name: str, counter: int | None = None,
                    url: str | None = None) -> dict[str, Any]:
        """Enrol a device; returns its view, secret, enrolment code and the
        server certificate's fingerprint (when the server runs with TLS).
        ``url`` defaults to the address the server last announced."""
        url = url or await self.meta("server.url") or "ws://127.0.0.1:8765"
        devices = await self.devices()
        now = time.time()
        try:
            device, secret = devices.enrol(role, name, now, who(), counter)
        except DeviceError as e:
            raise SystemExit(_refusal(e.code, e.params)) from None
        fingerprint = await self.meta("tls.fingerprint")
        if fingerprint and url.startswith("ws://"):
            url = "wss://" + url[len("ws://"):]
        await self._write(admin_store.device_rows(device) + [await self._event(
            "device_enrolled", now, name=device.name, role=device.role, counter=device.counter)])
        return {"device": device.view(), "secret": secret, "fingerprint": fingerprint,
                "enrolment": enrolment_code(url, device, secret, fingerprint)}

    async def revoke(self, name: str, reason: str | None = None) -> dict[str, Any]:
        devices = await self.devices()
        now = time.time()
        try:
            device = devices.revoke(name, now, who(), reason)
        except DeviceError as e:
            raise SystemExit(_refusal(e.code, e.params)) from None
        await self._write(admin_store.device_rows(device) + [await self._event(
            "device_revoked", now, name=device.name, role=device.role,
            reason=device.revoke_reason)])
        return device.view()

    # --- managers -------------------------------------------------------

    async def managers(self) -> Managers:
        return Managers(await admin_store.load_managers(self.db))

    async def add_manager(self, manager_id: str, name: str, password: str) -> dict[str, Any]:
        managers = await self.managers()
        now = time.time()
        try:
            m = managers.add(manager_id, name, hash_password(password), now, who())
        except AccountError as e:
            raise SystemExit(_refusal(e.code, e.params)) from None
        await self._write(admin_store.manager_rows(m) + [await self._event(
            "manager_added", now, manager=m.id, name=m.name)])
        return m.view()

    async def update_manager(self, manager_id: str, *, password: str | None = None,
                             disabled: bool | None = None) -> dict[str, Any]:
        managers = await self.managers()
        now = time.time()
        try:
            m = managers.update(manager_id, disabled=disabled,
                                password_hash=hash_password(password) if password else None)
        except AccountError as e:
            raise SystemExit(_refusal(e.code, e.params)) from None
        what = "password" if password else ("disabled" if disabled else "enabled")
        await self._write(admin_store.manager_rows(m) + [await self._event(
            "manager_changed", now, manager=m.id, change=what)])
        return m.view()

    # --- bookings -------------------------------------------------------

    async def import_bookings(self, text: str, kind: str | None = None,
                              source: str = "file") -> dict[str, Any]:
        """Import bookings from a CSV or JSON file's text: every row, or none
        (raises :class:`booking.BookingsInvalid` naming each bad row, or
        :class:`booking.BookingFileError`). A running server picks them up
        within a second."""
        from . import booking as bk
        from .storage import BOOKING_COLS

        live, _, _ = await admin_store.load_config(self.db)
        if live is None:
            raise SystemExit("Cơ sở dữ liệu chưa có cấu hình (máy chủ chưa chạy lần nào) / "
                             "the database holds no configuration yet (the server never ran)")
        config = live.config()
        rows = bk.parse_file(text, kind)
        now = time.time()
        local = datetime.fromtimestamp(now, config.tz)
        existing = {b.code: b for b in await self.store.bookings_from(local.date().isoformat())}
        new, unchanged = bk.validate(rows, config, existing, local, source, who())
        if new:
            extra = [(f"INSERT INTO bookings ({', '.join(BOOKING_COLS)}) VALUES "
                      f"({', '.join('?' * len(BOOKING_COLS))})", tuple(b.__dict__.values()))
                     for b in new]
            extra.append(await self._event("bookings_added", now, source=source,
                                           added=len(new), unchanged=unchanged,
                                           days=sorted({b.day for b in new})))
            await self._write(extra)
        return {"added": len(new), "unchanged": unchanged, "bookings": [b.view() for b in new]}

    async def bookings(self, day: str | None = None) -> list[dict[str, Any]]:
        """A day's bookings (today in the center's time zone by default),
        with the citizen's name and phone, for the center."""
        if day is None:
            day = datetime.fromtimestamp(time.time(), await self._tz()).date().isoformat()
        return [{**b.view(), "name": b.name, "phone": b.phone}
                for b in await self.store.bookings_from(day) if b.day == day]

    # --- configuration ---------------------------------------------------

    async def export(self, version: int | None = None) -> str:
        """The stored configuration (the latest, or ``version``) as TOML."""
        from .live_config import to_toml

        if version is None:
            live, at, by = await admin_store.load_config(self.db)
        else:
            live, at, by = await admin_store.load_version(self.db, version), None, None
        if live is None:
            raise SystemExit("Cơ sở dữ liệu chưa có cấu hình (máy chủ chưa chạy lần nào) / "
                             "the database holds no configuration yet (the server never ran)")
        header = (f"motcua — cấu hình trung tâm, phiên bản {live.version} / "
                  f"center configuration, version {live.version}\n"
                  f"xuất từ / exported from {self.store.path}"
                  + (f"; thay đổi cuối / last change {datetime.fromtimestamp(at):%Y-%m-%d %H:%M}"
                     f"{' by ' + by if by else ''}" if at else ""))
        return to_toml(live.doc, live.pins, header)

    async def history(self, limit: int = 50) -> list[dict[str, Any]]:
        return await admin_store.history(self.db, limit)


def _refusal(code: str, params: dict[str, Any]) -> str:
    from .core import ERRORS

    vi, en = ERRORS.get(code, (code, code))
    try:
        return f"{vi.format(**params)} / {en.format(**params)}"
    except (KeyError, IndexError):
        return code
