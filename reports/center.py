"""A center's configuration rebuilt from what its server tells every client."""

from __future__ import annotations

from typing import Any

from motcua.server.config import ROLES, WEEKDAYS, CenterConfig, parse_config


def config_from_public(center: dict[str, Any]) -> CenterConfig:
    """A :class:`CenterConfig` from the public view the server sends in its
    welcome (no tokens, no PINs: enough to simulate the center's traffic)."""
    rating = center.get("rating", {})
    return parse_config({
        "center": {"name": center["name"], "name_en": center.get("name_en", center["name"]),
                   "timezone": center.get("timezone", "Asia/Ho_Chi_Minh"),
                   "opens": center["opens"], "closes": center["closes"],
                   "last_ticket": center["last_ticket"], "open_days": list(WEEKDAYS)},
        "rating": {"window_seconds": int(rating.get("window_seconds", 300)),
                   "levels": [{k: lv[k] for k in ("value", "vi", "en", "satisfied", "negative")}
                              for lv in rating.get("levels", [])]},
        "priority_groups": [{"code": g["code"], "vi": g["vi"], "en": g.get("en", g["vi"])}
                            for g in center.get("priority_groups", [])],
        "departments": [
            {"code": d["code"], "letter": d["letter"], "vi": d["vi"], "en": d.get("en", d["vi"]),
             "target_wait": d["target_wait"],
             **({"daily_cap": d["daily_cap"]} if d.get("daily_cap") else {}),
             "procedures": [{"code": p["code"], "vi": p["vi"], "en": p.get("en", p["vi"]),
                             "minutes": p["minutes"]} for p in d.get("procedures", [])]}
            for d in center["departments"]],
        "counters": [{"number": c["number"], "name": c["name"], "departments": c["departments"]}
                     for c in center["counters"]],
        "officers": [{"id": o["id"], "name": o["name"], "pin_hash": "pbkdf2_sha256$1$sim$00"}
                     for o in center.get("officers", [])],
        "devices": {role: "not-used" for role in ROLES},
    }, "<server>")
