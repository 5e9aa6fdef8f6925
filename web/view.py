"""What a citizen may see of the queue: one ticket's view. Pure: reads the
queue core's state, changes nothing, does no I/O.

The view holds the citizen's own ticket (number, department, status, people
ahead, the estimate, the counter calling it) and the counters now serving its
department with the number each is on — what the waiting room's TV shows
anyway. No officer names, no ids, nothing about who holds any other number.
"""

from __future__ import annotations

from typing import Any

from motcua.server.core import OPEN, QueueCore, Ticket


def queue_position(core: QueueCore, t: Ticket) -> dict[str, Any]:
    """People ahead and the wait estimate, exactly as the ``issue`` reply
    gives them. The one place that asks the core: when the estimate becomes
    a range (``wait_range``), it passes through from here unchanged."""
    return dict(core._ahead_and_wait(t))  # noqa: SLF001 - the core's own figure


def citizen_view(core: QueueCore, t: Ticket) -> dict[str, Any]:
    """One ticket as its citizen sees it (the page, the live channel)."""
    cfg = core.config
    dept = cfg.department(t.department)
    serving = []
    for c in cfg.counters:
        state = core.counters.get(c.number)
        if state is None or state.status != OPEN or t.department not in c.departments:
            continue
        on = core.tickets.get(state.ticket_id) if state.ticket_id else None
        serving.append({"counter": c.number, "number": on.number if on else None})
    view: dict[str, Any] = {
        "number": t.number, "day": t.day, "status": t.status,
        "department": t.department,
        "department_vi": dept.vi if dept else t.department,
        "department_en": dept.en if dept else t.department,
        "counter": t.counter if t.status in ("called", "serving") else None,
        "recalls": t.recalls,
        "serving": serving,
    }
    view.update(queue_position(core, t))
    return view
