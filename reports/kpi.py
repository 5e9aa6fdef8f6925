"""KPI figures of one group (a department, a counter, an hour…) and the
pure-Python aggregation of facts (used by the naive baseline, the tests and
the live monitor; the engine's fast path works on packed columns instead,
see :mod:`reports.columns`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from motcua.server.config import CenterConfig

from .facts import (CANCELLED, EXPIRED, ISSUED, NO_SHOW, RATING, SERVED, TRANSFERRED,
                    TRANSFERRED_IN, WAIT, Fact)

DIMENSIONS = ("department", "counter", "officer", "procedure", "hour", "day")

#: Fact field grouped on for each dimension.
DIM_FIELD = {"department": "dept", "counter": "counter", "officer": "officer",
             "procedure": "proc", "hour": "hour", "day": "day"}


def percentile(values: list[float], q: float) -> float | None:
    """The ``q`` quantile (0–1) of **sorted** ``values``, interpolating
    linearly between the closest ranks (Excel's PERCENTILE.INC, numpy's
    default). None for no values."""
    n = len(values)
    if n == 0:
        return None
    h = (n - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, n - 1)
    return values[lo] + (h - lo) * (values[hi] - values[lo])


@dataclass
class Kpis:
    """The figures of one group; times in seconds."""

    key: Any = None
    issued: int = 0
    #: Citizens sent into this group's department from another desk.
    transferred_in: int = 0
    served: int = 0
    no_show: int = 0
    transferred: int = 0
    cancelled: int = 0
    expired: int = 0
    waits: int = 0
    wait_mean: float | None = None
    wait_median: float | None = None
    wait_p90: float | None = None
    #: Waits no longer than the department's target, out of ``target_waits``
    #: (waits in departments with a known target).
    within_target: int = 0
    target_waits: int = 0
    services: int = 0
    service_mean: float | None = None
    service_median: float | None = None
    service_p90: float | None = None
    ratings: dict[int, int] = field(default_factory=dict)
    rated: int = 0
    satisfied: int = 0

    @property
    def within_share(self) -> float | None:
        """Share of waits within target (0–1), None without waits."""
        return self.within_target / self.target_waits if self.target_waits else None

    @property
    def satisfaction(self) -> float | None:
        """Satisfaction rate (0–1), None without ratings."""
        return self.satisfied / self.rated if self.rated else None

    def is_empty(self) -> bool:
        return not (self.issued or self.transferred_in or self.served or self.no_show or self.transferred
                    or self.cancelled or self.expired or self.waits or self.rated)

    def set_distribution(self, metric: str, values: list[float]) -> None:
        """Fill ``<metric>_mean/_median/_p90`` and the count from **sorted** values."""
        n = len(values)
        setattr(self, "waits" if metric == "wait" else "services", n)
        setattr(self, f"{metric}_mean", sum(values) / n if n else None)
        setattr(self, f"{metric}_median", percentile(values, 0.5))
        setattr(self, f"{metric}_p90", percentile(values, 0.9))


@dataclass
class Report:
    """Figures for a period, one row per group plus the total."""

    first_day: str
    last_day: str
    by: str | None
    rows: list[Kpis]
    total: Kpis
    #: How the figures were computed and how long it took (seconds).
    timings: dict[str, float] = field(default_factory=dict)


def targets(config: CenterConfig) -> dict[str, float]:
    """Each department's target wait in seconds."""
    return {d.code: d.target_wait * 60 for d in config.departments}


def satisfied_levels(config: CenterConfig) -> set[int]:
    """Rating values that count as satisfied."""
    return {lv.value for lv in config.rating_levels if lv.satisfied}


class _Acc:
    __slots__ = ("k", "waits", "services")

    def __init__(self, key: Any) -> None:
        self.k = Kpis(key)
        self.waits: list[float] = []
        self.services: list[float] = []


def aggregate(facts: Iterable[Fact], config: CenterConfig, by: str | None) -> tuple[list[Kpis], Kpis]:
    """Group facts and compute every KPI in Python (rows sorted by key)."""
    return aggregate_with(facts, targets(config), satisfied_levels(config), by)


def aggregate_with(facts: Iterable[Fact], tgt: dict[str, float], happy: set[int],
                   by: str | None) -> tuple[list[Kpis], Kpis]:
    """:func:`aggregate` given the target waits (seconds per department) and
    the satisfied rating values directly (e.g. from a server's public view)."""
    key_of: Callable[[Fact], Any]
    if by is None:
        key_of = lambda f: None  # noqa: E731
    else:
        key_of = _getter(DIM_FIELD[by])
    groups: dict[Any, _Acc] = {}
    total = _Acc(None)
    for f in facts:
        key = key_of(f)
        acc = groups.get(key)
        if acc is None:
            acc = groups[key] = _Acc(key)
        for a in (acc, total) if by is not None else (acc,):
            _add(a, f, tgt, happy)
    if by is None:
        total = groups.get(None, total)
    rows = []
    for acc in groups.values():
        rows.append(_close(acc))
    if by is not None:
        _close(total)
    rows.sort(key=lambda k: sort_key(k.key))
    return (rows if by is not None else []), total.k


def _getter(name: str) -> Callable[[Fact], Any]:
    index = Fact._fields.index(name)
    return lambda f: f[index]


def _add(a: _Acc, f: Fact, tgt: dict[str, float], happy: set[int]) -> None:
    k, kind = a.k, f.kind
    if kind == WAIT:
        a.waits.append(f.value)  # type: ignore[arg-type]
        t = tgt.get(f.dept)  # type: ignore[arg-type]
        if t is not None:
            k.target_waits += 1
            k.within_target += f.value <= t  # type: ignore[operator]
    elif kind == ISSUED:
        k.issued += 1
    elif kind == TRANSFERRED_IN:
        k.transferred_in += 1
    elif kind in (SERVED, TRANSFERRED):
        if kind == SERVED:
            k.served += 1
        else:
            k.transferred += 1
        if f.value is not None:
            a.services.append(f.value)
    elif kind == RATING:
        v = int(f.value)  # type: ignore[arg-type]
        k.ratings[v] = k.ratings.get(v, 0) + 1
        k.rated += 1
        k.satisfied += v in happy
    elif kind == NO_SHOW:
        k.no_show += 1
    elif kind == CANCELLED:
        k.cancelled += 1
    elif kind == EXPIRED:
        k.expired += 1


def _close(a: _Acc) -> Kpis:
    a.waits.sort()
    a.services.sort()
    a.k.set_distribution("wait", a.waits)
    a.k.set_distribution("service", a.services)
    return a.k


def sort_key(key: Any) -> tuple:
    """Order groups: real keys first (numbers numerically), the empty key last."""
    if key is None:
        return (2, 0, "")
    if isinstance(key, (int, float)):
        return (0, key, "")
    return (1, 0, str(key))
