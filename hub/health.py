"""The hub's own health figures: who was heard when, how far behind each
site is, how big the database is (``motcua hub health``, ``motcua hub sites``)."""

from __future__ import annotations

import asyncio
from typing import Any

#: A site not heard from for longer than this is silent (seconds).
SILENT_AFTER = 60.0

STATUS_SQL = """
SELECT s.id, s.code, s.name,
       extract(epoch FROM now() - l.heard_at)::float8 AS heard_age,
       (l.shipping->>'backlog')::bigint AS backlog,
       coalesce(last.id, 0) AS mark,
       extract(epoch FROM now() - last.received_at)::float8 AS received_age
FROM hub.sites s
LEFT JOIN hub.site_live l ON l.site_id = s.id
LEFT JOIN LATERAL (SELECT e.id, e.received_at FROM hub.events e WHERE e.site_id = s.id
                   ORDER BY e.id DESC LIMIT 1) last ON true
ORDER BY s.code
"""


async def site_status(conn: Any, counts: bool = True) -> list[dict[str, Any]]:
    """One row per site (``counts``: also the exact number of events held)."""
    rows = [dict(r) for r in await conn.fetch(STATUS_SQL)]
    if counts:
        for r in rows:
            r["events"] = await conn.fetchval(
                "SELECT count(*) FROM hub.events WHERE site_id = $1", r["id"])
    return rows


def _label(code: str) -> str:
    return code.replace("\\", "\\\\").replace('"', '\\"')


async def metrics(conn: Any, silent_after: float = SILENT_AFTER) -> str:
    """Prometheus text exposition of the hub's figures."""
    rows = await site_status(conn, counts=False)
    version = await conn.fetchval("SELECT value FROM hub.meta WHERE key = 'schema_version'")
    size = await conn.fetchval("SELECT pg_database_size(current_database())")
    estimate = await conn.fetchval(
        "SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = 'hub.events'::regclass")
    conns = await conn.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
    silent = sum(1 for r in rows if r["heard_age"] is None or r["heard_age"] > silent_after)
    out = [
        "# HELP motcua_hub_schema_version The hub's schema version.",
        "# TYPE motcua_hub_schema_version gauge",
        f"motcua_hub_schema_version {int(version or 0)}",
        "# HELP motcua_hub_sites Sites registered at the hub.",
        "# TYPE motcua_hub_sites gauge",
        f"motcua_hub_sites {len(rows)}",
        f"# HELP motcua_hub_silent_sites Sites not heard from for more than {silent_after:.0f} s.",
        "# TYPE motcua_hub_silent_sites gauge",
        f"motcua_hub_silent_sites {silent}",
        "# HELP motcua_hub_database_bytes Size of the hub's database.",
        "# TYPE motcua_hub_database_bytes gauge",
        f"motcua_hub_database_bytes {int(size)}",
        "# HELP motcua_hub_events_estimate Events held (planner estimate).",
        "# TYPE motcua_hub_events_estimate gauge",
        f"motcua_hub_events_estimate {int(estimate or 0)}",
        "# HELP motcua_hub_connections Connections to the hub's database.",
        "# TYPE motcua_hub_connections gauge",
        f"motcua_hub_connections {int(conns)}",
    ]
    series = [
        ("motcua_hub_site_heard_age_seconds", "Seconds since the site's last heartbeat.",
         "heard_age"),
        ("motcua_hub_site_received_age_seconds", "Seconds since the site's newest event "
         "arrived.", "received_age"),
        ("motcua_hub_site_high_water_mark", "The site's newest event id in the hub.", "mark"),
        ("motcua_hub_site_backlog_events", "Events the site reported not yet shipped.",
         "backlog"),
    ]
    for name, help_, key in series:
        out += [f"# HELP {name} {help_}", f"# TYPE {name} gauge"]
        for r in rows:
            if r[key] is not None:
                value = r[key]
                text = f"{value:.3f}" if isinstance(value, float) else str(value)
                out.append(f'{name}{{site="{_label(r["code"])}"}} {text}')
    return "\n".join(out) + "\n"


async def text_metrics(url: str) -> str:
    import asyncpg

    conn = await asyncpg.connect(url, timeout=15)
    try:
        return await metrics(conn)
    finally:
        await conn.close()


async def serve_metrics(url: str, host: str, port: int) -> None:
    """Serve :func:`metrics` at ``http://host:port/metrics`` until stopped."""
    import asyncpg

    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 10)
            while (await asyncio.wait_for(reader.readline(), 10)) not in (b"\r\n", b"\n", b""):
                pass
            parts = line.decode("latin-1").split()
            if len(parts) < 2 or parts[1].split("?")[0] != "/metrics":
                body, status = b"not found\n", "404 Not Found"
            else:
                try:
                    async with pool.acquire() as conn:
                        body, status = (await metrics(conn)).encode(), "200 OK"
                except Exception as e:
                    body, status = f"hub unavailable: {e}\n".encode(), "503 Service Unavailable"
            writer.write(f"HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; "
                         f"charset=utf-8\r\nContent-Length: {len(body)}\r\nConnection: close"
                         "\r\n\r\n".encode() + body)
            await writer.drain()
        except (OSError, TimeoutError, UnicodeError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, host, port)
    print(f"http://{host}:{port}/metrics", flush=True)
    try:
        async with server:
            await server.serve_forever()
    finally:
        await pool.close()
