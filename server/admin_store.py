"""The administration's tables (migration 4): devices, managers, the
configuration's versions and the officers' PINs.

Rows are written through :class:`motcua.server.storage.Store` with the
command's events, in the same transaction (``Rows.extra``); this module holds
their SQL and reads them back. Used by the server and by the command line
(``motcua devices``, ``motcua managers``, ``motcua config``), which may run
beside a live server: the server notices the file changed
(``PRAGMA data_version``) and reloads devices and managers.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

from motcua.protocol import encode_text

from .accounts import MANAGER_COLUMNS, Manager
from .core import Outcome
from .devices import COLUMNS as DEVICE_COLUMNS
from .devices import Device
from .live_config import LiveConfig

SQL_DEVICE = (f"INSERT INTO devices ({', '.join(DEVICE_COLUMNS)}) "
              f"VALUES ({', '.join('?' * len(DEVICE_COLUMNS))}) ON CONFLICT(name) DO UPDATE SET "
              + ", ".join(f"{c}=excluded.{c}" for c in DEVICE_COLUMNS if c != "name"))
SQL_DEVICE_SEEN = "UPDATE devices SET last_seen = ?, last_address = ? WHERE name = ?"
SQL_MANAGER = (f"INSERT INTO managers ({', '.join(MANAGER_COLUMNS)}) "
               f"VALUES ({', '.join('?' * len(MANAGER_COLUMNS))}) ON CONFLICT(id) DO UPDATE SET "
               + ", ".join(f"{c}=excluded.{c}" for c in MANAGER_COLUMNS if c != "id"))
SQL_VERSION = ("INSERT INTO config_versions (version, at, by, reason, change, doc) "
               "VALUES (?, ?, ?, ?, ?, ?)")
SQL_PIN = ("INSERT INTO officer_pins (officer, pin_hash, updated_at) VALUES (?, ?, ?) "
           "ON CONFLICT(officer) DO UPDATE SET pin_hash=excluded.pin_hash, "
           "updated_at=excluded.updated_at")
SQL_EVENT = ("INSERT INTO events (at, day, type, ticket_id, counter, officer, device, data) "
             "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")


def pack(doc: dict[str, Any]) -> bytes:
    """A document as stored: compact JSON, zlib-compressed (a center with
    60 procedures is 16 KB of JSON, 3 KB packed; every version is kept)."""
    return zlib.compress(encode_text(doc).encode("utf-8"), 9)


def unpack(blob: bytes) -> dict[str, Any]:
    return json.loads(zlib.decompress(blob).decode("utf-8"))


def version_rows(version: LiveConfig, at: float, by: str | None, reason: str | None,
                 change: dict[str, Any] | None) -> list[tuple[str, tuple]]:
    """The rows that store one version."""
    return [(SQL_VERSION, (version.version, at, by, reason,
                           encode_text(change) if change is not None else None,
                           pack(version.doc)))]


def pin_rows(pins: dict[str, str], officers: Any, at: float) -> list[tuple[str, tuple]]:
    return [(SQL_PIN, (o, pins[o], at)) for o in sorted(officers) if o in pins]


def outcome_rows(out: Outcome, at: float, pins: dict[str, str]) -> list[tuple[str, tuple]]:
    """The administration rows a core outcome needs: each configuration
    version it made (with the event that made it) and each PIN it changed
    (``pins``: the core's PIN hashes right after the command)."""
    rows: list[tuple[str, tuple]] = []
    events = {ev.data.get("version"): ev for ev in out.events if ev.type == "config_changed"}
    for v in out.versions:
        ev = events.get(v.version)
        rows += version_rows(v, ev.at if ev else at, ev.data.get("by") if ev else None,
                             ev.data.get("reason") if ev else None,
                             ev.data.get("change") if ev else None)
    return rows + pin_rows(pins, out.pins, at)


def device_rows(device: Device) -> list[tuple[str, tuple]]:
    return [(SQL_DEVICE, device.row())]


def manager_rows(manager: Manager) -> list[tuple[str, tuple]]:
    return [(SQL_MANAGER, manager.row())]


async def _all(db: Any, sql: str, *params: Any) -> list[tuple]:
    async with db.execute(sql, params) as cur:
        return list(await cur.fetchall())


async def load_config(db: Any) -> tuple[LiveConfig | None, float | None, str | None]:
    """The latest stored version (with its PINs), when and by whom."""
    rows = await _all(db, "SELECT version, at, by, doc FROM config_versions "
                          "ORDER BY version DESC LIMIT 1")
    if not rows:
        return None, None, None
    version, at, by, blob = rows[0]
    pins = dict(await _all(db, "SELECT officer, pin_hash FROM officer_pins"))
    return LiveConfig(unpack(blob), pins, version), at, by


async def load_devices(db: Any) -> list[Device]:
    return [Device(*r) for r in await _all(
        db, f"SELECT {', '.join(DEVICE_COLUMNS)} FROM devices ORDER BY name")]


async def load_managers(db: Any) -> list[Manager]:
    return [Manager(r[0], r[1], r[2], bool(r[3]), r[4], r[5]) for r in await _all(
        db, f"SELECT {', '.join(MANAGER_COLUMNS)} FROM managers ORDER BY id")]


async def history(db: Any, limit: int = 50) -> list[dict[str, Any]]:
    """The newest versions first: number, when, who, why, what."""
    return [{"version": v, "at": at, "by": by, "reason": reason,
             "change": json.loads(change) if change else None}
            for v, at, by, reason, change in await _all(
                db, "SELECT version, at, by, reason, change FROM config_versions "
                    "ORDER BY version DESC LIMIT ?", limit)]


async def last_file_version(db: Any) -> LiveConfig | None:
    """The latest version that was read from a center file."""
    rows = await _all(db, "SELECT version, doc FROM config_versions "
                          "WHERE json_extract(change, '$.kind') = 'file' "
                          "ORDER BY version DESC LIMIT 1")
    return LiveConfig(unpack(rows[0][1]), {}, rows[0][0]) if rows else None


async def load_version(db: Any, version: int) -> LiveConfig | None:
    rows = await _all(db, "SELECT doc FROM config_versions WHERE version = ?", version)
    if not rows:
        return None
    pins = dict(await _all(db, "SELECT officer, pin_hash FROM officer_pins"))
    return LiveConfig(unpack(rows[0][0]), pins, version)
