"""What the province view shows of each site: pure, no Textual, no network.

Each site's heartbeat is its server's snapshot (queues, counters, printers,
totals). Rebuilt into the client's :class:`~motcua.client.CenterState`, it
goes through the center monitor's own model
(:class:`motcua.monitor.model.Monitor`), so "a long wait", "a paused
counter" and "a printer fault" mean the same at the province as at the
center. Served today and satisfaction come from the hub's facts (the report
definitions), not from the heartbeat.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from motcua.client import CenterState
from motcua.monitor.model import Alert, CounterRow, DepartmentRow, Monitor

#: A site not heard from for longer than this is marked silent (seconds).
SILENT_AFTER = 60.0

SITES_SQL = """
SELECT s.id, s.code, coalesce(c.name, s.name) AS name,
       extract(epoch FROM now() - l.heard_at)::float8 AS heard_age,
       l.site_time, l.state::text AS state, l.shipping::text AS shipping
FROM hub.sites s
LEFT JOIN hub.site_config c ON c.site_id = s.id
LEFT JOIN hub.site_live l ON l.site_id = s.id
ORDER BY s.code
"""

CONFIGS_SQL = "SELECT site_id, updated_at, config::text AS config FROM hub.site_config"
CONFIG_STAMPS_SQL = "SELECT site_id, updated_at FROM hub.site_config"

# Today's figures per site, from the facts (as a report would count them).
TODAY_SQL = """
WITH happy AS (
    SELECT c.site_id, (lv->>'value')::float8 AS value
    FROM hub.site_config c, jsonb_array_elements(c.config->'rating'->'levels') lv
    WHERE (lv->>'satisfied')::boolean
)
SELECT f.site_id,
       count(*) FILTER (WHERE f.kind = 3) AS served,
       count(*) FILTER (WHERE f.kind = 8) AS rated,
       count(h.value) AS satisfied
FROM hub.facts f
LEFT JOIN happy h ON f.kind = 8 AND h.site_id = f.site_id AND h.value = f.value
WHERE f.day = $1 AND f.voided_by IS NULL AND f.kind IN (3, 8)
GROUP BY f.site_id
"""


@dataclass
class SiteLive:
    """One row of the province view."""

    id: int
    code: str
    name: str
    #: Seconds since the last heartbeat (None: never heard).
    heard_age: float | None
    silent: bool
    waiting: int | None = None
    served_today: int = 0
    rated_today: int = 0
    satisfied_today: int = 0
    #: The department whose oldest ticket is furthest past (or nearest) its target.
    longest: float | None = None
    target: float | None = None
    longest_department: str | None = None
    alerts: list[Alert] = field(default_factory=list)
    backlog: int | None = None
    departments: list[DepartmentRow] = field(default_factory=list)
    counters: list[CounterRow] = field(default_factory=list)
    #: The site's clock when the figures were taken.
    as_of: float | None = None
    monitor: Monitor | None = None

    @property
    def satisfaction(self) -> float | None:
        return self.satisfied_today / self.rated_today if self.rated_today else None

    @property
    def over(self) -> bool:
        return self.longest is not None and self.target is not None and self.longest > self.target


def site_rows(rows: list[dict[str, Any]], configs: dict[int, dict[str, Any]],
              today: dict[int, tuple[int, int, int]], silent_after: float = SILENT_AFTER,
              language: str = "vi") -> list[SiteLive]:
    """The view's rows from the hub's tables (already decoded)."""
    out = []
    for r in rows:
        age = r.get("heard_age")
        silent = age is None or age > silent_after
        site = SiteLive(r["id"], r["code"], r["name"], age, silent)
        served, rated, satisfied = today.get(r["id"], (0, 0, 0))
        site.served_today, site.rated_today, site.satisfied_today = served, rated, satisfied
        shipping = r.get("shipping") or {}
        site.backlog = shipping.get("backlog")
        state = r.get("state")
        if state:
            center = CenterState(center=configs.get(r["id"], {}))
            center.load(state)
            monitor = Monitor(center)
            # Waits as the site's own clock has them: its time at the
            # heartbeat, plus how long ago that was (frozen once silent).
            now = float(r.get("site_time") or 0.0)
            if not silent and age is not None:
                now += age
            site.as_of = now
            site.monitor = monitor
            site.departments = monitor.departments(now, language)
            site.counters = monitor.counters(now)
            site.alerts = monitor.alerts(now, language)
            site.waiting = sum(d.waiting for d in site.departments)
            worst = max((d for d in site.departments if d.longest is not None),
                        key=lambda d: d.longest / d.target if d.target else 0.0, default=None)
            if worst is not None:
                site.longest, site.target = worst.longest, worst.target
                site.longest_department = worst.code
        out.append(site)
    return out


@dataclass
class Totals:
    sites: int
    silent: int
    waiting: int
    served: int
    alerts: int


def totals(sites: list[SiteLive]) -> Totals:
    return Totals(len(sites), sum(s.silent for s in sites),
                  sum(s.waiting or 0 for s in sites if not s.silent),
                  sum(s.served_today for s in sites),
                  sum(len(s.alerts) + s.silent for s in sites))


async def fetch(conn: Any, day: Any, configs: dict[int, dict[str, Any]],
                stamps: dict[int, Any]) -> tuple[list[dict[str, Any]], dict[int, tuple]]:
    """Read the view's inputs; refresh ``configs`` in place when a site
    shipped a new one (compared by ``stamps``)."""
    import json

    current = {r["site_id"]: r["updated_at"] for r in await conn.fetch(CONFIG_STAMPS_SQL)}
    if current != stamps:
        configs.clear()
        for r in await conn.fetch(CONFIGS_SQL):
            configs[r["site_id"]] = json.loads(r["config"])
        stamps.clear()
        stamps.update(current)
    rows = []
    for r in await conn.fetch(SITES_SQL):
        d = dict(r)
        d["state"] = json.loads(d["state"]) if d["state"] else None
        d["shipping"] = json.loads(d["shipping"]) if d["shipping"] else None
        rows.append(d)
    today = {r["site_id"]: (int(r["served"]), int(r["rated"]), int(r["satisfied"]))
             for r in await conn.fetch(TODAY_SQL, day)}
    return rows, today
