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
import math
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from motcua.reports.facts import (CANCELLED, EXPIRED, ISSUED, NO_SHOW, RATING, SERVED,
                                  TRANSFERRED, TRANSFERRED_IN, WAIT)
from motcua.reports.kpi import DIMENSIONS, Kpis, Report, percentile, sort_key

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


async def hub_report(conn: Any, first: str, last: str, by: str | None = None,
                     sites: list[str] | None = None, conn2: Any = None,
                     source: str = "cells") -> HubReport:
    """KPIs for the days ``first``–``last`` over ``sites`` (codes; None: all),
    per ``by`` group.

    ``source="cells"`` (the default) reads the report cells (:mod:`hub.cells`);
    ``source="facts"`` scans and sorts the facts themselves, as the hub did
    before the cells (the benchmark's baseline). With a second connection
    ``conn2``, two parts run at once on the same snapshot (the groups and
    the total; the facts' counts and quantiles).
    Both give the site report's figures."""
    if by is not None and by not in HUB_DIMENSIONS:
        raise ValueError(f"unknown grouping {by!r}")
    if source not in ("cells", "facts"):
        raise ValueError(f"unknown source {source!r}")
    t0 = time.perf_counter()
    scope = await sites_in(conn, sites)
    codes = [s.code for s in scope] if sites is not None else None
    per_site = len(scope) > 1
    hub_name = await conn.fetchval("SELECT value FROM hub.meta WHERE key = 'name'")
    groups: dict[Any, Kpis] = {}
    total = Kpis(None)
    timings: dict[str, float] = {}

    def group(row: Any) -> Kpis:
        if row["total"]:
            return total
        key = _key(by, per_site, row["g1"], row["g2"], source == "cells")
        k = groups.get(key)
        if k is None:
            k = groups[key] = Kpis(key)
        return k

    tx = conn.transaction(isolation="repeatable_read", readonly=True)
    await tx.start()
    try:
        # Sorts stay in memory; the cells' searches aggregate by hashing
        # (the planner cannot know how many pivots an array parameter holds).
        await conn.execute("SET LOCAL work_mem = '256MB'")
        if source == "cells":
            await conn.execute("SET LOCAL enable_sort = off")
        if source == "facts":
            await _from_facts(conn, conn2, first, last, by, codes, per_site, group, groups,
                              total, timings)
        else:
            await _from_cells(conn, conn2, first, last, by, codes, per_site, scope, group,
                              groups, total, timings)
    finally:
        await tx.rollback()
    rows = [k for k in groups.values() if not k.is_empty()] if by is not None else []
    rows.sort(key=lambda k: _sort(k.key))
    timings["total"] = time.perf_counter() - t0
    report = Report(first, last, by, rows, total, timings)
    return HubReport(report, scope, hub_name, per_site, timings)


async def _from_facts(conn: Any, conn2: Any, first: str, last: str, by: str | None,
                      codes: list[str] | None, per_site: bool, group: Any,
                      groups: dict[Any, Kpis], total: Kpis, timings: dict[str, float]) -> None:
    """Every fact of the period scanned, the timed ones sorted (the hub's
    first implementation, kept as the benchmark's baseline)."""
    args = (date.fromisoformat(first), date.fromisoformat(last), codes)
    sums: dict[int, list[float]] = {}
    counts_sql = _sql(_COUNTS, by, per_site)
    quantiles_sql = _sql(_QUANTILES, by, per_site)

    async def run(c: Any, sql: str, name: str, snapshot: str | None = None) -> list[Any]:
        t = time.perf_counter()
        if snapshot is not None:
            await c.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
        rows = await c.fetch(sql, *args)
        timings[name] = time.perf_counter() - t
        return rows

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


# --- from the cells ------------------------------------------------------------

