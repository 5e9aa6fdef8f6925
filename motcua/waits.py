"""How every client words a wait estimate (the server's ``wait_minutes``,
``wait_range`` and ``wait_unknown``; see docs/protocol.md).

Each app has its own catalogue; this only picks which of its lines to use,
so the kiosk screen, the printed ticket and the counter console agree.
"""

from __future__ import annotations

from typing import Any


def wait_range_of(view: dict[str, Any]) -> tuple[int, int] | None:
    """The ``wait_range`` of a reply, event or department view, if the server
    sent a well-formed one (an older server sends none)."""
    rng = view.get("wait_range")
    if isinstance(rng, (list, tuple)) and len(rng) == 2:
        try:
            return int(rng[0]), int(rng[1])
        except (TypeError, ValueError):
            return None
    return None


def wait_phrase(minutes: int | None, wait_range: tuple[int, int] | None = None,
                unknown: str | None = None) -> tuple[str, dict[str, Any]] | None:
    """Which catalogue line tells the wait, and its fields; None when there
    is nothing to say:

    * ``wait_unknown`` — not known, ``why`` is the server's reason code;
    * ``wait_under`` — under a minute;
    * ``wait_upto`` — from now up to ``hi`` minutes;
    * ``wait_range`` — between ``lo`` and ``hi`` minutes;
    * ``wait`` — about ``n`` minutes (a one-figure range, or an older server).
    """
    if unknown:
        return "wait_unknown", {"why": unknown}
    if wait_range is not None:
        lo, hi = wait_range
        if hi < 1:
            return "wait_under", {}
        if lo < 1:
            return "wait_upto", {"hi": hi}
        if lo >= hi:
            return "wait", {"n": hi}
        return "wait_range", {"lo": lo, "hi": hi}
    if minutes is None:
        return None
    return ("wait", {"n": minutes}) if minutes >= 1 else ("wait_under", {})


def wait_phrase_of(view: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """:func:`wait_phrase` of a reply, event or department view."""
    return wait_phrase(view.get("wait_minutes"), wait_range_of(view),
                       view.get("wait_unknown") or None)
