"""Telling citizens when to come back: who is due which message, its text,
and the gateway request that carries it. Pure: no I/O (web.live sends).

A ticket gets at most two messages, ever: ``near`` (when ``ahead`` or fewer
people are in front) and ``called``. Changing the phone number does not send
them again, so a page cannot be used to flood somebody's phone.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import quote, quote_plus

from motcua.i18n import Catalogue, unaccent
from motcua.phone import normalize_phone as _normalize

from .settings import NotifySettings
from .strings import EN, VI

KINDS = ("near", "called")
PENDING, SENT, FAILED, SKIPPED = "pending", "sent", "failed", "skipped"
#: How often one ticket's phone number may be set (typos happen; floods don't).
MAX_PHONE_CHANGES = 3

def normalize_phone(raw: str) -> str:
    """A Vietnamese mobile number as ``0xxxxxxxxx``; ValueError if it is not one.
    Accepts spaces, dots, dashes and the +84 / 84 prefixes. The rule is
    :func:`motcua.phone.normalize_phone`, the one the kiosk's keypad checks."""
    return _normalize(raw)


def phone_intl(phone: str) -> str:
    """``0912345678`` → ``84912345678`` (the form Zalo's API and many SMS
    gateways want)."""
    return "84" + phone[1:]


@dataclass
class Alert:
    """One ticket's request to be told; kept for its day only."""

    ticket_id: int
    day: str
    phone: str
    lang: str = "vi"
    near: str | None = None     # None: not yet due; else pending | sent | failed | skipped
    called: str | None = None
    changes: int = 1
    attempts: int = 0

    def public(self, threshold: int) -> dict[str, Any]:
        """What the page may show: never the phone number."""
        return {"ahead": threshold, "near": self.near, "called": self.called}


def due(alert: Alert, view: dict[str, Any], threshold: int) -> list[str]:
    """The messages that become due for ``alert`` now that its ticket looks
    like ``view``; marks them pending (a called ticket skips ``near``)."""
    out = []
    status = view.get("status")
    if status in ("called", "serving") and alert.called is None:
        if alert.near is None:
            alert.near = SKIPPED  # no use saying "come back soon" after the call
        if status == "called":
            alert.called = PENDING
            out.append("called")
        else:
            alert.called = SKIPPED
    elif status == "waiting" and alert.near is None and view.get("ahead", 99) <= threshold:
        alert.near = PENDING
        out.append("near")
    elif status in ("done", "no_show", "cancelled", "expired"):
        alert.near = alert.near or SKIPPED
        alert.called = alert.called or SKIPPED
    return out


def message_text(kind: str, view: dict[str, Any], lang: str, center: str) -> str:
    """The message's words in the citizen's language."""
    t = Catalogue(VI, EN, lang if lang in ("vi", "en") else "vi")
    return t("msg_" + kind, center=center, number=view["number"], ahead=view.get("ahead", 0),
             counter=view.get("counter") or "")


@dataclass(frozen=True)
class GatewayRequest:
    method: str
    url: str
    body: bytes | None
    headers: dict[str, str]


_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def _fill(template: str, values: dict[str, str], escape: Callable[[str], str]) -> str:
    return _PLACEHOLDER.sub(
        lambda m: escape(values[m.group(1)]) if m.group(1) in values else m.group(0), template)


def _body_escape(content_type: str) -> Callable[[str], str]:
    if "json" in content_type:
        return lambda v: json.dumps(v, ensure_ascii=False)[1:-1]
    if "x-www-form-urlencoded" in content_type:
        return quote_plus
    return lambda v: v


def gateway_request(settings: NotifySettings, *, phone: str, text: str, number: str,
                    counter: Any, ahead: Any, kind: str, center: str) -> GatewayRequest:
    """The HTTP request for one message: placeholders in the URL are
    URL-encoded, in a JSON body JSON-escaped, in a form body form-encoded."""
    values = {"phone": phone, "phone_intl": phone_intl(phone), "text": text,
              "text_ascii": unaccent(text), "number": number,
              "counter": "" if counter is None else str(counter),
              "ahead": "" if ahead is None else str(ahead), "kind": kind, "center": center}
    url = _fill(settings.url, values, lambda v: quote(v, safe=""))
    headers = {k: _fill(v, values, lambda s: s.replace("\r", " ").replace("\n", " "))
               for k, v in settings.headers.items()}
    body = None
    if settings.method != "GET" and settings.body:
        body = _fill(settings.body, values, _body_escape(settings.content_type)).encode("utf-8")
        headers.setdefault("Content-Type", settings.content_type)
    return GatewayRequest(settings.method, url, body, headers)


def redact(text: str, phone: str) -> str:
    """An error text with the phone number taken out (it must never reach a log)."""
    for form in (phone, phone_intl(phone), phone[1:]):
        text = text.replace(form, "•••")
    return text