# The cells of a period: per site, year cells for the full years it has
# built, month cells for the other full months (they hold its days before
# `built`), day cells for the rest ($5–$6: the full years, $7–$8: the full
# months, as [first, end) starts).
_CELLS = """
scope AS (
    SELECT s.id, s.code,
        greatest($5::date, least($6::date, coalesce(st.built_y, '-infinity'::date))) AS ye,
        greatest($7::date, least($8::date, coalesce(st.built, '-infinity'::date))) AS me
    FROM hub.sites s LEFT JOIN hub.cell_state st ON st.site_id = s.id
    WHERE $3::text[] IS NULL OR s.code = ANY($3::text[])
), c AS (
    SELECT s.code, x.* FROM scope s JOIN hub.cells x ON x.site_id = s.id AND x.grain = 3
        AND x.start >= $5 AND x.start < s.ye AND x.fam = $4
    UNION ALL
    SELECT s.code, x.* FROM scope s JOIN hub.cells x ON x.site_id = s.id AND x.grain = 2
        AND x.start >= $7 AND x.start < CASE WHEN s.ye > $5 THEN $5 ELSE s.me END AND x.fam = $4
    UNION ALL
    SELECT s.code, x.* FROM scope s JOIN hub.cells x ON x.site_id = s.id AND x.grain = 2
        AND x.start >= CASE WHEN s.ye > $5 THEN s.ye ELSE s.me END AND x.start < s.me
        AND x.fam = $4
    UNION ALL
    SELECT s.code, x.* FROM scope s JOIN hub.cells x ON x.site_id = s.id AND x.grain = 1
        AND x.start >= $1 AND x.start < $7 AND x.fam = $4
    UNION ALL
    SELECT s.code, x.* FROM scope s CROSS JOIN LATERAL (
        SELECT * FROM hub.cells x WHERE x.site_id = s.id AND x.grain = 1
            AND x.start >= s.me AND x.start <= $2 AND x.fam = $4 OFFSET 0) x
), g AS (
    -- (|| detoasts each array once, not once per use)
    SELECT {k1} AS g1, {k2} AS g2, c.site_id, c.dept, c.issued, c.transferred_in, c.served,
        c.transferred, c.no_show, c.cancelled, c.expired, c.wait_sum, c.svc_sum,
        c.wait_v || ARRAY[]::float8[] AS wait_v, c.svc_v || ARRAY[]::float8[] AS svc_v,
        c.rate_l, c.rate_n
    FROM c
)"""

# Group keys as text: '' for none, '=' and the key otherwise (so that the
# joins below are plain equalities).
_CELL_KEY = {None: "''::text", "department": "coalesce('=' || c.dept, '')",
             "procedure": "coalesce('=' || c.key, '')", "counter": "coalesce('=' || c.key, '')",
             "officer": "coalesce('=' || c.key, '')", "hour": "coalesce('=' || c.key, '')",
             "day": "'=' || c.start::text", "site": "c.code"}

_CELL_COUNTS = """
WITH {cells},
t AS (SELECT * FROM unnest($9::smallint[], $10::text[], $11::float8[]) AS t(site_id, dept, target)),
sat AS (SELECT * FROM unnest($12::smallint[], $13::int[]) AS u(site_id, level))
SELECT 0 AS part, g1, g2, GROUPING(g1, g2) AS total,
    count(*) FILTER (WHERE cardinality(wait_v) > 0) AS wcells,
    count(*) FILTER (WHERE cardinality(svc_v) > 0) AS scells,
    sum(issued) AS issued, sum(transferred_in) AS transferred_in, sum(served) AS served,
    sum(transferred) AS transferred, sum(no_show) AS no_show, sum(cancelled) AS cancelled,
    sum(expired) AS expired, sum(cardinality(wait_v)) AS waits, sum(wait_sum) AS wait_sum,
    sum(width_bucket(t.target, wait_v)) AS within,
    sum(cardinality(wait_v)) FILTER (WHERE t.target IS NOT NULL) AS targeted,
    sum(cardinality(svc_v)) AS services, sum(svc_sum) AS svc_sum,
    min(wait_v[1]) AS wmin, max(wait_v[cardinality(wait_v)]) AS wmax,
    min(svc_v[1]) AS smin, max(svc_v[cardinality(svc_v)]) AS smax,
    NULL::int AS level, NULL::bigint AS rated, NULL::bigint AS happy
FROM g LEFT JOIN t ON t.site_id = g.site_id AND t.dept = g.dept
GROUP BY GROUPING SETS ((g1, g2), ())
UNION ALL
SELECT 1, g1, g2, GROUPING(g1, g2), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, r.l, sum(r.n),
    sum(r.n) FILTER (WHERE sat.level IS NOT NULL)
FROM g CROSS JOIN LATERAL unnest(g.rate_l, g.rate_n) AS r(l, n)
LEFT JOIN sat ON sat.site_id = g.site_id AND sat.level = r.l
GROUP BY GROUPING SETS ((g1, g2, r.l), (r.l))
"""

