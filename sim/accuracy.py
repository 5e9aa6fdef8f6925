"""How good are the printed wait estimates? Measured on simulated days.

:class:`EstimateLog` watches the core's outcomes as a day runs: every ticket
issued, every transfer (the citizen is told the wait at the next queue), the
estimate printed or shown (the new look-ahead: point and range), today's old
formula on the same state (:mod:`sim.legacy`), and the real wait — from the
issue (or transfer) to the ticket's first call. :func:`accuracy` then gives
per group: the real mean wait, each estimator's mean absolute error (in
minutes and as a share of the mean wait), bias, the share of tickets off by
more than 10 minutes and by more than half their wait, and the share of real
waits inside the printed range.

The "mean wait" here is *per ticket, issue → first call*. The report's
"Chờ TB" is per queue visit (a transferred citizen waits twice, once in each
queue), so the two differ for the same day; compare like with like.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable

from .legacy import LegacyEstimator

#: "More than half off": relative to the real wait, but never less than this
#: (a 1-minute wait estimated at 2 minutes is not "100 % off" for a citizen).
RELATIVE_FLOOR_MINUTES = 5.0


@dataclass
class Sample:
    """One printed estimate and the wait that followed."""

    ticket_id: int
    kind: str  # issue | transfer
    day: str
    department: str
    priority: bool
    at: float
    hour: int
    first_hour: bool
    shared: bool
    minutes: int | None
    low: int | None
    high: int | None
    unknown: str | None
    legacy: int
    called_at: float | None = None

    @property
    def wait(self) -> float:
        assert self.called_at is not None
        return (self.called_at - self.at) / 60


class EstimateLog:
    """Collects :class:`Sample` s from the outcomes of a run on the core
    (use as ``watch`` of :func:`sim.run.run_on_core`)."""

    def __init__(self, config: Any) -> None:
        self.config = config
        self.legacy = LegacyEstimator(config)
        self.samples: list[Sample] = []
        self._open: dict[tuple[int, int], Sample] = {}
        self._tz = config.tz
        self._shared = {d.code: any(d.code in c.departments and len(c.departments) > 1
                                    for c in config.counters) for d in config.departments}

    def __call__(self, core: Any, out: Any) -> None:
        for ev in out.events:
            if ev.type in ("ticket_issued", "ticket_transferred"):
                t = core.tickets.get(ev.ticket_id)
                if t is None:
                    continue
                d = ev.data
                local = datetime.fromtimestamp(ev.at, self._tz)
                opens = datetime.combine(local.date(), self.config.opens, self._tz)
                rng = d.get("wait_range")
                s = Sample(
                    t.id, "issue" if ev.type == "ticket_issued" else "transfer", ev.day,
                    t.department, bool(t.priority), ev.at, local.hour,
                    local < opens + timedelta(hours=1), self._shared[t.department],
                    d.get("wait_minutes"), rng[0] if rng else None, rng[1] if rng else None,
                    d.get("wait_unknown"), self.legacy.minutes(core, t.department,
                                                               int(d.get("ahead", 0))))
                self._open[(t.id, t.transfers)] = s
                self.samples.append(s)
            elif ev.type == "ticket_called" and "waited" in ev.data:  # a call, not a recall
                t = core.tickets.get(ev.ticket_id)
                if t is not None:
                    s = self._open.pop((t.id, t.transfers), None)
                    if s is not None:
                        s.called_at = ev.at
        self.legacy.learn(core, out)


@dataclass
class Scores:
    """One estimator's errors on a set of samples, in minutes."""

    mae: float = float("nan")
    bias: float = float("nan")
    over_10: float = float("nan")
    over_half: float = float("nan")
    coverage: float | None = None

    def pct(self, mean_wait: float) -> float:
        return 100 * self.mae / mean_wait if mean_wait else float("nan")


@dataclass
class GroupAccuracy:
    """Real waits and both estimators' scores for one group of samples."""

    name: str
    n: int
    mean_wait: float
    new: Scores
    today: Scores
    unknown: int = 0
    not_called: int = 0


def _scores(pairs: list[tuple[float, float]], ranges: list[tuple[int, int, float]] | None) -> Scores:
    if not pairs:
        return Scores()
    errs = [e - w for e, w in pairs]
    cov = None
    if ranges is not None:
        cov = sum(1 for lo, hi, w in ranges if lo - 1e-9 <= w <= hi + 1e-9) / len(ranges) \
            if ranges else float("nan")
    return Scores(statistics.fmean(abs(x) for x in errs), statistics.fmean(errs),
                  sum(1 for x in errs if abs(x) > 10) / len(errs),
                  sum(1 for x, (_, w) in zip(errs, pairs)
                      if abs(x) > 0.5 * max(w, RELATIVE_FLOOR_MINUTES)) / len(errs), cov)


