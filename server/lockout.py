"""PIN guessing limits: pure and clock-injected, like the queue core.

A 4-digit PIN has 10,000 values; unthrottled, a script tries them all in
minutes. Failures are counted under three keys, and each key locks with a
back-off that doubles on every further lock:

* ``(officer, source)`` — one machine guessing one officer's PIN: locked
  after 5 wrong PINs, first for 1 minute. This is what a fumbling officer
  meets, so it is short.
* ``source`` — one machine guessing many officers' PINs (or IDs): locked
  after 20 wrong PINs, first for 5 minutes.
* ``officer`` — many machines guessing one officer: after 20 wrong PINs from
  anywhere the officer is locked, first for 5 minutes, **except** from the
  source where that officer last logged in successfully. That exemption is
  what keeps the lock-out from being a weapon: an attacker elsewhere on the
  network can make an officer's ID unusable from *other* machines, but not
  from the officer's own counter, so nobody can lock every officer out of
  their consoles; and the attacker's own machine is stopped by the first
  two keys whatever the officer does.

A *source* is the peer address of the connection, not the device name a
client claims (device names are free text until devices are enrolled), so
renaming the device buys no fresh guesses. A correct PIN clears the
``(officer, source)`` count and the officer's count, but not the source's
(so a guesser cannot reset its budget by logging in as itself in between).
Counts fade: a key untouched for its window forgets its failures.

With these figures one source gets at most ~5 guesses a minute at one officer
at first and fewer and fewer after (the locks double up to an hour): the
10,000 PINs of one officer take days, and every lock is in the event log and
on the monitor long before that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable

#: (failures before a lock, first lock in seconds, longest lock, window) per key kind.
LIMITS: dict[str, tuple[int, float, float, float]] = {
    "pair": (5, 60.0, 3600.0, 3600.0),
    "source": (20, 300.0, 3600.0, 3600.0),
    "officer": (20, 300.0, 3600.0, 3600.0),
}
#: Remembered keys, at most: a flood of made-up officer IDs can't grow memory.
MAX_KEYS = 10_000


@dataclass
class _Count:
    failures: int = 0
    locks: int = 0
    until: float = 0.0
    last: float = 0.0


@dataclass(frozen=True)
class Locked:
    """A refusal: which key is locked and for how long."""

    kind: str
    retry_after: int


@dataclass(frozen=True)
class NewLock:
    """A lock that a failure just started (worth an event and an alert)."""

    kind: str
    officer: str | None
    source: str | None
    seconds: int
    failures: int


class LoginLimiter:
    """Counts wrong PINs and says when a login attempt must be refused."""

    def __init__(self) -> None:
        self._counts: dict[Hashable, _Count] = {}
        self._home: dict[str, str] = {}  # officer -> source of their last good login

    def _keys(self, officer: str, source: str) -> list[tuple[str, Hashable]]:
        return [("pair", ("pair", officer, source)), ("source", ("source", source)),
                ("officer", ("officer", officer))]

    def _get(self, kind: str, key: Hashable, now: float) -> _Count:
        c = self._counts.get(key)
        window = LIMITS[kind][3]
        if c is not None and now - c.last > window and now >= c.until:
            c.failures = 0  # faded
            if now - c.last > 4 * window:
                c.locks = 0
        if c is None:
            if len(self._counts) >= MAX_KEYS:
                self._evict(now)
            c = self._counts[key] = _Count(last=now)
        return c

    def _evict(self, now: float) -> None:
        # Drop unlocked keys, oldest first; locked ones keep protecting.
        free = sorted((c.last, k) for k, c in self._counts.items() if c.until <= now)
        for _, k in free[: max(1, len(free) // 2)]:
            del self._counts[k]

    def check(self, officer: str, source: str, now: float) -> Locked | None:
        """Whether a login of ``officer`` from ``source`` may be tried now."""
        for kind, key in self._keys(officer, source):
            c = self._counts.get(key)
            if c is None or c.until <= now:
                continue
            if kind == "officer" and self._home.get(officer) == source:
                continue  # the officer's own counter is never locked by others
            return Locked(kind, max(1, int(c.until - now + 0.999)))
        return None

    def failure(self, officer: str, source: str, now: float) -> list[NewLock]:
        """Count a wrong PIN; return the locks it started."""
        started = []
        for kind, key in self._keys(officer, source):
            threshold, first, longest, _ = LIMITS[kind]
            c = self._get(kind, key, now)
            c.failures += 1
            c.last = now
            if c.failures >= threshold and c.until <= now:
                seconds = min(longest, first * 2 ** c.locks)
                c.locks += 1
                c.until = now + seconds
                failures, c.failures = c.failures, 0
                started.append(NewLock(kind, officer if kind != "source" else None,
                                       source if kind != "officer" else None,
                                       int(seconds), failures))
        return started

    def success(self, officer: str, source: str, now: float) -> None:
        """A correct PIN: the officer's counts clear and ``source`` is home."""
        self._counts.pop(("pair", officer, source), None)
        self._counts.pop(("officer", officer), None)
        self._home[officer] = source
        if len(self._home) > MAX_KEYS:
            self._home.pop(next(iter(self._home)))