# A cell's values per metric (1: waits, 2: service times).
_METRICS = """, gm AS (
    SELECT g1, g2, 1 AS metric, wait_v AS v FROM g WHERE cardinality(wait_v) > 0
    UNION ALL
    SELECT g1, g2, 2, svc_v FROM g WHERE cardinality(svc_v) > 0
)"""

# How many values of each search's group are ≤ its pivot; g1 NULL: the
# total. (OFFSET 0: the arrays stay out of the aggregation's input.)
_CELL_PIVOTS = """
WITH {cells}{metrics},
p AS (SELECT * FROM unnest($9::text[], $10::text[], $11::smallint[], $12::float8[], $13::int[])
      AS p(g1, g2, metric, x, id))
SELECT id, sum(n) AS n FROM (
    SELECT p.id, width_bucket(p.x, gm.v) AS n
    FROM p JOIN gm ON gm.g1 = p.g1 AND gm.g2 = p.g2 AND gm.metric = p.metric
    UNION ALL
    SELECT p.id, width_bucket(p.x, gm.v)
    FROM p JOIN gm ON p.g1 IS NULL AND gm.metric = p.metric
    OFFSET 0
) z GROUP BY id
"""

# The values of each search's group in (a, b]: slices of the cells' sorted
# arrays, gathered as they come (sorted runs; Python sorts them faster).
_CELL_VALUES = """
WITH {cells}{metrics},
p AS (SELECT * FROM unnest($9::text[], $10::text[], $11::smallint[], $12::float8[],
                           $13::float8[], $14::int[]) AS p(g1, g2, metric, a, b, id)),
m AS (
    SELECT p.id, p.a, p.b, gm.v
    FROM p JOIN gm ON gm.g1 = p.g1 AND gm.g2 = p.g2 AND gm.metric = p.metric
    UNION ALL
    SELECT p.id, p.a, p.b, gm.v
    FROM p JOIN gm ON p.g1 IS NULL AND gm.metric = p.metric
)
SELECT m.id, array_agg(x) AS xs
FROM m CROSS JOIN LATERAL unnest(m.v[width_bucket(m.a, m.v) + 1 : width_bucket(m.b, m.v)]) AS x
GROUP BY m.id
"""

#: Pivots per search and pass.
PIVOTS = 15
#: What sorting a value costs (moved to Python, sorted there) against
#: counting one pivot in one cell in SQL (the cost model of the search).
VALUE_COST = 4
#: Passes at most (each divides a search's interval by about PIVOTS + 1).
MAX_PASSES = 8
_INF = float("inf")


class _Search:
    """Finding the values at ranks ``lo``..``hi`` (0-based) of one group's
    waits or service times: they lie in (a, b], with ``ca`` values ≤ a and
    ``cb`` values ≤ b."""

    __slots__ = ("id", "g1", "g2", "metric", "lo", "hi", "a", "ca", "b", "cb", "vmin",
                 "vmax", "cells", "values", "direct")

    def __init__(self, id_: int, g1: str | None, g2: str | None, metric: int, lo: int,
                 hi: int, n: int, vmin: float, vmax: float, cells: int) -> None:
        self.id, self.g1, self.g2, self.metric, self.lo, self.hi = id_, g1, g2, metric, lo, hi
        self.a, self.ca, self.b, self.cb = -_INF, 0, _INF, n
        self.vmin, self.vmax, self.cells = vmin, vmax, cells
        self.values: list[float] = []
        #: All the group's values at once (its ranks span the median to the P90).
        self.direct = False

    def worth_a_pass(self) -> bool:
        # Another pass (a pivot per cell) or sorting the interval's values?
        return not self.direct and \
            (self.cb - self.ca) * VALUE_COST > max(256, self.cells * PIVOTS)

    def pivots(self) -> list[float]:
        lo_v = self.vmin if self.a == -_INF else self.a
        hi_v = self.vmax if self.b == _INF else self.b
        if not lo_v < hi_v:
            return []
        # Evenly spaced in asinh: logarithmic for long tails, linear near 0.
        ta, tb = math.asinh(lo_v), math.asinh(hi_v)
        xs = {math.sinh(ta + (tb - ta) * i / (PIVOTS + 1)) for i in range(1, PIVOTS + 1)}
        return sorted(x for x in xs if lo_v < x < hi_v)

    def narrow(self, x: float, n: int) -> None:
        if n <= self.lo and x > self.a:
            self.a, self.ca = x, n
        if n >= self.hi + 1 and x < self.b:
            self.b, self.cb = x, n

    def __getitem__(self, rank: int) -> float:
        return self.values[rank - self.ca]


