"""Wait estimates: when will a waiting ticket be called, and how sure are we.

Pure and synchronous like the core beside it: no I/O, no asyncio, and no
clock of its own — every estimate and every observation is given ``now``.

**The estimate** is a look-ahead. For the ticket (or a ticket issued now),
the estimator takes every department that shares a counter with its
department — under ``oldest_first`` a shared counter serves one merged
queue — and plays the next calls forward with the center's own call rule
(:mod:`motcua.server.calling`: front placements, ageing, priority mixing,
``preference``):

* each counter is free after what remains of its current work: the
  expected rest of a service in progress given how long it has run (service
  times are right-skewed, so an hour-old service does not end "any
  second"), the rest of a walk to the counter or of a probable no-show, the
  rest of a pause from how long pauses with that reason last (a pause in
  the center's configured lunch lasts until its end at least);
* each waiting citizen then occupies a counter for the learned walk,
  service time of *their* procedure and the gap before the next call —
  weighted by the chance they have not given up by then;
* citizens who will overtake — priority arrivals, transfers placed at the
  front, a preferred department under ``preference`` — are fed in as a
  steady stream of fractional tickets at their learned rates;
* counters work at the availability learned for each quarter hour of the
  day (breaks, lunch), apart for counters just back from a pause (officers
  rarely take two breaks in a row), so a ticket taken at 11:20 knows about
  lunch. A configured lunch is the prior, so the first day knows it too.

**Cost.** One look-ahead per group and state of the core answers every
ticket of the group (its issue reply, its page) and every department view
of it: it records when each waiting ticket is called and when a ticket
issued now in each department would be (a *marker*, which takes no counter
time, so each answer is what a look-ahead asked about that one ticket gives
— :meth:`Estimator.lookahead`, kept as the reference and the uncached
path). It is played only as far as the answers asked for need, and stale
after each command, queue move or configuration change (what a command
teaches the estimator after its reply's look-ahead shows from the next
command on, as department views always did). Queues are kept sorted as
tickets come and go, and taken a few tickets at a time; past a horizon of
HORIZON calls (plus HORIZON_PER_COUNTER per counter) the wait is
extrapolated from the rate the department was called at — so an ``issue``
costs the same at 500 waiting as at 60.

**What is learned** (state kept in :attr:`Estimator.state`, a JSON-able dict
of a few kilobytes the server saves with the core's running state):

* service times per department, as ratios to the procedures' configured
  typical minutes: a window of the last WINDOW services, seeded with
  PRIOR_SAMPLES at exactly the typical minutes, each sample clamped around
  the window's *median* (2.5 robust standard deviations on a log scale) and
  then averaged — unbiased for ordinary samples, yet a few outliers (a
  visit called, started and finished within a second) hardly move it; a
  per-procedure ratio on top, pulled towards the department's until it has
  samples;
* walk, gap between visits, no-show share; arrival rates and the shares of
  overtakers; how long citizens wait before giving up; pause lengths per
  reason; counter availability per quarter hour, counted only while someone
  waited for the counter (a break nobody waited through costs nothing);
* the calibration: quantiles of (true wait − look-ahead) / spread, by how
  many citizens the look-ahead served first, updated whenever a ticket is
  called. The printed figure is the median (what minimises the absolute
  error), the printed range the 10 %–90 % band.

An estimate is *unknown* — with a reason — when no counter serving the
department is staffed (``no_open_counter``) or the department is not taking
tickets (``department_closed``).
"""

from __future__ import annotations

import bisect
import heapq
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .calling import FRONT_BAND, NORMAL_BAND, overdue_seconds, rank, takes_priority

# The core's status names (kept in step by a test; importing the core here
# would be circular).
OPEN, PAUSED = "open", "paused"
WAITING, CALLED, SERVING = "waiting", "called", "serving"

NO_OPEN_COUNTER = "no_open_counter"
DEPARTMENT_CLOSED = "department_closed"
#: Why an estimate can be unknown, in Vietnamese and English.
UNKNOWN_REASONS = {
    NO_OPEN_COUNTER: ("chưa có quầy mở", "no counter open yet"),
    DEPARTMENT_CLOSED: ("lĩnh vực tạm ngừng nhận hồ sơ", "department not taking tickets"),
}

STATE_VERSION = 1

#: Service times: prior weight of the typical minutes (in samples), floor of
#: the averaging weight (memory of ~1 / ALPHA_MIN samples), the clamp in
#: standard deviations and the variance kept by clamping a normal there.
PRIOR_SAMPLES = 4
WINDOW = 30
ALPHA_MIN = 0.02
PROC_ALPHA_MIN = 0.05
CLAMP_SD = 2.5
#: Squared coefficient of variation assumed before anything is learned (0.5²).
SEED_CV2 = 0.25
#: Shortest visit that counts as a service sample (mis-clicks are shorter).
MIN_SERVICE_SECONDS = 3.0
#: Procedures pull towards their department's average until this many samples.
PROC_SHRINK = 5.0

SEED_WALK, SEED_GAP, SEED_NO_SHOW, SEED_NO_SHOW_SECONDS = 30.0, 15.0, 0.03, 150.0
SEED_PAUSE_SECONDS = 600.0
REACT_SECONDS = 5.0

#: Arrival rates: time constant of the decayed count, and the longest gap
#: it decays over (a night between two days counts as this). Overtakers are
#: rarer than arrivals and their own decayed counts would be mostly noise:
#: their rate is the department's arrival rate × the learned share of
#: arrivals that are priority (center-wide) or placed at the front (per
#: department).
RATE_TAU = 60 * 60.0
RATE_MAX_GAP = 60 * 60.0
SEED_PRIORITY_SHARE = 0.05
SHARE_ALPHA_MIN = 0.005
#: Fractional overtakers are fed in every STREAM_STEP seconds at most.
STREAM_STEP = 300.0

#: Availability per quarter hour — the share of time counters with work
#: spend serving rather than paused: slot length, prior (seconds of
#: serving), and how much of the past days is kept at each new day.
SLOT = 900
SLOTS = 86400 // SLOT
AVAIL_PRIOR = 1800.0
AVAIL_DECAY = 0.8
#: A counter back from a pause less than this long ago is "rested": officers
#: rarely take two breaks in a row, so rested and other counters are learned
#: (and looked ahead) with availabilities of their own.
RESTED_SECONDS = 2 * 3600.0
#: The center's configured lunch closure is a prior on availability (this
#: many seconds of pause in each of its quarter hours), so that the very
#: first day knows of it; days of data then say how it really goes.
LUNCH_PRIOR, LUNCH_PRIOR_MIN = 20 * SLOT, 4 * SLOT

PAUSES_KEPT, REASONS_KEPT = 30, 8

#: Citizens who give up waiting: hazard per bucket of time waited (minutes),
#: from cancellations of waiting tickets against the time tickets waited;
#: the prior is this much waiting (seconds) with nobody leaving.
LEAVE_EDGES = (0, 15, 30, 45, 60, 90, 120, 180)
LEAVE_PRIOR = 5 * 3600.0
LEAVE_DECAY = 0.9
_LEAVE_EDGES_S = tuple(e * 60.0 for e in LEAVE_EDGES)

#: Calibration quantiles (of the normalised error) and their learning step.
QUANTILES = (0.1, 0.5, 0.9)
SEED_QUANTILES = (-1.2816, 0.0, 1.2816)
#: Calibrated apart by how many citizens the look-ahead served before the
#: ticket: the next free counter's rest is skewed, a long line is not.
REGIMES = (0, 1, 2, 4, 8)
CAL_STEP = 0.02
#: Spread floor in seconds (walks, reaction times).
MIN_SPREAD = 40.0

