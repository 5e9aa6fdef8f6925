"""What the kiosk prints for a confirmed number: one function from the
server's reply to a :class:`motcua.printer.TicketSlip`.

The kiosk app and ``motcua print-preview`` both call :func:`build_slip`, so a
preview shows exactly what a kiosk of that center prints.  No Textual here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from motcua.i18n import Catalogue
from motcua.printer.ticket import TicketSlip

from .model import IssuedTicket, center_tz, counters_for, qr_payload


def _department(center: dict[str, Any], code: str) -> dict[str, Any] | None:
    return next((d for d in center.get("departments", []) if d["code"] == code), None)


def _procedure(center: dict[str, Any], code: str | None) -> dict[str, Any] | None:
    for dept in center.get("departments", []):
        for proc in dept.get("procedures", []):
            if code and proc["code"] == code:
                return proc
    return None


def _priority_group(center: dict[str, Any], code: str | None) -> dict[str, Any] | None:
    return next((g for g in center.get("priority_groups", []) if code and g["code"] == code),
                None)


def ticket_facts(center: dict[str, Any], issued: IssuedTicket, t: Catalogue) -> list[str]:
    """The ticket's information lines, in print order, worded like the ticket screen.

    People ahead, the expected wait (the one place its wording is chosen: a
    wait range slots in here), the counters that serve the department, and
    the time of issue in the center's time zone.
    """
    tk = issued.ticket
    facts = [t("ahead", n=issued.ahead)]
    if tk.get("booked"):  # checked in from a booking: its slot, or that it came too late
        slot = tk.get("slot")
        facts.insert(0, t("slip_booked_late") if slot is None else t(
            "slip_booked", slot=f"{datetime.fromtimestamp(float(slot), center_tz(center)):%H:%M}"))
    phrase = issued.wait_phrase()  # a range, "under N", or why it is unknown
    if phrase is not None:
        key, params = phrase
        if key == "wait_unknown":
            try:
                why = t(f"why_{params['why']}")
            except KeyError:
                why = t("why_other")
            facts.append(t(key, why=why))
        else:
            facts.append(t(key, **params))
    counters = counters_for(center, tk["department"])
    if counters:
        facts.append(t("counters", c=", ".join(t("counter_name", n=n) for n in counters)))
    local = issued.issued_local(center)
    facts.append(t("issued_at", time=f"{local:%H:%M}", date=f"{local:%d/%m/%Y}"))
    return facts


def build_slip(center: dict[str, Any], issued: IssuedTicket, t: Catalogue) -> TicketSlip:
    """The printed ticket for a confirmed number, in ``t``'s current language.

    ``center`` is the public configuration the server sent; ``t`` the
    kiosk's catalogue (kiosk/strings.py).
    """
    tk = issued.ticket
    dept = _department(center, tk["department"])
    proc = _procedure(center, tk.get("procedure"))
    group = _priority_group(center, tk.get("priority"))
    return TicketSlip(
        center=t.pick(center, "name", "name_en") if center else "motcua",
        number=issued.number,
        department=t.pick(dept) if dept else str(tk["department"]),
        procedure=t.pick(proc) if proc else None,
        priority=t("ticket_priority", p=t.pick(group)) if group else None,
        number_label=t("slip_number"),
        facts=tuple(ticket_facts(center, issued, t)),
        qr=qr_payload(tk, issued.link),
        footer=t("slip_footer"),
    )
