"""``motcua report --hub URL``: a site report's KPIs over many sites, computed
in PostgreSQL.

The facts are the ones a site's own report folds (:mod:`hub.fold` derives
them with the same :class:`~motcua.reports.facts.DayFold` as the events
arrive); here they are only counted and sorted, in SQL, with the same
definitions as :mod:`motcua.reports.kpi`:

* counts per kind; a no-show voided by a later event is not one;
* mean (``avg``) and median / 90th percentile with linear interpolation
  between the closest ranks — ``percentile_cont`` is exactly Excel's
  PERCENTILE.INC, which :func:`motcua.reports.kpi.percentile` implements;
* a wait is within target when it is no longer than its department's
  ``target_wait`` in the site's own (shipped) configuration;
* satisfied ratings are those on levels the site marks ``satisfied``.

Only the groups' figures come back to Python, never the facts.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from motcua.reports.facts import (CANCELLED, EXPIRED, ISSUED, NO_SHOW, RATING, SERVED,
                                  TRANSFERRED, TRANSFERRED_IN, WAIT)
from motcua.reports.kpi import DIMENSIONS, Kpis, Report, sort_key

#: Groupings of a hub report: a site report's, plus the site.
HUB_DIMENSIONS = (*DIMENSIONS, "site")

# Per-site groupings whose keys mean nothing across sites (counter 3 of one
# commune is not counter 3 of another): keyed by (site, key) over several.
_PER_SITE = ("counter", "officer")

# Text keys compare bytewise ("C"): only Python orders the rows shown.
_KEY = {"department": 'f.dept COLLATE "C"', "procedure": 'f.proc COLLATE "C"',
        "counter": "f.counter", "officer": 'f.officer COLLATE "C"', "hour": "f.hour",
        "day": "f.day", "site": 's.code COLLATE "C"'}

_SCOPE = """
scope AS (
    SELECT id, code FROM hub.sites WHERE $3::text[] IS NULL OR code = ANY($3::text[])
), f AS (
    SELECT f.*, {k1} AS g1, {k2} AS g2
    FROM hub.facts f JOIN scope s ON s.id = f.site_id
    WHERE f.day BETWEEN $1 AND $2 AND f.voided_by IS NULL
)"""

# Everything but the quantiles in one pass: a count, a count of timed facts
# and a sum per (group, kind, ok, rating level). The fact's ``ok`` is "within
# its department's target" for a wait and "satisfied" for a rating, set from
# the site's own configuration (and re-set when it changes); the pivot into
# KPIs is a few hundred rows of Python.
_COUNTS = """
WITH {scope}
SELECT g1, g2, GROUPING(g1, g2) AS total, f.kind, f.ok,
    CASE WHEN f.kind = {RATING} THEN f.value END AS level,
    count(*) AS n, count(f.value) AS timed, sum(f.value) AS value_sum
FROM f
GROUP BY GROUPING SETS ((g1, g2, f.kind, f.ok, CASE WHEN f.kind = {RATING} THEN f.value END),
                        (f.kind, f.ok, CASE WHEN f.kind = {RATING} THEN f.value END))
"""

# Quantiles sort, so they run on the timed facts only, and on a second
# connection at the same time as the counts (same snapshot).
_QUANTILES = """
WITH {scope}
SELECT g1, g2, GROUPING(g1, g2) AS total,
    percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY f.value)
        FILTER (WHERE f.kind = {WAIT}) AS wait_q,
    percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY f.value)
        FILTER (WHERE f.kind IN ({SERVED}, {TRANSFERRED})) AS service_q