def group_accuracy(name: str, samples: Iterable[Sample]) -> GroupAccuracy:
    """Scores of both estimators on the called, known-estimate samples."""
    samples = list(samples)
    called = [s for s in samples if s.called_at is not None]
    known = [s for s in called if s.minutes is not None]
    waits = [s.wait for s in known]
    return GroupAccuracy(
        name, len(known), statistics.fmean(waits) if waits else float("nan"),
        _scores([(s.minutes, s.wait) for s in known],
                [(s.low, s.high, s.wait) for s in known if s.low is not None]),
        _scores([(s.legacy, s.wait) for s in known], None),
        unknown=sum(1 for s in called if s.minutes is None),
        not_called=len(samples) - len(called))


def breakdown(samples: list[Sample], config: Any) -> list[tuple[str, list[GroupAccuracy]]]:
    """The groups the issue asks for: overall, ticket kind, priority, shared
    or own counters, first hour, hour of the day, department."""
    issued = [s for s in samples if s.kind == "issue"]

    def by(key: Callable[[Sample], Any], label: Callable[[Any], str],
           pool: list[Sample], order: Iterable[Any] | None = None) -> list[GroupAccuracy]:
        groups: dict[Any, list[Sample]] = {}
        for s in pool:
            groups.setdefault(key(s), []).append(s)
        keys = [k for k in order if k in groups] if order is not None else sorted(groups)
        return [group_accuracy(label(k), groups[k]) for k in keys]

    depts = [d.code for d in config.departments]
    return [
        ("Tổng / overall", [group_accuracy("phiếu mới / new tickets", issued),
                            group_accuracy("sau chuyển / after a transfer",
                                           [s for s in samples if s.kind == "transfer"])]),
        ("Ưu tiên / priority", by(lambda s: s.priority,
                                  lambda k: "ưu tiên / priority" if k else "thường / normal",
                                  issued, [True, False])),
        ("Quầy / counters", by(lambda s: s.shared,
                               lambda k: "quầy chung / shared" if k else "quầy riêng / own",
                               issued, [True, False])),
        ("Giờ đầu / first hour", by(lambda s: s.first_hour,
                                    lambda k: "giờ đầu / first hour" if k else "sau đó / later",
                                    issued, [True, False])),
        ("Giờ / hour", by(lambda s: s.hour, lambda k: f"{k:02d}h", issued)),
        ("Lĩnh vực / department", by(lambda s: s.department, str, issued, depts)),
    ]


def _f(x: float, spec: str = "5.1f") -> str:
    return format(x, spec) if x == x else " " * (int(spec.split(".")[0]) - 1) + "–"


def format_tables(sections: list[tuple[str, list[GroupAccuracy]]]) -> list[str]:
    """The breakdown as fixed-width text lines."""
    head = (f"{'':26s} {'n':>5s} {'chờ TB':>6s} │ {'hôm nay / today':^30s} │ "
            f"{'mới / new':^37s}")
    sub = (f"{'':26s} {'':>5s} {'min':>6s} │ {'MAE':>5s} {'%':>4s} {'bias':>5s} {'>10m':>5s} "
           f"{'>50%':>5s} │ {'MAE':>5s} {'%':>4s} {'bias':>5s} {'>10m':>5s} {'>50%':>5s} "
           f"{'range':>6s}")
    lines = [head, sub]
    for title, groups in sections:
        lines.append(f"── {title}")
        for g in groups:
            t, n = g.today, g.new
            cov = n.coverage if n.coverage is not None else float("nan")
            lines.append(
                f"  {g.name[:24]:24s} {g.n:5d} {_f(g.mean_wait, '6.1f')} │ {_f(t.mae)} "
                f"{_f(t.pct(g.mean_wait), '4.0f')} {_f(t.bias, '+5.1f')} "
                f"{_f(100 * t.over_10, '4.0f')}% {_f(100 * t.over_half, '4.0f')}% │ "
                f"{_f(n.mae)} {_f(n.pct(g.mean_wait), '4.0f')} {_f(n.bias, '+5.1f')} "
                f"{_f(100 * n.over_10, '4.0f')}% {_f(100 * n.over_half, '4.0f')}% "
                f"{_f(100 * cov, '5.0f')}%")
    return lines