MAX_STEPS = 4000
#: The cached look-ahead plays at most this many calls (plus this many per
#: counter of the group) forward — and MAX_STEPS steps with the waits of idle
#: counters for overtakers; tickets further back are extrapolated from
#: the rate their department was called at. Calls include the fractional
#: overtakers (most of them in a long look-ahead): the sample center's
#: simulated days reach it 3 times in 10 days (``motcua simulate --days 10``,
#: seeds 1 and 2, print the same overall figures as without it). Queues are taken
#: from the sorted lists CHUNK tickets at a time, as far as the calls get.
HORIZON, HORIZON_PER_COUNTER = 48, 8
CHUNK = 8

#: The learned state is saved at least this often (seconds of the core's
#: time), or after this many changes, whichever comes first.
SAVE_EVERY, SAVE_AFTER = 60.0, 500
#: A department view's estimate is reused for this many seconds while
#: nothing changes (a burst of displays reconnecting asks for all of them).
VIEW_SECONDS = 5.0


@dataclass(frozen=True)
class Estimate:
    """A wait estimate in minutes: the point, the range, or why unknown."""

    minutes: int | None
    low: int | None = None
    high: int | None = None
    unknown: str | None = None
    #: The raw look-ahead, in seconds (for calibration and tests).
    seconds: float = 0.0
    spread: float = 0.0

    def fields(self) -> dict[str, Any]:
        """The wire fields: ``wait_minutes``, ``wait_range``, ``wait_unknown``."""
        return {"wait_minutes": self.minutes,
                "wait_range": None if self.low is None else [self.low, self.high],
                "wait_unknown": self.unknown}