FROM f
WHERE f.kind IN ({WAIT}, {SERVED}, {TRANSFERRED}) AND f.value IS NOT NULL
GROUP BY GROUPING SETS ((g1, g2), ())
"""

_KINDS = {"ISSUED": ISSUED, "TRANSFERRED_IN": TRANSFERRED_IN, "SERVED": SERVED,
          "TRANSFERRED": TRANSFERRED, "NO_SHOW": NO_SHOW, "CANCELLED": CANCELLED,
          "EXPIRED": EXPIRED, "WAIT": WAIT, "RATING": RATING}


def _sql(template: str, by: str | None, per_site: bool) -> str:
    if by is None:
        k1, k2 = "NULL::text", "NULL::text"
    elif by in _PER_SITE and per_site:
        k1, k2 = _KEY["site"], _KEY[by]
    else:
        k1, k2 = _KEY[by], "NULL::text"
    scope = _SCOPE.format(k1=k1, k2=k2)
    return template.format(scope=scope, **_KINDS)


@dataclass
class SiteInfo:
    id: int
    code: str
    name: str
    config: dict[str, Any] | None


@dataclass
class HubReport:
    """A hub report and what it needs to be laid out."""

    report: Report
    sites: list[SiteInfo]
    hub_name: str | None
    per_site: bool = False
    timings: dict[str, float] = field(default_factory=dict)


async def sites_in(conn: Any, codes: list[str] | None) -> list[SiteInfo]:
    """The hub's sites (those named, in order, or all by code) with their
    shipped configuration. Raises KeyError naming an unknown code."""
    rows = await conn.fetch(
        "SELECT s.id, s.code, coalesce(c.name, s.name) AS name, c.config FROM hub.sites s "
        "LEFT JOIN hub.site_config c ON c.site_id = s.id ORDER BY s.code")
    import json

    info = [SiteInfo(r["id"], r["code"], r["name"],
                     json.loads(r["config"]) if r["config"] else None) for r in rows]
    if codes is None:
        return info
    by_code = {s.code.lower(): s for s in info}
    out = []
    for c in codes:
        s = by_code.get(c.lower())
        if s is None:
            raise KeyError(c)
        out.append(s)
    return out


def _key(by: str | None, per_site: bool, g1: Any, g2: Any) -> Any:
    if by is None:
        return None
    if by in _PER_SITE and per_site:
        return (g1, g2)
    if by == "day" and isinstance(g1, date):
        return g1.isoformat()
    return g1


async def hub_report(conn: Any, first: str, last: str, by: str | None = None,
                     sites: list[str] | None = None, conn2: Any = None) -> HubReport:
    """KPIs for the days ``first``–``last`` over ``sites`` (codes; None: all),
    per ``by`` group. With a second connection ``conn2`` the quantiles are
    computed at the same time as the counts, on the same snapshot."""
    if by is not None and by not in HUB_DIMENSIONS:
        raise ValueError(f"unknown grouping {by!r}")
    t0 = time.perf_counter()
    scope = await sites_in(conn, sites)
    codes = [s.code for s in scope] if sites is not None else None
    per_site = len(scope) > 1
    hub_name = await conn.fetchval("SELECT value FROM hub.meta WHERE key = 'name'")
    args = (date.fromisoformat(first), date.fromisoformat(last), codes)
    groups: dict[Any, Kpis] = {}
    total = Kpis(None)
    sums: dict[int, list[float]] = {}

    def group(row: Any) -> Kpis:
        if row["total"]:
            return total
        key = _key(by, per_site, row["g1"], row["g2"])
        k = groups.get(key)
        if k is None:
            k = groups[key] = Kpis(key)
        return k

    counts_sql = _sql(_COUNTS, by, per_site)
    quantiles_sql = _sql(_QUANTILES, by, per_site)
    timings: dict[str, float] = {}

    async def run(c: Any, sql: str, name: str, snapshot: str | None = None) -> list[Any]:
        t = time.perf_counter()
        if snapshot is not None:
            await c.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
        rows = await c.fetch(sql, *args)
        timings[name] = time.perf_counter() - t
        return rows

    tx = conn.transaction(isolation="repeatable_read", readonly=True)
    await tx.start()
    try:
        # Sorts for the quantiles stay in memory.
        await conn.execute("SET LOCAL work_mem = '256MB'")
        if conn2 is not None:
            snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
            tx2 = conn2.transaction(isolation="repeatable_read", readonly=True)
            await tx2.start()
            try:
                await conn2.execute("SET LOCAL work_mem = '256MB'")
                counted, quantiles = await asyncio.gather(
                    run(conn, counts_sql, "counts"),
                    run(conn2, quantiles_sql, "quantiles", snapshot))
            finally:
                await tx2.rollback()
        else:
            counted = await run(conn, counts_sql, "counts")
            quantiles = await run(conn, quantiles_sql, "quantiles")
    finally:
        await tx.rollback()
    for row in counted:
        k = group(row)
        kind, n, ok = row["kind"], int(row["n"]), row["ok"]
        if kind == ISSUED:
            k.issued += n
        elif kind == TRANSFERRED_IN:
            k.transferred_in += n
        elif kind == NO_SHOW:
            k.no_show += n
        elif kind == CANCELLED:
            k.cancelled += n
        elif kind == EXPIRED:
            k.expired += n
        elif kind == WAIT:
            k.waits += n
            if ok is not None:
                k.target_waits += n
                k.within_target += n if ok else 0
            sums.setdefault(id(k), [0.0, 0.0])[0] += row["value_sum"] or 0.0
        elif kind in (SERVED, TRANSFERRED):
            if kind == SERVED:
                k.served += n
            else:
                k.transferred += n
            k.services += int(row["timed"])
            sums.setdefault(id(k), [0.0, 0.0])[1] += row["value_sum"] or 0.0
        elif kind == RATING:
            level = int(row["level"])
            k.ratings[level] = k.ratings.get(level, 0) + n
            k.rated += n
            k.satisfied += n if ok else 0
    for k in [*groups.values(), total]:
        wait_sum, service_sum = sums.get(id(k), (0.0, 0.0))
        k.wait_mean = wait_sum / k.waits if k.waits else None
        k.service_mean = service_sum / k.services if k.services else None
    for row in quantiles:
        k = group(row)
        if row["wait_q"] is not None:
            k.wait_median, k.wait_p90 = row["wait_q"]
        if row["service_q"] is not None:
            k.service_median, k.service_p90 = row["service_q"]
    rows = [k for k in groups.values() if not k.is_empty()] if by is not None else []
    rows.sort(key=lambda k: _sort(k.key))
    timings["total"] = time.perf_counter() - t0
    report = Report(first, last, by, rows, total, timings)
    return HubReport(report, scope, hub_name, per_site, timings)


def _sort(key: Any) -> tuple:
    if isinstance(key, tuple):
        return tuple(sort_key(k) for k in key)
    return sort_key(key)


# --- laying it out ------------------------------------------------------------

def _configs(hr: HubReport) -> dict[str, Any]:
    """Each site's configuration rebuilt from what it shipped, by code."""
    from motcua.reports.center import config_from_public

    out = {}
    for s in hr.sites:
        if s.config:
            try:
                out[s.code] = config_from_public(s.config)
            except Exception:  # an unusable shipped config: labels fall back to codes
                continue
    return out