class _Ranked:
    """Looks like the sorted values of a group to :func:`reports.kpi.percentile`
    (which asks only for its length and two ranks): the hub's median and P90
    are the site report's own arithmetic on the same two values."""

    def __init__(self, n: int, searches: list[_Search]) -> None:
        self.n = n
        self.searches = searches

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, rank: int) -> float:
        for s in self.searches:
            if s.lo <= rank <= s.hi:
                return s[rank]
        raise IndexError(rank)


def _ranks(n: int, q: float) -> tuple[int, int]:
    """The two ranks :func:`reports.kpi.percentile` reads for ``q``."""
    lo = math.floor((n - 1) * q)
    return lo, min(lo + 1, n - 1)


def _periods(first: date, last: date, by: str | None) -> tuple[date, date, date, date]:
    """[start, end) of the full years and of the full months in first..last
    (empty ranges when there are none, or for a report by day)."""
    after = last + timedelta(days=1)
    if by == "day":
        return after, after, after, after
    m0 = first if first.day == 1 else (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    m1 = after.replace(day=1)
    if m0 >= m1:
        return after, after, after, after
    y0 = first if (first.month, first.day) == (1, 1) else date(first.year + 1, 1, 1)
    y1 = date(after.year, 1, 1)
    if y0 >= y1:
        y0 = y1 = m0
    return y0, y1, m0, m1


async def _from_cells(conn: Any, conn2: Any, first: str, last: str, by: str | None,
                      codes: list[str] | None, per_site: bool, scope: list[SiteInfo],
                      group: Any, groups: dict[Any, Kpis], total: Kpis,
                      timings: dict[str, float]) -> None:
    """The groups from the cells of their family; the total from the
    department family's, the fewest (month and year cells where it can)."""
    a, b = date.fromisoformat(first), date.fromisoformat(last)
    judge = _judging(scope)
    if by is None:
        await _cells_part(conn, a, b, None, codes, False, judge, group, timings, "")
        return
    jobs = [(conn, by, per_site, True, "groups "), (conn2 or conn, None, False, False, "total ")]
    if conn2 is None:
        for job in jobs:
            await _cells_part(job[0], a, b, job[1], codes, job[2], judge, group, timings,
                              job[4], groups_only=job[3])
        return
    snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
    tx2 = conn2.transaction(isolation="repeatable_read", readonly=True)
    await tx2.start()
    try:
        await conn2.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
        await conn2.execute("SET LOCAL work_mem = '256MB'")
        await conn2.execute("SET LOCAL enable_sort = off")
        await asyncio.gather(*(
            _cells_part(c, a, b, g_by, codes, g_per_site, judge, group, timings, name,
                        groups_only=only) for c, g_by, g_per_site, only, name in jobs))
    finally:
        await tx2.rollback()


def _judging(scope: list[SiteInfo]) -> tuple[list, ...]:
    """Each site's own targets and satisfied levels, as its report judges."""
    t_site, t_dept, t_value, s_site, s_level = [], [], [], [], []
    for site in scope:
        cfg = site.config or {}
        for d in cfg.get("departments", []):
            if d.get("target_wait") is not None:
                t_site.append(site.id)
                t_dept.append(d["code"])
                t_value.append(float(d["target_wait"] * 60))
        for lv in (cfg.get("rating") or {}).get("levels", []):
            if lv.get("satisfied"):
                s_site.append(site.id)
                s_level.append(int(lv["value"]))
    return t_site, t_dept, t_value, s_site, s_level


async def _cells_part(conn: Any, a: date, b: date, by: str | None, codes: list[str] | None,
                      per_site: bool, judge: tuple[list, ...], group: Any,
                      timings: dict[str, float], name: str, groups_only: bool = False) -> None:
    """Counts, then the searches for the medians and P90, over one family's
    cells; ``group(row)`` gives the Kpis a row of it goes to."""
    from .cells import FAMILY

    if by in _PER_SITE and per_site:
        k1, k2 = _CELL_KEY["site"], _CELL_KEY[by]
    else:
        k1, k2 = _CELL_KEY[by], "''::text"
    cells = _CELLS.format(k1=k1, k2=k2)
    args = (a, b, codes, FAMILY[by], *_periods(a, b, by))
    t = time.perf_counter()
    counted = await conn.fetch(_CELL_COUNTS.format(cells=cells), *args, *judge)
    timings[name + "counts"] = time.perf_counter() - t
    searches: list[_Search] = []
    stats: list[tuple[Kpis, str, int, list[_Search]]] = []
    for row in counted:
        if groups_only == bool(row["total"]) or (by is None and not row["total"]):
            continue  # (the groups' total comes from the coarsest cells)
        k = group(row)
        if row["part"] == 1:
            level, n = int(row["level"]), int(row["rated"])
            k.ratings[level] = k.ratings.get(level, 0) + n
            k.rated += n
            k.satisfied += int(row["happy"] or 0)
            continue
        for field_ in ("issued", "transferred_in", "served", "transferred", "no_show",
                       "cancelled", "expired"):
            setattr(k, field_, int(row[field_] or 0))
        k.waits, k.services = int(row["waits"] or 0), int(row["services"] or 0)
        k.within_target, k.target_waits = int(row["within"] or 0), int(row["targeted"] or 0)
        k.wait_mean = (row["wait_sum"] or 0.0) / k.waits if k.waits else None
        k.service_mean = (row["svc_sum"] or 0.0) / k.services if k.services else None
        g1, g2 = (None, None) if row["total"] else (row["g1"], row["g2"])
        for metric, n, vmin, vmax, ncells, prefix in (
                (1, k.waits, row["wmin"], row["wmax"], row["wcells"], "wait"),
                (2, k.services, row["smin"], row["smax"], row["scells"], "service")):
            if not n:
                continue
            mine = []
            # All the values, or passes (2 searches × PIVOTS in each cell,
            # twice or so) first?
            direct = n * VALUE_COST <= max(256, ncells * PIVOTS * 4)
            spans = [(min(_ranks(n, 0.5)[0], _ranks(n, 0.9)[0]),
                      max(_ranks(n, 0.5)[1], _ranks(n, 0.9)[1]))] if direct else \
                [_ranks(n, 0.5), _ranks(n, 0.9)]
            for lo, hi in spans:
                s = _Search(len(searches), g1, g2, metric, lo, hi, n, vmin, vmax, ncells)
                s.direct = direct
                searches.append(s)
                mine.append(s)
            stats.append((k, prefix, n, mine))
    t = time.perf_counter()
    passes = 0
    while passes < MAX_PASSES:
        active = [(s, x) for s in searches if s.worth_a_pass() for x in s.pivots()]
        if not active:
            break
        passes += 1
        ps = [s for s, _ in active]
        rows = await conn.fetch(_CELL_PIVOTS.format(cells=cells, metrics=_METRICS), *args,
                                [s.g1 for s in ps], [s.g2 for s in ps],
                                [s.metric for s in ps], [x for _, x in active],
                                list(range(len(active))))
        for r in rows:
            s, x = active[r["id"]]
            s.narrow(x, int(r["n"] or 0))
    timings[name + "passes"] = time.perf_counter() - t
    timings[name + "pass_count"] = passes
    t = time.perf_counter()
    if searches:
        rows = await conn.fetch(_CELL_VALUES.format(cells=cells, metrics=_METRICS), *args,
                                [s.g1 for s in searches], [s.g2 for s in searches],
                                [s.metric for s in searches], [s.a for s in searches],
                                [s.b for s in searches], [s.id for s in searches])
        for r in rows:
            values = list(r["xs"])
            values.sort()
            searches[r["id"]].values = values
    timings[name + "values"] = time.perf_counter() - t
    for k, prefix, n, mine in stats:
        ranked = _Ranked(n, mine)
        setattr(k, f"{prefix}_median", percentile(ranked, 0.5))  # type: ignore[arg-type]
        setattr(k, f"{prefix}_p90", percentile(ranked, 0.9))  # type: ignore[arg-type]


def _key(by: str | None, per_site: bool, g1: Any, g2: Any, cells: bool) -> Any:
    if by is None:
        return None
    if by in _PER_SITE and per_site:
        return (g1, _cell_key(by, g2) if cells else g2)
    if by == "day" and isinstance(g1, date):
        return g1.isoformat()
    if by == "site" or not cells:
        return g1
    return _cell_key(by, g1)


def _cell_key(by: str, text: str) -> Any:
    """A group key from the cells' text form ('' none, '=' + the key)."""
    if text == "":
        return None
    value = text[1:]
    return int(value) if by in ("counter", "hour") else value


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
