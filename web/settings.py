"""The center file's ``[web]`` table: where phones reach the server, and the
message gateway. Pure: validated with the center file's own checker, so
``motcua config check`` names every error by its field path.

```toml
[web]
public_url = "http://192.168.1.10:8765"   # what the ticket's QR opens (+ /ve/<secret>)

[web.notify]                  # leave out: no messages
url = "http://127.0.0.1:9000/send?to={phone}"
method = "POST"               # GET or POST
body = '{"to": "{phone}", "text": "{text}"}'
content_type = "application/json"
headers = { Authorization = "Bearer …" }
ahead = 3                     # "come back": sent when this many people are ahead
retries = 3                   # after the first try
timeout = 10                  # seconds per try
backoff = 5                   # seconds before the first retry, doubling
```
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

#: Placeholders the url, body and header values may use (see web.alerts).
PLACEHOLDERS = ("phone", "phone_intl", "text", "text_ascii", "number", "counter", "ahead",
                "kind", "center")
_PLACEHOLDER_RE = re.compile(r"\{([a-z_]+)\}")


@dataclass(frozen=True)
class NotifySettings:
    """A plain HTTP webhook that fits SMS gateways and Zalo's notification API."""

    url: str
    method: str = "POST"
    body: str = ""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    ahead: int = 3
    retries: int = 3
    timeout: float = 10.0
    backoff: float = 5.0


@dataclass(frozen=True)
class WebSettings:
    """Everything the citizen web needs from the center file."""

    public_url: str | None = None
    notify: NotifySettings | None = None


def _check_placeholders(c: Any, path: str, text: str) -> None:
    for name in _PLACEHOLDER_RE.findall(text):
        if name not in PLACEHOLDERS:
            c.err(path, "unknown_placeholder", name=name,
                  known=", ".join("{" + p + "}" for p in PLACEHOLDERS))


def _check_url(c: Any, path: str, url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        c.err(path, "http_url", url=repr(url))


def parse_web(c: Any, data: dict[str, Any]) -> WebSettings:
    """Read the ``[web]`` table with the config checker ``c`` (errors are
    collected there, by field path)."""
    web = c.get(data, "web", "", dict, required=False, default={}) or {}
    c.unknown(web, {"public_url", "notify"}, "web")
    public_url = c.get(web, "public_url", "web", str, required=False, default=None)
    if public_url is not None:
        _check_url(c, "web.public_url", public_url)
        public_url = public_url.rstrip("/")
    raw = c.get(web, "notify", "web", dict, required=False, default=None)
    notify = None
    if raw is not None:
        p = "web.notify"
        c.unknown(raw, {"url", "method", "body", "content_type", "headers", "ahead", "retries",
                        "timeout", "backoff"}, p)
        url = c.text(raw, "url", p)
        if url:
            _check_url(c, f"{p}.url", url.replace("{", "").replace("}", ""))
            _check_placeholders(c, f"{p}.url", url)
        method = c.text(raw, "method", p, required=False, default="POST").upper()
        if method not in ("GET", "POST", "PUT"):
            c.err(f"{p}.method", "http_method", method=repr(method))
        body = c.text(raw, "body", p, required=False, default="")
        _check_placeholders(c, f"{p}.body", body)
        content_type = c.text(raw, "content_type", p, required=False,
                              default="application/json")
        headers = c.get(raw, "headers", p, dict, required=False, default={}) or {}
        for k, v in headers.items():
            if not isinstance(v, str) or "\n" in v or "\r" in v:
                c.err(f"{p}.headers.{k}", "one_line")
            else:
                _check_placeholders(c, f"{p}.headers.{k}", v)
        ahead = c.get(raw, "ahead", p, int, required=False, default=3)
        if isinstance(ahead, int) and not 0 <= ahead <= 50:
            c.err(f"{p}.ahead", "between", min=0, max=50)
        retries = c.get(raw, "retries", p, int, required=False, default=3)
        if isinstance(retries, int) and not 0 <= retries <= 10:
            c.err(f"{p}.retries", "between", min=0, max=10)
        timeout = c.get(raw, "timeout", p, (int, float), required=False, default=10.0)
        if isinstance(timeout, (int, float)) and not 0 < timeout <= 60:
            c.err(f"{p}.timeout", "timeout_seconds", max=60)
        backoff = c.get(raw, "backoff", p, (int, float), required=False, default=5.0)
        if isinstance(backoff, (int, float)) and not 0 <= backoff <= 600:
            c.err(f"{p}.backoff", "between_seconds", min=0, max=600)
        notify = NotifySettings(url=url, method=method, body=body, content_type=content_type,
                                headers={k: v for k, v in headers.items() if isinstance(v, str)},
                                ahead=ahead if isinstance(ahead, int) else 3,
                                retries=retries if isinstance(retries, int) else 3,
                                timeout=float(timeout), backoff=float(backoff))
    return WebSettings(public_url=public_url, notify=notify)