def build_hub_table(hr: HubReport, language: str = "vi", generated: Any = None) -> Any:
    """A hub report laid out like a site report (:func:`reports.render.build_table`):
    labels from the sites' own configurations, the sites covered in the subtitle."""
    from motcua.reports.render import build_table, group_label

    from .strings import catalogue as hub_catalogue

    ht = hub_catalogue(language)
    configs = _configs(hr)
    ordered = [configs[s.code] for s in hr.sites if s.code in configs]
    names = {s.code: s.name for s in hr.sites}

    def knows(cfg: Any, by: str, key: Any) -> bool:
        look = {"department": cfg.department, "procedure": cfg.procedure,
                "counter": lambda k: cfg.counter(int(k)), "officer": cfg.officer}.get(by)
        return look is None or look(key) is not None

    def label(by: str | None, key: Any, t: Any) -> str:
        if key is None or by is None:
            return t(f"none_{by}") if by else t("total")
        if by == "site":
            return f"{key} – {names.get(key, key)}"
        if isinstance(key, tuple):  # (site, counter/officer) over several sites
            code, inner = key
            cfg = configs.get(code)
            text = (group_label(cfg, by, inner, t) if cfg is not None and inner is not None
                    else t(f"none_{by}") if inner is None else str(inner))
            return f"{code} · {text}"
        cfg = next((c for c in ordered if knows(c, by, key)), ordered[0] if ordered else None)
        return group_label(cfg, by, key, t) if cfg is not None else str(key)

    levels: dict[int, Any] = {}
    for cfg in ordered:
        for lv in cfg.rating_levels:
            levels.setdefault(lv.value, lv)
    if len(hr.sites) == 1:
        heading = {"vi": hr.sites[0].name, "en": hr.sites[0].name}
        if hr.sites[0].code in configs:
            c = configs[hr.sites[0].code]
            heading = {"vi": c.name, "en": c.name_en}
        scope = ht("scope_some", codes=hr.sites[0].code)
    else:
        name = hr.hub_name or ht("province")
        heading = {"vi": name, "en": hr.hub_name or ht("province")}
        codes = [s.code for s in hr.sites]
        scope = (ht("scope_all", n=len(codes)) if len(codes) > 8 or not codes
                 else ht("scope_some", codes=", ".join(codes)))
    base = ordered[0] if ordered else None
    if base is None:
        from motcua.server.config import load_config

        base = load_config(None)  # only for the default rating levels' names
    return build_table(hr.report, base, language, generated, heading=heading, label=label,
                       scope=scope, levels=list(levels.values()) if levels else None)