def _phi(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def _robust_band(values: list[float]) -> tuple[float, float, float]:
    """Median of positive ``values`` and the clamp band around it: 2.5
    robust standard deviations (1.4826 × the median absolute deviation of
    the logs, at least 0.2) on a log scale."""
    ordered = sorted(values)
    n = len(ordered)
    med = ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2
    med = max(med, 1e-9)
    devs = sorted(abs(math.log(max(x, 1e-9) / med)) for x in ordered)
    mad = devs[n // 2] if n % 2 else (devs[n // 2 - 1] + devs[n // 2]) / 2
    sigma = max(1.4826 * mad, 0.2)
    return med, med * math.exp(-CLAMP_SD * sigma), med * math.exp(CLAMP_SD * sigma)


def lognormal_residual(mu: float, var: float, elapsed: float) -> float:
    """Expected rest of a lognormal duration (log-mean ``mu``, log-variance
    ``var``) that has already lasted ``elapsed`` seconds."""
    mean = math.exp(mu + var / 2)
    if elapsed <= 0:
        return mean
    sd = math.sqrt(var)
    le = math.log(elapsed)
    tail = _phi((mu - le) / sd)
    if tail < 1e-12:
        # Far in the tail: the mean residual life grows like e·σ²/(ln e − μ).
        return elapsed * var / max(le - mu, 1e-6)
    return max(mean * _phi((mu + var - le) / sd) / tail - elapsed, 1.0)


class _Run:
    """One look-ahead through a group of departments sharing counters, from
    one state of the core: when each waiting ticket is called, and a ticket
    issued now in each department (a marker that takes no counter time).

    ``called`` and ``marks`` hold (seconds from ``now``, the variance summed
    on the calling counter, citizens called first). A ticket the horizon
    did not reach is extrapolated from ``tail``."""

    __slots__ = ("version", "now", "serving", "called", "marks", "queues", "tail",
                 "late", "max_prio", "play", "want")

    def __init__(self, version: int, now: float, serving: dict[str, int]) -> None:
        self.version = version
        self.now = now
        self.serving = serving
        self.called: dict[int, tuple[float, float, int]] = {}
        self.marks: dict[str, tuple[float, float, int]] = {}
        self.queues: dict[str, list[list]] = {}
        #: Stopped at the horizon: per department (base time, seconds per
        #: call, variance at the horizon, variance per call) and the count
        #: called before the horizon.
        self.tail: tuple[dict[str, tuple[float, float, float, float]], int] | None = None
        #: Ran out of counters before reaching everyone: what they get.
        self.late = (0.0, 0.0, 0)
        self.max_prio = 1
        #: The calls still to play (a generator), None when played out; it
        #: pauses when it records ``want`` (a ticket id, or a department's marker).
        self.play: Any = None
        self.want: Any = None


class Estimator:
    """Learns from what the core reports and answers wait estimates.

    ``source`` is the queue core (read, never changed): its ``config``,
    ``waiting``, ``counters`` and ``tickets``.
    """

    def __init__(self, source: Any, state: dict[str, Any] | str | None = None) -> None:
        self.src = source
        self.config = source.config
        if isinstance(state, str):
            try:
                state = json.loads(state)
            except ValueError:
                state = None
        self.state: dict[str, Any] = self._fresh() if not isinstance(state, dict) \
            or state.get("v") != STATE_VERSION else state
        self._saved: str | None = None
        self._saved_at = -math.inf
        self._changes = 0
        self._last_ts = 0.0
        # Estimates made at issue/transfer, kept to calibrate when called.
        self._memo: dict[tuple[int, int], tuple[float, float, float, int]] = {}
        # Department views of the uncached path: (version, when, estimate),
        # valid until the next command (``_commands``) or VIEW_SECONDS have passed.
        self._views: dict[str, tuple[int, float, Estimate]] = {}
        self._commands = 0
        #: Bumped by every change of the core a look-ahead reads: each command
        #: (:meth:`changed`, before it changes anything), each move in or out
        #: of a queue, a new configuration. What a command teaches the
        #: estimator after its look-ahead (the arrival it just issued) shows in
        #: the next command's, as department views always did.
        self._version = 0
        self._last_free: dict[int, float] = {}
        self._avail_cache: tuple[list[float], list[float]] | None = None
        #: One look-ahead per group of departments sharing counters (keyed by
        #: the group's departments), valid while ``_version`` is unchanged.
        self._runs: dict[tuple[str, ...], _Run] = {}
        #: Each department's waiting tickets as four sorted lists of
        #: (queued_at, id) — normal front, normal, priority front, priority —
        #: kept in step by :meth:`queued` and :meth:`dequeued`.
        self._order: dict[str, list[list[tuple[float, int]]]] = {}
        #: False: every estimate is a fresh look-ahead through the whole
        #: queue (the path before the cache; benchmarks and tests compare).
        self.cached = True
        #: How many look-aheads stopped at the horizon (and extrapolated).
        self.horizon_hits = 0
        self._configure(self.config)
        self._hazard_cache: list[float] | None = None
        self._cum_hazard: list[float] = []

    def _configure(self, config: Any) -> None:
        """Everything taken from the configuration (again when it changes live)."""
        self.config = config
        self._tz = config.tz
        rules = config.queue
        self._rules = rules
        self._overdue = {d.code: overdue_seconds(d.target_wait, rules.overdue_after)
                         for d in config.departments}
        self._groups = self._build_groups()
        self._typical = {p.code: p.minutes * 60.0 for d in config.departments
                         for p in d.procedures}
        self._dept_typical = {d.code: d.typical_minutes * 60.0 for d in config.departments}
        self._lunch_slots: set[int] = set()
        if config.lunch:
            a, b = (t.hour * 3600 + t.minute * 60 for t in config.lunch)
            self._lunch_slots = set(range(a // SLOT, (b + SLOT - 1) // SLOT))
        self._avail_cache = None
        self._views.clear()
        self._runs.clear()
        self._version += 1

    def _sync_config(self) -> None:
        """Follow a live configuration change of the core (a department
        closed, a counter given other departments: other groups)."""
        if self.src.config is not self.config:
            self._configure(self.src.config)

    # --- state ----------------------------------------------------------

    @staticmethod
    def _fresh() -> dict[str, Any]:
        return {"v": STATE_VERSION, "day": "", "svc": {}, "proc": {},
                "walk": [SEED_WALK, 0], "gap": [SEED_GAP, 0],
                "ns": [SEED_NO_SHOW, SEED_NO_SHOW_SECONDS, 0], "rate": {}, "pshare": [SEED_PRIORITY_SHARE, 0], "fshare": {}, "avail": {}, "rested": {},
                "pause": {}, "cal": [list(SEED_QUANTILES) for _ in REGIMES],
                "leave": [[0.0, 0.0] for _ in LEAVE_EDGES]}

    def _build_groups(self) -> dict[str, tuple[tuple[str, ...], tuple[int, ...]]]:
        """Departments linked through shared counters, with their counters."""
        parent = {d.code: d.code for d in self.config.departments}

        def find(x: str) -> str:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x
        for c in self.config.counters:
            for code in c.departments[1:]:
                parent[find(code)] = find(c.departments[0])
        groups: dict[str, tuple[tuple[str, ...], tuple[int, ...]]] = {}
        for d in self.config.departments:
            root = find(d.code)
            depts = tuple(x.code for x in self.config.departments if find(x.code) == root)
            counters = tuple(c.number for c in self.config.counters
                             if c.departments and find(c.departments[0]) == root)
            groups[d.code] = (depts, counters)
        return groups

    def group(self, department: str) -> tuple[tuple[str, ...], tuple[int, ...]]:
        """The departments sharing counters with ``department``, and those counters."""
        self._sync_config()
        return self._groups[department]

    def shared(self, department: str) -> bool:
        """Whether a counter serving ``department`` also serves another."""
        self._sync_config()
        return len(self._groups[department][0]) > 1

    # --- learning -------------------------------------------------------

    def _local(self, ts: float) -> datetime:
        return datetime.fromtimestamp(ts, timezone.utc).astimezone(self._tz)

    def _new_day(self, ts: float) -> None:
        day = self._local(ts).date().isoformat()
        st = self.state
        if day <= st["day"]:
            return
        if st["day"]:
            for slot in st["avail"].values():
                for i in range(len(slot)):
                    slot[i] = round(slot[i] * AVAIL_DECAY)
            st["rested"] = {}
            for cell in st["leave"]:
                cell[0] = round(cell[0] * LEAVE_DECAY)
                cell[1] = round(cell[1] * LEAVE_DECAY, 2)
            self._avail_cache = None
            self._hazard_cache = None
        st["day"] = day
        self._memo.clear()
        self._last_free.clear()

    def typical_seconds(self, department: str, procedure: str | None) -> float:
        """The configured typical service time of a procedure (or department)."""
        if procedure is not None and procedure in self._typical:
            return self._typical[procedure]
        return self._dept_typical.get(department, 600.0)

    def _ratio(self, department: str, procedure: str | None, st: Any = None) -> float:
        """Learned service / typical minutes for a procedure: its own ratio,
        pulled towards its department's while it has few samples."""
        st = st or self.state
        r = (st["svc"].get(department) or (1.0,))[0]
        own = st["proc"].get(procedure) if procedure is not None else None
        if not own:
            return r
        return (own[0] * own[1] + r * PROC_SHRINK) / (own[1] + PROC_SHRINK)

    def service_stats(self, department: str, procedure: str | None,
                      st: Any = None) -> tuple[float, float]:
        """Mean service seconds of a procedure and the squared coefficient of
        variation; for ``None``, of whatever mix the department serves.
        (``st``: a look-ahead's copy of the learned state, else the state.)"""
        svc = (st or self.state)["svc"].get(department)
        r, cv2 = (svc[0], svc[1]) if svc else (1.0, SEED_CV2)
        if procedure is None or procedure not in self._typical:
            if svc and svc[3] is not None:
                return svc[3], svc[4]
            return self._dept_typical.get(department, 600.0) * r, cv2 + 0.1
        return self._typical[procedure] * self._ratio(department, procedure, st), cv2

    def service_log(self, department: str, procedure: str | None,
                    st: Any = None) -> tuple[float, float]:
        """Log-mean and log-variance of the lognormal with the learned mean and
        spread (for what remains of a service in progress)."""
        mean, cv2 = self.service_stats(department, procedure, st)
        v = math.log(1 + cv2)
        return math.log(mean) - v / 2, v

    def service_mean(self, department: str, procedure: str | None = None) -> float:
        """Expected service seconds of a procedure (of the department if None)."""
        return self.service_stats(department, procedure)[0]

    def learn_service(self, department: str, procedure: str | None, seconds: float) -> None:
        """One observed service time, robustly folded into the averages.

        The department keeps its last WINDOW services as ratios to their
        procedures' typical minutes, seeded with PRIOR_SAMPLES at exactly the
        typical minutes until real ones outnumber them. Every sample is
        clamped around the *median* of that window (2.5 robust standard
        deviations on a log scale — service times are skewed — from the
        median absolute deviation), then averaged: the mean stays unbiased
        for ordinary samples, while a few outliers, even the first ones, move
        it little, and clamping around the median cannot feed on itself."""
        if department not in self._dept_typical or seconds < min(
                MIN_SERVICE_SECONDS, 0.02 * self.typical_seconds(department, procedure)):
            return
        typical = self.typical_seconds(department, procedure)
        svc = self.state["svc"].get(department)
        # Changed as new lists: a look-ahead keeps the old ones (:meth:`_frozen`).
        svc = self.state["svc"][department] = [1.0, SEED_CV2, 0, None, SEED_CV2, []] \
            if svc is None else list(svc)
        window = svc[5]
        # Whole numbers (ratio in thousandths, seconds): the state is saved
        # with every commit, and integers encode several times faster.
        window.append([round(1000 * seconds / typical), round(seconds)])
        del window[:-WINDOW]
        svc[2] += 1
        prior = PRIOR_SAMPLES if len(window) <= PRIOR_SAMPLES else max(
            0, 2 * PRIOR_SAMPLES - len(window))
        ratios = [w[0] / 1000 for w in window] + [1.0] * prior
        med, lo, hi = _robust_band(ratios)
        clamped = [min(max(x, lo), hi) for x in ratios]
        r = sum(clamped) / len(clamped)
        var = sum((x - r) ** 2 for x in clamped) / max(1, len(clamped) - 1)
        svc[0] = r
        svc[1] = min(max(var / (r * r), 0.01), 2.0) if len(clamped) > 2 else SEED_CV2
        # The department's mix in seconds, whatever the procedures (for
        # tickets without one, and for overtakers still to come).
        secs = [w[1] for w in window] + [self._dept_typical[department]] * prior
        _, slo, shi = _robust_band(secs)
        sc = [min(max(x, slo), shi) for x in secs]
        m = sum(sc) / len(sc)
        svc[3] = m
        svc[4] = min(max(sum((x - m) ** 2 for x in sc) / max(1, len(sc) - 1) / (m * m),
                         0.01), 2.0) if len(sc) > 2 else SEED_CV2 + 0.1
        if procedure is not None and procedure in self._typical:
            ratio = min(max(seconds / typical, lo), hi)
            own = self.state["proc"].get(procedure)
            own = self.state["proc"][procedure] = [ratio, 0] if own is None else list(own)
            own[0] += max(1.0 / (own[1] + 1), PROC_ALPHA_MIN) * (ratio - own[0])
            own[1] += 1

    @staticmethod
    def _ewma(pair: list[float], x: float, prior: float = 3, floor: float = ALPHA_MIN) -> None:
        a = max(1.0 / (pair[-1] + prior), floor)
        pair[0] += a * (x - pair[0])
        pair[-1] += 1

    def _arrive(self, department: str, ts: float, priority: bool, front: bool) -> None:
        """A ticket entered a department's queue: its arrival rate, and the
        shares of priority and front-placed entries."""
        rates = self.state["rate"]
        r, t0 = rates.get(department, (0.0, ts))
        gap = min(max(ts - t0, 0.0), RATE_MAX_GAP)
        rates[department] = [r * math.exp(-gap / RATE_TAU) + 1.0 / RATE_TAU, ts]
        ps = self.state["pshare"]
        self._ewma(ps, 1.0 if priority else 0.0, prior=50, floor=SHARE_ALPHA_MIN)
        fs = self.state["fshare"].setdefault(department, [0.0, 0])
        self._ewma(fs, 1.0 if front and not priority else 0.0, prior=20, floor=0.02)

    def rate(self, department: str, kind: str, now: float) -> float:
        """Entries per second into a department lately: ``a`` any, ``p``
        priority, ``f`` placed at the front."""
        entry = self.state["rate"].get(department)
        if entry is None:
            return 0.0
        r, t0 = entry
        r *= math.exp(-min(max(now - t0, 0.0), RATE_MAX_GAP) / RATE_TAU)
        if kind == "p":
            return r * self.state["pshare"][0]
        if kind == "f":
            fs = self.state["fshare"].get(department)
            return r * fs[0] if fs else 0.0
        return r

    def changed(self) -> None:
        """The core's state is about to change: cached look-aheads are stale."""
        self._version += 1
        self._commands += 1

    # --- the queues in call order, kept up to date -----------------------

    @staticmethod
    def _kind(t: Any) -> int:
        return (2 if t.priority else 0) + (t.band != FRONT_BAND)

    def queued(self, t: Any) -> None:
        """A ticket joined its department's waiting queue (the core tells)."""
        self._version += 1
        lists = self._order.get(t.department)
        if lists is not None:
            bisect.insort(lists[self._kind(t)], (t.queued_at, t.id))

    def dequeued(self, t: Any) -> None:
        """A ticket left its department's waiting queue (before it changes)."""
        self._version += 1
        lists = self._order.get(t.department)
        if lists is not None:
            keys = lists[self._kind(t)]
            key = (t.queued_at, t.id)
            i = bisect.bisect_left(keys, key)
            if i < len(keys) and keys[i] == key:
                del keys[i]
            else:  # not where it should be: build again when next needed
                del self._order[t.department]

    def ahead(self, t: Any) -> int:
        """How many waiting tickets of its department are before ``t`` in
        the queue order (only priority ones for a priority ticket)."""
        lists = self._sorted(t.department)
        key = (t.queued_at, t.id)
        n = 0
        for k in ((2, 3) if t.priority else (0, 1, 2, 3)):
            band = FRONT_BAND if k % 2 == 0 else NORMAL_BAND
            if band < t.band:
                n += len(lists[k])
            elif band == t.band:
                n += bisect.bisect_left(lists[k], key)
        return n

    def _sorted(self, code: str) -> list[list[tuple[float, int]]]:
        """A department's four sorted queues, built from the core's waiting
        tickets when first needed (or when out of step with them)."""
        lists = self._order.get(code)
        waiting = self.src.waiting[code]
        if lists is None or sum(map(len, lists)) != len(waiting):
            lists = [[], [], [], []]
            for t in waiting.values():
                lists[self._kind(t)].append((t.queued_at, t.id))
            for keys in lists:
                keys.sort()
            self._order[code] = lists
        return lists

    def saved(self) -> str:
        """The learned state as JSON text, for the server to save with the
        core's running state. It is some kilobytes: encoded again only when
        it has changed and SAVE_EVERY seconds (or SAVE_AFTER changes) have
        passed, not with every commit — a restart forgets at most that."""
        if self._saved is None or (self._changes and (
                self._last_ts - self._saved_at >= SAVE_EVERY or self._changes >= SAVE_AFTER)):
            self._saved = json.dumps(self.state, separators=(",", ":"), ensure_ascii=False)
            self._saved_at = self._last_ts
            self._changes = 0
        return self._saved

    def _touch(self, ts: float) -> None:
        self._changes += 1
        if ts > self._last_ts:
            self._last_ts = ts

    def observe(self, type_: str, ts: float, ticket: Any, counter: int | None,
                data: dict[str, Any]) -> None:
        """Learn from one event the core emitted (after its state change)."""
        self._new_day(ts)
        self._touch(ts)
        if type_ == "ticket_issued":
            self._arrive(ticket.department, ts, bool(ticket.priority), False)
        elif type_ == "ticket_called":
            if "waited" not in data:
                return  # a recall of the ticket already at the counter
            self._waited(ts - ticket.queued_at, False)
            memo = self._memo.pop((ticket.id, ticket.transfers), None)
            if memo is not None:
                self._calibrate(ts - memo[2], memo[0], memo[1], memo[3])
            free = self._last_free.pop(counter, None) if counter is not None else None
            if free is not None:
                self._ewma(self.state["gap"], min(max(ts - free, 0.0), 300.0))
        elif type_ == "service_started":
            if ticket.called_at is not None:
                self._ewma(self.state["walk"], min(max(ts - ticket.called_at, 0.0), 600.0))
            self._learn_show(0.0, None)
        elif type_ == "ticket_no_show":
            if ticket.called_at is not None:
                self._slots(ticket.called_at, ts, 0, counter)
                self._learn_show(1.0, min(max(ts - ticket.called_at, 0.0), 1800.0))
            self._freed(counter, ts)
        elif type_ == "visit_ended":
            v = data.get("visit") or {}
            if v.get("called_at") is not None and v.get("ended_at") is not None:
                self._slots(float(v["called_at"]), float(v["ended_at"]), 0, v.get("counter"))
            if v.get("outcome") in ("served", "transferred") and v.get("started_at") is not None \
                    and v["started_at"] == v.get("called_at"):
                # Finished without "start": the walk, if any, is in the service.
                self._ewma(self.state["walk"], 0.0)
                self._learn_show(0.0, None)
            if v.get("outcome") in ("served", "transferred") and v.get("started_at") is not None:
                self.learn_service(v["department"], v.get("procedure"),
                                   float(v["ended_at"]) - float(v["started_at"]))
            self._freed(v.get("counter"), ts)
        elif type_ == "ticket_transferred":
            self._arrive(ticket.department, ts, bool(ticket.priority),
                         self._rules.transfer_placement == "front")
        elif type_ == "ticket_requeued":
            self._arrive(ticket.department, ts, bool(ticket.priority),
                         self._rules.requeue_placement == "front")
        elif type_ in ("ticket_cancelled", "ticket_expired") and ticket is not None:
            self._memo.pop((ticket.id, ticket.transfers), None)
            if ticket.counter is None and type_ == "ticket_cancelled":
                # It was waiting (never at a counter since it was queued): the
                # citizen gave up after this long.
                self._waited(ts - ticket.queued_at, True)

    def _waited(self, seconds: float, left: bool) -> None:
        """A ticket left the queue after waiting ``seconds``: exposure for the
        give-up hazard, and one give-up if ``left``."""
        cells = self.state["leave"]
        edges = LEAVE_EDGES
        for i, lo in enumerate(edges):
            lo_s = lo * 60.0
            if seconds <= lo_s:
                break
            hi_s = edges[i + 1] * 60.0 if i + 1 < len(edges) else math.inf
            cells[i][0] = round(cells[i][0] + min(seconds, hi_s) - lo_s)
            if left and seconds <= hi_s:
                cells[i][1] += 1
        self._hazard_cache = None

    def _hazards(self) -> list[float]:
        """Give-up hazard per second in each bucket of time waited."""
        if self._hazard_cache is None:
            h = [c / (e + LEAVE_PRIOR) for e, c in self.state["leave"]]
            cum = [0.0]
            for i in range(len(LEAVE_EDGES) - 1):
                cum.append(cum[-1] + h[i] * (LEAVE_EDGES[i + 1] - LEAVE_EDGES[i]) * 60)
            self._hazard_cache = h
            self._cum_hazard = cum
        return self._hazard_cache

    def _cumulative(self, waited: float) -> float:
        h = self._hazards()
        i = bisect.bisect_right(_LEAVE_EDGES_S, waited) - 1
        return self._cum_hazard[i] + h[i] * (waited - _LEAVE_EDGES_S[i])

    def stays(self, waited_now: float, waited_then: float) -> float:
        """Probability that a citizen who has waited ``waited_now`` seconds is
        still waiting at ``waited_then``."""
        if waited_then <= waited_now:
            return 1.0
        return math.exp(self._cumulative(waited_now) - self._cumulative(waited_then))

    def _learn_show(self, no_show: float, seconds: float | None) -> None:
        ns = self.state["ns"]
        a = max(1.0 / (ns[2] + 30), 0.01)
        ns[0] += a * (no_show - ns[0])
        if seconds is not None:
            ns[1] += max(1.0 / (ns[2] * ns[0] + 3), 0.05) * (seconds - ns[1])
        ns[2] += 1

    def _freed(self, counter: int | None, ts: float) -> None:
        """A counter ended a visit: if someone waits for it, the time to its
        next call is a gap sample."""
        if counter is None:
            return
        cfg = self.config.counter(counter)
        if cfg is not None and any(self.src.waiting[d] for d in cfg.departments):
            self._last_free[counter] = ts
        else:
            self._last_free.pop(counter, None)

    def _rested_until(self, counter: int | None) -> float:
        back = self.state["rested"].get(str(counter)) if counter is not None else None
        return back + RESTED_SECONDS if back is not None else -math.inf

    def _slots(self, start: float, end: float, col: int, counter: int | None,
               rested_until: float | None = None) -> None:
        """Add ``[start, end)`` to column ``col`` (0 serving, 1 paused) of
        the availability of each quarter hour it covers — the rested
        counters' columns (2, 3) while the counter is rested."""
        if end <= start or start <= 0 or end - start > 16 * 3600:
            return  # nothing, or a counter left overnight: says nothing about a day
        if rested_until is None:
            rested_until = self._rested_until(counter)
        if start < rested_until:
            col += 2
        avail = self.state["avail"]
        offset = self._local(start).utcoffset()
        off = offset.total_seconds() if offset else 0.0
        t = start
        while t < end:
            local = (t + off) % 86400
            stop = min(end, t + (SLOT - local % SLOT))
            cell = avail.setdefault(str(int(local // SLOT)), [0.0, 0.0, 0.0, 0.0])
            cell[col] = round(cell[col] + stop - t)
            t = stop
        self._avail_cache = None

    def counter_changed(self, number: int, old_status: str, old_since: float,
                        old_reason: str | None, new_status: str, ts: float) -> None:
        """A counter's status changes: learn how long pauses with a reason
        last and, when the pause kept someone waiting, when in the day
        counters with work are paused."""
        self._new_day(ts)
        self._touch(ts)
        self._last_free.pop(number, None)
        if old_status != PAUSED or ts <= old_since or old_since <= 0:
            return
        cfg = self.config.counter(number)
        if cfg is not None:
            # The pause held up whoever waits for the counter now, from when
            # the first of them came (a break nobody waited through costs
            # nobody anything, so it does not count against availability).
            first = min((t.queued_at for d in cfg.departments
                         for t in self.src.waiting[d].values()), default=None)
            if first is not None:
                self._slots(max(old_since, first), ts, 1, number)
        self.state["rested"][str(number)] = ts
        pauses = self.state["pause"]
        key = (old_reason or "").strip().lower()[:40]
        seen = pauses.pop(key, [])  # re-inserted last: most recently used
        seen.append(round(ts - old_since))
        pauses[key] = seen[-PAUSES_KEPT:]
        while len(pauses) > REASONS_KEPT:
            pauses.pop(next(iter(pauses)))

    @staticmethod
    def regime(ahead: int) -> int:
        """The calibration regime of a look-ahead that served ``ahead`` first."""
        return sum(1 for r in REGIMES[1:] if ahead >= r)

    def _calibrate(self, actual: float, predicted: float, spread: float, regime: int) -> None:
        z = (actual - predicted) / spread
        cal = self.state["cal"][regime]
        for i, q in enumerate(QUANTILES):
            cal[i] += CAL_STEP * (q - (1.0 if z < cal[i] else 0.0))
        # Quantile trackers may cross while they settle; keep them ordered.
        cal.sort()

    # --- the pieces of a look-ahead ---------------------------------------

    def _today_at(self, now: float, at: Any) -> float:
        """The epoch time of local time ``at`` on the day of ``now``."""
        local = self._local(now)
        return local.replace(hour=at.hour, minute=at.minute, second=0, microsecond=0).timestamp()

    def _availability(self) -> tuple[list[float], list[float]]:
        """Share of time counters with work serve rather than pause, per
        quarter hour: for counters not rested, and for rested ones."""
        if self._avail_cache is None:
            due, rested = [1.0] * SLOTS, [1.0] * SLOTS
            cells = self.state["avail"]
            for i in set(range(SLOTS)) & ({int(k) for k in cells} | self._lunch_slots):
                cell = cells.get(str(i), (0.0, 0.0, 0.0, 0.0))
                seen = sum(cell)
                closed = max(LUNCH_PRIOR - seen, LUNCH_PRIOR_MIN) if i in self._lunch_slots else 0.0
                due[i] = (cell[0] + AVAIL_PRIOR) / (cell[0] + cell[1] + AVAIL_PRIOR + closed)
                rested[i] = (cell[2] + AVAIL_PRIOR) / (cell[2] + cell[3] + AVAIL_PRIOR + closed)
            self._avail_cache = (due, rested)
        return self._avail_cache

    def _advance(self, t: float, work: float, avail: tuple[list[float], list[float]],
                 off: float, rested_until: float) -> float:
        """When ``work`` seconds of counter time starting at ``t`` are done,
        with the counter available at the learned rate of each quarter hour."""
        due, rested = avail
        for _ in range(2 * SLOTS + 2):
            local = (t + off) % 86400
            room = SLOT - local % SLOT
            if t < rested_until:
                a = rested[int(local // SLOT)]
                room = min(room, rested_until - t)
            else:
                a = due[int(local // SLOT)]
            if a * room >= work:
                return t + work / a
            work -= a * room
            t += room
        return t + work

    def _streams(self, depts: Any, now: float, queues: dict[str, Any],
                 occupancy: Callable[[str], tuple[float, float]]) -> list[list[Any]]:
        """The overtakers to come, as fractional tickets at the learned rates:
        one stream per department and kind (priority, transfers to the front,
        and under the "preference" policy the preferred), every STREAM_STEP."""
        streams = []
        kinds = [("p", 3), ("f", 0)]
        if self._rules.call_policy == "preference":
            kinds.append(("a", 1))
        for code in depts:
            for kind, which in kinds:
                lam = self.rate(code, kind, now)
                if lam * 3600 < 0.05:
                    continue
                step = min(STREAM_STEP, 1.0 / lam)
                occ, var = occupancy(code)
                streams.append([now + step / 2, step, lam * step, code, queues[code][which],
                                occ, var])
        return streams

    def pause_rest(self, reason: str | None, elapsed: float) -> float:
        """Expected rest of a pause with ``reason`` that has lasted ``elapsed``."""
        pauses = self.state["pause"]
        seen = pauses.get((reason or "").strip().lower()[:40])
        if not seen:
            seen = [d for ds in pauses.values() for d in ds] or [SEED_PAUSE_SECONDS]
        rest = [d - elapsed for d in seen if d > elapsed]
        if rest:
            return sum(rest) / len(rest)
        return 120.0  # longer than any seen: back any moment

    def _frozen(self) -> dict[str, Any]:
        """What :meth:`_occupancy` reads of the learned state, as it is now
        (a look-ahead played on later reads this copy, not what was learned
        since; service lists are replaced, never changed, when learned)."""
        st = self.state
        return {"svc": dict(st["svc"]), "proc": dict(st["proc"]), "walk": tuple(st["walk"]),
                "gap": tuple(st["gap"]), "ns": tuple(st["ns"])}

    def _occupancy(self, department: str, procedure: str | None,
                   st: Any = None) -> tuple[float, float]:
        """Expected counter seconds a waiting citizen will take, and the variance."""
        st = st or self.state
        mu, v = self.service_log(department, procedure, st)
        mean = math.exp(mu + v / 2)
        walk = st["walk"][0]
        gap = st["gap"][0]
        p, ns_s, _ = st["ns"]
        shown = walk + mean
        occ = (1 - p) * shown + p * ns_s + gap
        var = (1 - p) * mean * mean * (math.exp(v) - 1) + p * (1 - p) * (shown - ns_s) ** 2
        return occ, var

    def _counter_rest(self, state: Any, now: float) -> tuple[float, float]:
        """When a staffed counter will be free to call, and the variance."""
        gap = self.state["gap"][0]
        if state.status == PAUSED:
            rest = self.pause_rest(state.reason, now - state.since)
            if self.config.lunch:
                # Paused for the center's lunch closure: back at its end at the earliest.
                start, end = (self._today_at(now, t) for t in self.config.lunch)
                if start - 15 * 60 <= state.since < end:
                    rest = max(rest, end - now)
            return now + rest, (0.5 * rest) ** 2
        tid = state.ticket_id
        t = self.src.tickets.get(tid) if tid is not None else None
        if t is None:
            return now + min(REACT_SECONDS, gap), 0.0
        mu, v = self.service_log(t.department, t.procedure)
        if t.status == SERVING and t.started_at is not None:
            rest = lognormal_residual(mu, v, now - t.started_at)
            return now + rest + gap, rest * rest * (math.exp(v) - 1)
        # Called, not started: still walking up, or a no-show in the making.
        mean = math.exp(mu + v / 2)
        elapsed = now - (t.called_at or now)
        walk = self.state["walk"][0]
        p, ns_s, _ = self.state["ns"]
        if elapsed > 2 * walk + 30:
            p = max(p, 0.5)  # long uncollected: more likely gone
        rest = (1 - p) * (max(walk - elapsed, 0.0) + mean) + p * max(ns_s - elapsed, 10.0)
        return now + rest + gap, (1 - p) * mean * mean * (math.exp(v) - 1)

    # --- estimates --------------------------------------------------------

    def estimate(self, department: str, now: float, ticket: Any = None,
                 remember: bool = False) -> Estimate:
        """The wait of ``ticket`` (waiting in ``department``), or of a normal
        ticket issued there now. ``remember`` keeps it to calibrate against
        the real wait when the ticket is called.

        One look-ahead per group of departments and state of the core
        answers every ticket and every department view of the group; the
        core's changes (commands, queue moves, what the estimator learns,
        a new configuration) make it stale."""
        self._sync_config()
        dept = self.config.department(department)
        if dept is None:
            return Estimate(None, unknown=DEPARTMENT_CLOSED)
        if not dept.open and ticket is None:
            return Estimate(None, unknown=DEPARTMENT_CLOSED)
        if not self.cached:
            return self._estimate_uncached(department, now, ticket, remember)
        raw = self._answer(self._group_run(department, now), department, ticket)
        if raw is None:
            return Estimate(None, unknown=NO_OPEN_COUNTER)
        seconds, var, served = raw
        if remember and ticket is not None:
            key = (ticket.id, ticket.transfers)
            if key not in self._memo:
                self._memo[key] = (seconds, math.sqrt(var + MIN_SPREAD ** 2), now,
                                   self.regime(served))
        return self._calibrated(seconds, var, served)

    def _estimate_uncached(self, department: str, now: float, ticket: Any,
                           remember: bool) -> Estimate:
        """The estimate as made before the cache: a look-ahead through the
        whole queue for each ticket, department views reused while nothing
        changes (the baseline of ``bench/bench_estimate.py``)."""
        if ticket is None:
            cached = self._views.get(department)
            if cached is not None and cached[0] == self._commands and abs(cached[1] - now) < VIEW_SECONDS:
                return cached[2]
        # One look-ahead answers both the ticket and a ticket issued now
        # behind it (the department view the server sends next).
        raw = self.lookahead(department, now, ticket, also_new=ticket is not None)
        if raw is None:
            est = Estimate(None, unknown=NO_OPEN_COUNTER)
            self._views[department] = (self._commands, now, est)
            return est
        if ticket is not None and raw[1] is not None:
            self._views[department] = (self._commands, now, self._calibrated(*raw[1]))
        seconds, var, served = raw[0] if ticket is not None else raw[1]
        if ticket is None:
            est = self._calibrated(seconds, var, served)
            self._views[department] = (self._commands, now, est)
            return est
        spread = math.sqrt(var + MIN_SPREAD ** 2)
        regime = self.regime(served)
        if remember and ticket is not None:
            key = (ticket.id, ticket.transfers)
            if key not in self._memo:
                self._memo[key] = (seconds, spread, now, regime)
        return self._calibrated(seconds, var, served)

    def _calibrated(self, seconds: float, var: float, served: int) -> Estimate:
        """The printed figure and range from a look-ahead, by the calibration."""
        spread = math.sqrt(var + MIN_SPREAD ** 2)
        lo_z, mid_z, hi_z = self.state["cal"][self.regime(served)]
        point = max(0.0, seconds + mid_z * spread) / 60
        low = max(0.0, seconds + lo_z * spread) / 60
        high = max(0.0, seconds + hi_z * spread) / 60
        minutes = round(point)
        lo, hi = min(math.floor(low), minutes), max(math.ceil(high), minutes)
        return Estimate(minutes, lo, max(hi, lo), None, seconds, spread)

    # --- the cached look-ahead: one per group and state ---------------------

    def _group_run(self, department: str, now: float) -> _Run:
        """The look-ahead of ``department``'s group for the core's state now:
        the cached one while nothing has changed (and, asked again later,
        for up to VIEW_SECONDS), else a new one."""
        depts, numbers = self._groups[department]
        run = self._runs.get(depts)
        if run is None or run.version != self._version or not (
                run.now == now or abs(run.now - now) < VIEW_SECONDS):
            run = self._runs[depts] = self._look_ahead(depts, numbers, now)
        return run

    def _answer(self, run: _Run, department: str, ticket: Any) -> tuple[float, float, int] | None:
        """(seconds, variance, called first) for ``ticket`` or for a ticket
        issued now in ``department``; None when no counter serves it. The
        look-ahead is played on only as far as the answer needs."""
        serving = run.serving.get(department, 0)
        if not serving:
            return None
        if ticket is None:
            found, key = run.marks, department
        else:
            found, key = run.called, ticket.id
            if key not in found and (ticket.department not in run.queues
                                     or key not in self.src.waiting[ticket.department]):
                return (0.0, 0.0, 0)  # not waiting here (already called)
        raw = found.get(key)
        run.want = key
        while raw is None and run.play is not None:
            try:
                next(run.play)
            except StopIteration:
                run.play = None
            raw = found.get(key)
        if raw is None:
            raw = self._beyond(run, department, ticket)
        return (raw[0], raw[1] / serving, raw[2])

    def _beyond(self, run: _Run, department: str, ticket: Any) -> tuple[float, float, int]:
        """A ticket the look-ahead did not reach: past the horizon, from the
        rate its department was called at before it."""
        if run.tail is None:
            return run.late
        rates, served = run.tail
        code = department if ticket is None else ticket.department
        base, step, var0, dvar = rates[code]
        four = run.queues[code]

        def left(k: int) -> int:  # waiting tickets of queue k not yet called
            q = four[k]
            return len(q[5]) - min(q[1], q[6])

        if ticket is None:
            ahead = sum(left(k) for k in range(4))
        else:
            k = self._kind(ticket)
            q = four[k]
            ahead = bisect.bisect_left(q[5], (ticket.queued_at, ticket.id)) - min(q[1], q[6])
            if k & 1:  # normal band: the front of its kind goes first
                ahead += left(k - 1)
            if k < 2:  # priority tickets overtake a normal one
                ahead += left(2) + left(3)
            else:  # a normal one now and then between priority tickets
                ahead += min(left(0) + left(1), ahead // run.max_prio)
        n = ahead + 1
        return (base + n * step - run.now, var0 + n * dvar, served + ahead)

    def _look_ahead(self, depts: tuple[str, ...], numbers: tuple[int, ...], now: float) -> _Run:
        """A look-ahead of the group from the core's state now, ready to be
        played (:meth:`_play`): the counters, the queues, the overtakers to
        come, and a copy of what it reads of the learned state."""
        counters = []
        serving = dict.fromkeys(depts, 0)
        for n in numbers:
            state = self.src.counters[n]
            if state.status not in (OPEN, PAUSED):
                continue
            cfg = self.config.counter(n)
            serves = cfg.departments if cfg else ()
            for code in serves:
                if code in serving:
                    serving[code] += 1
            free, var = self._counter_rest(state, now)
            rested = free + RESTED_SECONDS if state.status == PAUSED else self._rested_until(n)
            counters.append([free, var, state.priority_streak, serves, rested])
        run = _Run(self._version, now, serving)
        run.max_prio = max(1, self._rules.max_priority_in_row)
        if not any(serving.values()):
            return run
        st = self._frozen()
        occ_none = {code: self._occupancy(code, None, st) for code in depts}
        # Each department's four queues (as in :meth:`lookahead`), taken from
        # the sorted lists CHUNK tickets at a time as the calls get there:
        # [entries, position, band, priority?, overdue seconds, sorted keys,
        #  keys taken, entries that follow the keys (the marker, overtakers),
        #  department].
        for code in depts:
            ov_s = self._overdue[code]
            four = [[[], 0, FRONT_BAND, False, ov_s, keys, 0, [], code]
                    for keys in self._sorted(code)]
            four[1][2] = four[3][2] = NORMAL_BAND
            four[2][3] = four[3][3] = True
            if serving[code]:
                # The marker: a normal ticket issued now, behind everyone.
                occ, var = occ_none[code]
                four[1][7].append((now, 1e15, occ, var, 1.0, 3, 0.0, (1, NORMAL_BAND, now, 1e15)))
            run.queues[code] = four
        # Overtakers to come: fractional tickets at the learned rates.
        streams = self._streams(depts, now, run.queues, occ_none.__getitem__)
        # All it reads of the learned state is fixed now: the copy ``st``, and
        # the hazards and availabilities (rebuilt as new lists when learned).
        hz = self._hazards()
        offset = self._local(now).utcoffset()
        run.play = self._play(run, counters, streams, st, hz, self._cum_hazard,
                              self._availability(), offset.total_seconds() if offset else 0.0,
                              occ_none)
        return run

    def _play(self, run: _Run, counters: list, streams: list, st: Any, hz: list[float],
              cum: list[float], avail: tuple[list[float], list[float]], off: float,
              occ_none: dict[str, tuple[float, float]]) -> Any:
        """Play the group's next calls forward with the center's call rule,
        exactly as :meth:`lookahead` does, recording when each waiting ticket
        is called and when each department's marker would be; it pauses
        (yields) once it has recorded what :meth:`_answer` waits for
        (``run.want``). A ticket's record is what a look-ahead
        asked about that ticket alone gives: it is taken when picked, and
        markers take no counter time. Stops when everyone is recorded, or at
        the horizon (then :meth:`_beyond` extrapolates)."""
        now = run.now
        queues = run.queues
        depts = tuple(queues)
        serving = run.serving
        tickets = self.src.tickets
        occ_cache = {(code, None): ov for code, ov in occ_none.items()}
        occupancy = self._occupancy
        leaving = any(hz)
        edges = _LEAVE_EDGES_S
        bisect_right = bisect.bisect_right
        exp = math.exp
        needed = 0

        def fill(q: list) -> bool:
            """Entries for the queue to go on with; False when it is empty."""
            keys, j = q[5], q[6]
            if j < len(keys):
                code = q[8]
                entries = q[0]
                band = q[2]
                for qa, tid in keys[j:j + CHUNK]:
                    key = (code, tickets[tid].procedure)
                    ov = occ_cache.get(key)
                    if ov is None:
                        ov = occ_cache[key] = occupancy(code, key[1], st)
                    c0 = 0.0
                    if leaving:
                        w0 = now - qa
                        i = bisect_right(edges, w0) - 1
                        c0 = cum[i] + hz[i] * (w0 - edges[i])
                    entries.append((qa, tid, ov[0], ov[1], 1.0, 0, c0, (1, band, qa, tid)))
                q[6] = min(j + CHUNK, len(keys))
                return True
            if q[7]:
                q[0].extend(q[7])
                q[7].clear()
                return True
            return False

        live: dict[str, list[list]] = {}
        for code in depts:
            four = queues[code]
            if serving[code]:
                needed += 1 + sum(len(q[5]) for q in four)
            live[code] = [q for q in four if fill(q)]
        next_stream = min((s[0] for s in streams), default=math.inf)
        vid = 2e15
        advance = self._advance
        heappush, heappop = heapq.heappush, heapq.heappop
        policy_pref = self._rules.call_policy == "preference"
        max_prio = self._rules.max_priority_in_row
        react = st["gap"][0]
        served = 0
        called = run.called
        marks = run.marks
        # Per department: calls of its waiting tickets, and the last one's time.
        calls = dict.fromkeys(depts, 0)
        last = dict.fromkeys(depts, now)
        horizon = HORIZON + HORIZON_PER_COUNTER * len(counters)
        heap = [(c[0], i) for i, c in enumerate(counters)]
        heapq.heapify(heap)
        live_get = live.get
        due, rested = avail
        mine = [[s for s in streams if s[3] in c[3]] for c in counters]
        t = now
        steps = picks = 0
        while needed and heap and steps < MAX_STEPS and picks < horizon:
            steps += 1
            t, i = heappop(heap)
            if t >= next_stream:
                # Each due stream in turn feeds all it has due (as
                # :meth:`lookahead` does: the same ids in the same order).
                for s in streams:
                    if s[0] > t:
                        continue
                    q = s[4]
                    behind = q[6] < len(q[5]) or q[7]
                    while s[0] <= t:
                        vid += 1
                        entry = (s[0], vid, s[5], s[6], s[2], 1, 0.0, (1, q[2], s[0], vid))
                        if behind:
                            q[7].append(entry)  # behind the waiting tickets
                        else:
                            q[0].append(entry)
                            if q[1] == len(q[0]) - 1:  # it had run dry
                                live[s[3]].append(q)
                        s[0] += s[1]
                next_stream = min([s[0] for s in streams])
            c = counters[i]
            serves = c[3]
            if policy_pref:
                serves = next(((d,) for d in serves if live.get(d)), ())
            best_n = best_p = None
            for code in serves:
                for q in live_get(code, ()):
                    e = q[0][q[1]]
                    ov_s = q[4]
                    if ov_s is not None and e[0] + ov_s <= t:
                        r = (0, e[0] + ov_s, e[1])
                    else:
                        r = e[7]  # (1, band, queued_at, id), made once
                    if q[3]:
                        if best_p is None or r < best_p[0]:
                            best_p = (r, code, q, e)
                    elif best_n is None or r < best_n[0]:
                        best_n = (r, code, q, e)
            streak = c[2]
            if best_p is not None and (best_n is None or streak < max_prio):
                chosen = best_p
                c[2] += 1
            else:
                chosen = best_n
                if chosen is not None:
                    c[2] = 0
            if chosen is None:
                # Nothing for this counter now: it waits for the next overtaker.
                if mine[i]:
                    heappush(heap, (min(s[0] for s in mine[i]) + react, i))
                continue
            _, code, q, e = chosen
            picks += 1
            q[1] += 1
            if q[1] >= len(q[0]):
                if q[6] < len(q[5]) or q[7]:
                    fill(q)
                else:
                    live[code].remove(q)
            kind = e[5]
            if kind == 3:
                # A ticket issued now would be called here. It takes no
                # counter time (nobody is behind it): the counter picks again
                # as if it had not been there.
                marks[code] = (t - now, c[1], served)
                needed -= 1
                c[2] = streak
                heappush(heap, (t, i))
                if code == run.want:
                    yield
                continue
            w = e[4]
            if kind == 0:
                called[e[1]] = (t - now, c[1], served)
                needed -= 1
                served += 1
                calls[code] += 1
                last[code] = t
                if leaving and t > now:
                    # A citizen waiting now may have given up by the time called.
                    waited = t - e[0]
                    j = bisect_right(edges, waited) - 1
                    w = exp(e[6] - (cum[j] + hz[j] * (waited - edges[j])))
            work = e[2] * w
            c[1] += e[3] * w + w * (1 - w) * e[2] * e[2]
            # :meth:`_advance`, its first quarter hour inline (most often all).
            local = (t + off) % 86400
            room = SLOT - local % SLOT
            if t < c[4]:
                a = rested[int(local // SLOT)]
                room = min(room, c[4] - t)
            else:
                a = due[int(local // SLOT)]
            if a * room >= work:
                heappush(heap, (t + work / a, i))
            else:
                heappush(heap, (advance(t, work, avail, off, c[4]), i))
            if kind == 0 and e[1] == run.want:
                yield
        if not needed:
            return
        if heap and picks >= horizon:
            self.horizon_hits += 1
            rates = {}
            for code in depts:
                n_serving = max(1, serving[code])
                occ, var = occ_none[code]
                on = [c[1] for c in counters if code in c[3]] or [0.0]
                step = occ / n_serving
                if calls[code]:
                    step = max(step, (t - now) / calls[code])
                base = last[code] if calls[code] else t
                rates[code] = (base, step, sum(on) / len(on), var / n_serving)
            run.tail = (rates, served)
        else:
            run.late = (max(0.0, (heap[0][0] if heap else now) - now), 0.0, served)

    def lookahead(self, department: str, now: float, ticket: Any = None,
                  also_new: bool = False) -> tuple[Any, Any] | None:
        """For ``ticket`` and/or a normal ticket issued now (``ticket`` None,
        or ``also_new``): seconds until called, the variance, and how many
        waiting citizens are called first — a pair (ticket's, new one's),
        None where not asked. None when no counter serving the department
        is staffed."""
        depts, numbers = self._groups[department]
        counters = []
        serving_target = 0
        for n in numbers:
            state = self.src.counters[n]
            if state.status not in (OPEN, PAUSED):
                continue
            cfg = self.config.counter(n)
            serves = cfg.departments if cfg else ()
            if department in serves:
                serving_target += 1
            free, var = self._counter_rest(state, now)
            rested = free + RESTED_SECONDS if state.status == PAUSED else self._rested_until(n)
            counters.append([free, var, state.priority_streak, serves, rested])
        if not serving_target:
            return None

        # Each department's waiting tickets, in four queues sorted by queue
        # time — normal front, normal, priority front, priority — as
        # [entries, position, band, priority?, overdue seconds]. Within a
        # queue the rank only grows, so each queue's head is its best.
        occ_cache: dict[tuple[str, str | None], tuple[float, float]] = {}
        queues: dict[str, list[list]] = {}
        live: dict[str, list[list]] = {}
        found = ticket is None
        for code in depts:
            ov_s = self._overdue[code]
            four = [[[], 0, FRONT_BAND, False, ov_s], [[], 0, NORMAL_BAND, False, ov_s],
                    [[], 0, FRONT_BAND, True, ov_s], [[], 0, NORMAL_BAND, True, ov_s]]
            for t in self.src.waiting[code].values():
                key = (code, t.procedure)
                ov = occ_cache.get(key)
                if ov is None:
                    ov = occ_cache[key] = self._occupancy(code, t.procedure)
                kind = 0
                if ticket is not None and t.id == ticket.id:
                    kind, found = 2, True
                four[(2 if t.priority else 0) + (t.band != FRONT_BAND)][0].append(
                    (t.queued_at, t.id, ov[0], ov[1], 1.0, kind))
            if (ticket is None or also_new) and code == department:
                occ, var = self._occupancy(department, None)
                four[1][0].append((now, 1e15, occ, var, 1.0, 3))
            for q in four:
                q[0].sort()
            queues[code] = four
            live[code] = [q for q in four if q[0]]
        if not found:
            return (0.0, 0.0, 0), None  # not waiting (already called)
        results: list[Any] = [None if ticket is not None else False,
                              None if ticket is None or also_new else False]

        # Overtakers to come: fractional tickets at the learned rates.
        streams = self._streams(depts, now, queues, lambda code: self._occupancy(code, None))
        vid = 2e15

        avail = self._availability()
        offset = self._local(now).utcoffset()
        off = offset.total_seconds() if offset else 0.0
        rules = self._rules
        policy_pref = rules.call_policy == "preference"
        max_prio = rules.max_priority_in_row
        leaving = any(self._hazards())
        react = self.state["gap"][0]
        served = 0
        heap = [(c[0], i) for i, c in enumerate(counters)]
        heapq.heapify(heap)
        for _ in range(MAX_STEPS):
            if not heap:
                break
            t, i = heapq.heappop(heap)
            for s in streams:
                while s[0] <= t:
                    vid += 1
                    q = s[4]
                    q[0].append((s[0], vid, s[5], s[6], s[2], 1))
                    if q[1] == len(q[0]) - 1:  # it had run dry
                        live[s[3]].append(q)
                    s[0] += s[1]
            c = counters[i]
            serves = c[3]
            if policy_pref:
                serves = next(((d,) for d in serves if live.get(d)), ())
            best_n = best_p = None
            for code in serves:
                for q in live.get(code, ()):
                    e = q[0][q[1]]
                    r = rank(q[2], e[0], e[1], q[4], t)
                    if q[3]:
                        if best_p is None or r < best_p[0]:
                            best_p = (r, code, q, e)
                    elif best_n is None or r < best_n[0]:
                        best_n = (r, code, q, e)
            if takes_priority(best_p is not None, best_n is not None, c[2], max_prio):
                chosen = best_p
                c[2] += 1
            else:
                chosen = best_n
                if chosen is not None:
                    c[2] = 0
            if chosen is None:
                # Nothing for this counter now: it waits for the next overtaker.
                nxt = min((s[0] for s in streams if s[3] in c[3]), default=None)
                if nxt is not None:
                    heapq.heappush(heap, (nxt + react, i))
                continue
            _, code, q, e = chosen
            if e[5] >= 2:
                results[e[5] - 2] = (t - now, c[1] / max(1, serving_target), served)
                if all(r is not None for r in results):
                    break
            q[1] += 1
            if q[1] >= len(q[0]):
                live[code].remove(q)
            w = e[4]
            if e[5] in (0, 2):
                served += 1
                if leaving and e[5] == 0:
                    # A citizen waiting now may have given up by the time called.
                    w = self.stays(now - e[0], t - e[0])
            work = e[2] * w
            c[1] += e[3] * w + w * (1 - w) * e[2] * e[2]
            heapq.heappush(heap, (self._advance(t, work, avail, off, c[4]), i))
        late = (max(0.0, (heap[0][0] if heap else now) - now), 0.0, served)
        # (None: ran out of steps in a huge queue; False: not asked.)
        return tuple(None if r is False else (late if r is None else r) for r in results)
