"""The citizen's ticket page, rendered from a ticket's view. Pure: data in,
HTML out, no I/O.

Server-rendered first: with scripts off the page still shows the number,
the department, people ahead and the estimate (and refreshes itself every
30 s). The inline script then keeps it live over a websocket. Everything is
inline — no fonts, no CDN, one request — so the first view stays a few KB on
a 3G phone at a center with no internet.
"""

from __future__ import annotations

import json
from html import escape
from importlib import resources
from typing import Any

from motcua.i18n import Catalogue

from .strings import EN, VI

_CSS = resources.files("motcua.web").joinpath("ticket.css").read_text("utf-8")
_JS = resources.files("motcua.web").joinpath("ticket.js").read_text("utf-8")

FINAL = ("done", "no_show", "cancelled", "expired")


def catalogue(lang: str) -> Catalogue:
    """The page's strings in ``lang`` (Vietnamese unless "en")."""
    return Catalogue(VI, EN, "en" if lang == "en" else "vi")


def wait_text(view: dict[str, Any], t: Catalogue) -> str:
    """The estimate in words: a range when the view has one, else minutes."""
    unknown = view.get("wait_unknown")
    if unknown and "js_wait_" + unknown in VI:
        return t("js_wait_" + unknown)
    rng = view.get("wait_range")
    if rng:
        return t("js_wait_range", lo=rng[0], hi=rng[1])
    minutes = view.get("wait_minutes") or 0
    return t("js_wait", n=minutes) if minutes >= 1 else t("js_wait_soon")


def state_text(view: dict[str, Any], t: Catalogue) -> str:
    """The ticket's state in one line (the script computes the same)."""
    status = view["status"]
    if status == "waiting":
        return t("js_ahead", n=view["ahead"]) if view["ahead"] > 0 else t("js_ahead_0")
    if status == "called":
        return t("js_called", counter=view["counter"])
    if status == "serving":
        return t("js_serving", counter=view["counter"])
    return t("js_" + status) if "js_" + status in VI else status


def _json_for_script(data: Any) -> str:
    # Inside <script type="application/json">: "</" must not close the element.
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")


def render_ticket_page(view: dict[str, Any], *, secret: str, lang: str, center: str,
                       nonce: str, notify_ahead: int | None) -> str:
    """The whole page for one ticket. ``notify_ahead`` is the "come back"
    threshold when the center sends messages, else None (no form)."""
    t = catalogue(lang)
    e = escape
    status = view["status"]
    called = status == "called"
    final = status in FINAL
    dept = view["department_en"] if t.language == "en" else view["department_vi"]
    other = "vi" if t.language == "en" else "en"
    rows = "".join(
        f"<li>{e(t('js_serving_row', **s) if s['number'] else t('js_serving_idle', **s))}</li>"
        for s in view["serving"]) or f"<li>{e(t('js_serving_none'))}</li>"
    notify = ""
    if notify_ahead is not None:
        notify = (
            f'<section class="card" id="notify"><h2>{e(t("js_notify_title"))}</h2>'
            f'<form id="notify-form"><p>{e(t("js_notify_hint", n=notify_ahead))}</p>'
            f'<input id="phone" type="tel" inputmode="tel" autocomplete="tel" maxlength="20" '
            f'placeholder="{e(t("js_phone"))}" aria-label="{e(t("js_phone"))}" required>'
            f'<button type="submit">{e(t("js_notify_send"))}</button></form>'
            f'<div id="notify-on" hidden><p class="msg" id="notify-msg"></p>'
            f'<button type="button" class="quiet" id="notify-off">{e(t("js_notify_off"))}</button>'
            f'</div></section>')
    data = {"secret": secret, "lang": t.language, "view": view,
            "t": {k: v for k, v in (EN if t.language == "en" else VI).items()
                  if k.startswith("js_") or k == "title"}}
    title = t("js_called", counter=view["counter"]) if called else t("title", number=view["number"])
    return (
        f'<!doctype html><html lang="{t.language}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<meta name="referrer" content="no-referrer">'
        f'<title>{e(title)}</title><link rel="icon" href="data:,">'
        f'<noscript><meta http-equiv="refresh" content="30"></noscript>'
        f'<style>{_CSS}</style></head><body>'
        f'<header><span>{e(center)}</span>'
        f'<a id="lang" href="?lang={other}" hreflang="{other}">{e(t("other_lang"))}</a></header>'
        f'<main id="main" class="{"final" if final else ""}">'
        f'<section id="call" class="call"{"" if called else " hidden"}>'
        f'<b id="call-big">{e(t("js_called", counter=view["counter"]) if called else "")}</b>'
        f'<span id="call-sub">'
        f'{e(t("js_called_sub", number=view["number"], counter=view["counter"]) if called else "")}'
        f'</span></section>'
        f'<section class="card"><div class="label">{e(t("your_number"))}</div>'
        f'<div id="num" class="num">{e(view["number"])}</div>'
        f'<div id="dept" class="dept">{e(dept)}</div>'
        f'<div id="state" class="state">{e(state_text(view, t))}</div>'
        f'<div id="wait" class="wait">{e(wait_text(view, t)) if status == "waiting" else ""}</div>'
        f'</section>'
        f'<section class="card" id="serving-box"{" hidden" if final or status == "serving" else ""}>'
        f'<h2>{e(t("js_serving_title"))}</h2><ul id="serving">{rows}</ul></section>'
        f'<p id="conn" class="conn"><noscript>{e(t("noscript"))}</noscript></p>'
        f'<div id="actions" hidden>'
        f'<button type="button" class="quiet" id="sound">{e(t("js_sound_on"))}</button>'
        f'{notify}<p class="err" id="err"></p>'
        f'<button type="button" class="danger" id="leave">{e(t("js_leave"))}</button></div>'
        f'</main>'
        f'<script type="application/json" id="d">{_json_for_script(data)}</script>'
        f'<script nonce="{e(nonce)}">{_JS}</script></body></html>'
    )


def render_not_found() -> str:
    """The plain 404 body: the same for a wrong, an expired or a malformed secret."""
    return "not found\n"