def run_cli(args: Any) -> int:
    """``motcua report --hub URL …``."""
    import asyncio
    import sys
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from motcua.reports.cli import emit, period
    from motcua.reports.render import catalogue

    from .strings import catalogue as hub_catalogue

    t = catalogue(args.lang)
    ht = hub_catalogue(args.lang)
    if not args.hub.startswith(("postgresql://", "postgres://")):
        print(ht("bad_url", url=args.hub), file=sys.stderr)
        return 2
    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    try:
        first, last = period(args, datetime.now(tz).date())
    except ValueError as e:
        key, value = e.args
        print(t(key, value=value), file=sys.stderr)
        return 2
    by = None if args.by == "none" else args.by
    codes = [c.strip() for c in args.site.split(",") if c.strip()] if args.site else None
    started = time.perf_counter()
    try:
        hr = asyncio.run(_fetch(args.hub, first, last, by, codes))
    except KeyError as e:
        print(ht("unknown_site", code=e.args[0]), file=sys.stderr)
        return 2
    except _NoSchema:
        print(ht("no_schema"), file=sys.stderr)
        return 2
    except (OSError, TimeoutError) as e:
        print(ht("unreachable", error=f"{type(e).__name__}: {e}"), file=sys.stderr)
        return 2
    except Exception as e:
        import asyncpg

        if isinstance(e, asyncpg.PostgresError):
            print(ht("refused", error=str(e)), file=sys.stderr)
            return 2
        raise
    elapsed = time.perf_counter() - started
    table = build_hub_table(hr, args.lang, generated=datetime.now(tz))
    status = emit(table, args, first, last, by, prefix="file_province")
    if status == 0 and args.timing:
        print(t("timing", seconds=elapsed), file=sys.stderr)
    return status


class _NoSchema(Exception):
    pass


async def _fetch(url: str, first: str, last: str, by: str | None,
                 codes: list[str] | None) -> HubReport:
    import asyncpg

    conn = await asyncpg.connect(url, timeout=15)
    conn2 = None
    try:
        if not await conn.fetchval("SELECT to_regclass('hub.facts') IS NOT NULL"):
            raise _NoSchema()
        conn2 = await asyncpg.connect(url, timeout=15)
        return await hub_report(conn, first, last, by, codes, conn2)
    finally:
        await conn.close()
        if conn2 is not None:
            await conn2.close()
