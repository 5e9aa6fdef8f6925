"""The citizen web without a browser: link secrets, the page, the citizen
channel's least privilege, the HTTP layer's refusals, and the messages sent
through a fake gateway on 127.0.0.1."""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import itertools
import json
import logging
import re
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from conftest import TOKENS, Harness, wait_for
from motcua.client import ServerError
from fake_gateway import FakeGateway
from motcua.server.config import ConfigError, parse_config
from motcua.web import alerts as al
from motcua.web.page import render_ticket_page, wait_text, catalogue
from motcua.web.secret import secret_from_path, ticket_link, ticket_secret, well_formed
from motcua.web.settings import NotifySettings, WebSettings

KEY = "ab" * 32


# --- pure parts -----------------------------------------------------------------

def test_secrets_are_per_ticket_per_day_and_per_center():
    s = ticket_secret(KEY, "2026-12-02", 6, "A006")
    assert well_formed(s) and len(s) == 22 and "A006" not in s
    assert s == ticket_secret(KEY, "2026-12-02", 6, "A006")  # a repeat gets the same link
    others = {ticket_secret(KEY, "2026-12-02", 7, "A007"), ticket_secret(KEY, "2026-12-03", 6, "A006"),
              ticket_secret("cd" * 32, "2026-12-02", 6, "A006")}
    assert s not in others and len(others) == 3
    assert ticket_link("http://10.0.0.5:8765/", s) == f"http://10.0.0.5:8765/ve/{s}"


@pytest.mark.parametrize("path, ok", [
    ("/ve/" + "A" * 22, True), ("/ve/" + "A" * 22 + "?lang=en", True), ("/ve/", False),
    ("/ve/" + "A" * 21, False), ("/ve/" + "A" * 23, False), ("/ve/" + "A" * 21 + "/", False),
    ("/ve/../healthz", False), ("/ve/" + "A" * 21 + "%", False), ("/x/" + "A" * 22, False)])
def test_secret_from_path(path, ok):
    assert (secret_from_path(path) is not None) == ok


VIEW = {"number": "A023", "day": "2026-12-02", "status": "waiting", "department": "TP",
        "department_vi": "Sở Tư pháp", "department_en": "Department of Justice",
        "counter": None, "recalls": 0, "serving": [{"counter": 1, "number": "A019"},
                                                   {"counter": 4, "number": None}],
        "ahead": 4, "wait_minutes": 12, "alert": None}


def _page(view=VIEW, **kw):
    args = {"secret": "S" * 22, "lang": "vi", "center": "Trung tâm <HCC>", "nonce": "n0nce",
            "notify_ahead": 3, **kw}
    return render_ticket_page(view, **args)


def test_page_readable_without_scripts():
    html = _page()
    text = re.sub(r"<script.*?</script>|<style.*?</style>|<[^>]+>", " ", html, flags=re.S)
    for words in ("A023", "Sở Tư pháp", "Còn 4 người trước bạn", "Dự kiến khoảng 12 phút",
                  "Quầy 1: A019", "Quầy 4: đang trống"):
        assert words in text
    assert "Trung tâm &lt;HCC&gt;" in html  # configured names are escaped
    assert '<meta http-equiv="refresh" content="30">' in html  # inside <noscript>
    assert 'nonce="n0nce"' in html
    assert not re.search(r"(src|href)=\"?(https?:)?//", html)  # no external asset


def test_page_in_english_and_when_called():
    html = _page({**VIEW, "status": "called", "counter": 5}, lang="en")
    assert '<html lang="en">' in html and "Please go to counter\u00a05" in html
    assert 'id="call" class="call">' in html  # the call banner is shown, not hidden


def test_script_data_cannot_close_the_script_element():
    html = _page({**VIEW, "department_vi": "</script><script>alert(1)</script>"})
    data = html.split('<script type="application/json" id="d">', 1)[1].split("</script>", 1)[0]
    assert json.loads(data)["view"]["department_vi"].startswith("</script>")


def test_wait_text_takes_a_range_when_the_estimate_gives_one():
    t = catalogue("vi")
    assert wait_text({"wait_minutes": 12}, t) == "Dự kiến khoảng 12 phút"
    assert wait_text({"wait_minutes": 0}, t) == "Sắp đến lượt"
    assert wait_text({"wait_minutes": 20, "wait_range": [15, 25]}, t) == "Dự kiến khoảng 15–25 phút"


@pytest.mark.parametrize("raw, phone", [("0912345678", "0912345678"), ("0912 345 678", "0912345678"),
                                        ("+84 912.345.678", "0912345678"), ("84912345678", "0912345678"),
                                        ("091-234-5678", "0912345678")])
def test_phone_numbers(raw, phone):
    assert al.normalize_phone(raw) == phone
    assert al.phone_intl(phone) == "84912345678"


@pytest.mark.parametrize("raw", ["", "12345", "0012345678", "09123456789", "abc0912345678",
                                 "0912345678; rm", "+1 912 345 678"])
def test_bad_phone_numbers(raw):
    with pytest.raises(ValueError):
        al.normalize_phone(raw)


def test_due_messages_at_most_once_each():
    a = al.Alert(1, "d", "0912345678")
    assert al.due(a, {"status": "waiting", "ahead": 5}, 3) == []
    assert al.due(a, {"status": "waiting", "ahead": 3}, 3) == ["near"]
    assert al.due(a, {"status": "waiting", "ahead": 2}, 3) == []
    assert al.due(a, {"status": "called", "counter": 5}, 3) == ["called"]
    assert al.due(a, {"status": "called", "counter": 5}, 3) == []  # a recall sends nothing more
    b = al.Alert(2, "d", "0912345678")
    assert al.due(b, {"status": "called", "counter": 2}, 3) == ["called"]
    assert b.near == al.SKIPPED


def test_gateway_request_escapes_each_place():
    s = NotifySettings(url="http://127.0.0.1:1/send?to={phone}&msg={text_ascii}",
                       body='{"phone": "{phone_intl}", "text": "{text}", "n": "{number}"}',
                       headers={"X-Ticket": "{number}"})
    text = 'Mời số A023 "đến" quầy 5 & <ok>'
    req = al.gateway_request(s, phone="0912345678", text=text, number="A023", counter=5,
                             ahead=0, kind="called", center="HCC")
    assert req.url == ("http://127.0.0.1:1/send?to=0912345678&msg="
                       "Moi%20so%20A023%20%22den%22%20quay%205%20%26%20%3Cok%3E")
    assert json.loads(req.body) == {"phone": "84912345678", "text": text, "n": "A023"}
    assert req.headers == {"X-Ticket": "A023", "Content-Type": "application/json"}
    assert al.redact("refused 0912345678 / 84912345678", "0912345678") == "refused ••• / •••"


def test_web_settings_are_checked_by_field_path(sample_config):
    import tomllib
    raw = tomllib.loads(Path(sample_config_path()).read_text("utf-8"))
    raw["web"] = {"public_url": "ftp://x", "colour": 1,
                  "notify": {"url": "http://gw/send?to={phone}&x={secret}", "ahead": 99,
                             "method": "DELETE"}}
    with pytest.raises(ConfigError) as e:
        parse_config(raw)
    paths = {p for p, _ in e.value.errors}
    assert {"web.public_url", "web.colour", "web.notify.url", "web.notify.ahead",
            "web.notify.method"} <= paths
    raw["web"] = {"public_url": "https://hcc.example.gov.vn/",
                  "notify": {"url": "http://127.0.0.1:9/send", "ahead": 2}}
    cfg = parse_config(raw)
    assert cfg.web.public_url == "https://hcc.example.gov.vn" and cfg.web.notify.ahead == 2


def sample_config_path() -> str:
    from importlib import resources
    return str(resources.files("motcua.server").joinpath("sample_center.toml"))


def test_the_pure_parts_import_no_io():
    code = ("import sys; import motcua.web.secret, motcua.web.page, motcua.web.view, "
            "motcua.web.alerts, motcua.web.settings; "
            "bad = [m for m in ('asyncio', 'websockets', 'aiosqlite', 'textual', 'urllib.request')"
            " if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- the page over HTTP -----------------------------------------------------------

def _get(port: int, path: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


async def get(port: int, path: str, headers: dict | None = None):
    return await asyncio.to_thread(_get, port, path, headers)


def _path(link: str) -> str:
    return "/ve/" + link.rsplit("/ve/", 1)[1]


async def issue(h: Harness, n: int = 1, dept: str = "TP") -> list[dict]:
    k = await h.client("kiosk", device=f"kiosk-{dept}")
    return [await k.request("issue", department=dept, request_id=f"{dept}-{next(_REQUESTS)}")
            for _ in range(n)]


_REQUESTS = itertools.count()


async def test_issue_reply_carries_the_link_and_a_repeat_the_same(harness):
    k = await harness.client("kiosk")
    first = await k.request("issue", department="TP", request_id="same")
    again = await k.request("issue", department="TP", request_id="same")
    assert again["repeat"] and again["link"] == first["link"]
    assert first["link"].startswith(f"http://127.0.0.1:{harness.port}/ve/")
    other = await k.request("issue", department="TP", request_id="other")
    assert other["link"] != first["link"]


async def test_public_url_from_the_center_file(open_config, tmp_path):
    cfg = dataclasses.replace(open_config, web=WebSettings(public_url="https://hcc.example.vn"))
    h = Harness(cfg, tmp_path / "m.db")
    await h.start()
    try:
        (r,) = await issue(h)
        assert re.fullmatch(r"https://hcc\.example\.vn/ve/[A-Za-z0-9_-]{22}", r["link"])
    finally:
        await h.close()


async def test_the_page_shows_the_ticket_and_is_small(harness):
    a, b = await issue(harness, 2)
    status, headers, body = await get(harness.port, _path(b["link"]), {"Accept-Encoding": "gzip"})
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    assert len(body) < 50 * 1024
    html = gzip.decompress(body).decode("utf-8")
    assert "A002" in html and "Còn 1 người trước bạn" in html and a["ticket"]["number"] not in html
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Cache-Control"] == "no-store" and headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    status, headers, body = await get(harness.port, _path(b["link"]) + "?lang=en")
    assert status == 200 and "1 people ahead of you" in body.decode()


async def test_wrong_malformed_and_listing_paths_are_a_plain_404(harness):
    (r,) = await issue(harness)
    secret = _path(r["link"])[4:]
    plain = await get(harness.port, "/nope")
    assert plain[0] == 404
    wrong = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    for path in (f"/ve/{wrong}", "/ve/", "/ve", "/ve/A006", f"/ve/{secret}/", f"/ve/{secret}x",
                 "/ve/../healthz", "/ve/%2e%2e/metrics", "/ve/*", "/ve/?all=1"):
        status, _, body = await get(harness.port, path)
        assert (status, body) == (404, plain[2]), path


async def test_yesterdays_link_expires(open_config, tmp_path):
    now = [datetime(2026, 12, 2, 3, 0, tzinfo=timezone.utc)]  # 10:00 in Hanoi
    h = Harness(open_config, tmp_path / "m.db", clock=lambda: now[0])
    await h.start()
    try:
        (r,) = await issue(h)
        assert (await get(h.port, _path(r["link"])))[0] == 200
        now[0] += timedelta(days=1)
        assert (await get(h.port, _path(r["link"])))[0] == 404  # before any tick, too
        await h.server._apply("tick")
        assert (await get(h.port, _path(r["link"])))[0] == 404
        ws = await connect(h.url)
        await ws.send(json.dumps(_hello(r["link"])))
        assert json.loads(await ws.recv())["code"] == "bad_token"
        await asyncio.wait_for(ws.wait_closed(), 5)
        assert ws.close_code == 4001
    finally:
        await h.close()


async def test_links_survive_a_restart(harness):
    (r,) = await issue(harness)
    await harness.restart()
    status, _, body = await get(harness.port, _path(r["link"]))
    assert status == 200 and b"A001" in body


async def _raw(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(4096), 5)
    finally:
        writer.close()


async def test_http_refuses_oversized_and_malformed_requests(harness):
    (r,) = await issue(harness)
    path = _path(r["link"]).encode()
    cases = {
        b"GET /ve/" + b"A" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n": b"414",
        b"GET " + path + b" HTTP/1.1\r\nX: " + b"a" * 9000 + b"\r\n\r\n": b"431",
        b"GET " + path + b" HTTP/1.1\r\n" + b"X-A: b\r\n" * 200 + b"\r\n": b"431",
        b"POST " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n": b"404",  # no page but for GET
        b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello": b"",
        b"GET " + path + b" HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n": b"",
        b"GARBAGE\r\n\r\n": b"",
        b"GET /ve/\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n": b"",
        b"GET " + path + b" HTTP/2.0\r\n\r\n": b"",
    }
    for data, code in cases.items():
        answer = await _raw(harness.port, data)
        if code:
            assert answer.startswith(b"HTTP/1.1 " + code), (data[:40], answer[:60])
        else:
            assert answer == b"", (data[:40], answer[:60])  # closed unanswered
        assert b"A001" not in answer
    assert (await get(harness.port, "/healthz"))[0] == 200  # still serving
    assert (await get(harness.port, _path(r["link"])))[0] == 200


# --- the citizen channel ------------------------------------------------------------

def _hello(link: str, **kw) -> dict:
    return {"type": "hello", "role": "citizen", "device": "web", "token": _path(link)[4:],
            "protocol": 1, **kw}


async def citizen(h: Harness, link: str):
    ws = await connect(h.url)
    await ws.send(json.dumps(_hello(link)))
    welcome = json.loads(await ws.recv())
    assert welcome["type"] == "welcome", welcome
    return ws, welcome


async def ask(ws, msg: dict) -> dict:
    await ws.send(json.dumps(msg))
    while True:
        m = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if m.get("re") == msg.get("id") and m["type"] in ("reply", "error"):
            return m


async def test_citizen_sees_only_its_own_ticket(harness):
    a, b = await issue(harness, 2)
    ws, welcome = await citizen(harness, b["link"])
    assert set(welcome) == {"type", "protocol", "role", "server_time", "ticket"}
    t = welcome["ticket"]
    assert t["number"] == "A002" and t["ahead"] == 1 and t["status"] == "waiting"
    flat = json.dumps(welcome)
    assert "A001" not in flat and "officer" not in flat and '"id"' not in flat
    c = await harness.client("counter", counter=1)
    await c.request("login", officer="cb01", pin="1234")
    await c.request("call_next")
    # Only its own view, updated: nobody else's events reach it.
    seen = []
    while True:
        m = json.loads(await asyncio.wait_for(ws.recv(), 5))
        seen.append(m)
        if m["type"] == "ticket_updated" and m["ticket"]["ahead"] == 0:
            break
    assert {m["type"] for m in seen} == {"ticket_updated"}
    assert m["ticket"]["serving"] == [{"counter": 1, "number": "A001"}]
    await c.request("finish")
    await c.request("call_next")
    while (m := json.loads(await asyncio.wait_for(ws.recv(), 5)))["ticket"]["status"] != "called":
        pass
    assert m["ticket"]["counter"] == 1
    await ws.close()


async def test_citizen_cannot_issue_call_or_read_the_center(harness):
    (r,) = await issue(harness)
    ws, _ = await citizen(harness, r["link"])
    n = 0
    for kind in ("issue", "call_next", "call_ticket", "cancel", "requeue", "snapshot",
                 "waiting_list", "login", "rate", "printer_status", "officer_stats", "transfer"):
        n += 1
        m = await ask(ws, {"type": kind, "id": n, "department": "TP", "number": "A001",
                           "request_id": "x", "officer": "cb01", "pin": "1234"})
        assert m["code"] == "forbidden", (kind, m)
    for raw, code in (("not json", "bad_json"), ("[1]", "not_object"), ('{"id": 1}', "no_type"),
                      ('{"type": "fly"}', "unknown_type"), ('{"type": "hello"}', "already_hello"),
                      ('{"type": "notify", "phone": 5}', "bad_field"),
                      (json.dumps({"type": "ping", "pad": "x" * 20000}), "too_large")):
        await ws.send(raw)
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["code"] == code, raw
    assert (await ask(ws, {"type": "ping", "id": "p"}))["ok"]  # the connection stayed up
    assert harness.server.core.tickets[1].status == "waiting"
    assert len(harness.server.core.tickets) == 1


@pytest.mark.parametrize("hello, code", [
    ({"token": "A" * 22}, "bad_token"),
    ({"token": "kiosk-demo"}, "bad_token"),
    ({"token": "x" * 300}, "bad_field"),
    ({"token": 5}, "bad_field"),
    ({"role": "citizens"}, "bad_role"),
])
async def test_citizen_hello_refusals(harness, hello, code):
    (r,) = await issue(harness)
    ws = await connect(harness.url)
    await ws.send(json.dumps({**_hello(r["link"]), **hello}))
    assert json.loads(await asyncio.wait_for(ws.recv(), 5))["code"] == code
    await asyncio.wait_for(ws.wait_closed(), 5)


async def test_a_device_token_and_a_ticket_secret_do_not_mix(harness):
    (r,) = await issue(harness)
    ws = await connect(harness.url)
    await ws.send(json.dumps({"type": "hello", "role": "kiosk", "device": "k",
                              "token": _path(r["link"])[4:], "protocol": 1}))
    assert json.loads(await ws.recv())["code"] == "bad_token"
    ws2 = await connect(harness.url)
    await ws2.send(json.dumps({"type": "hello", "role": "kiosk", "device": "k2",
                               "token": TOKENS["kiosk"], "protocol": 1}))
    assert json.loads(await ws2.recv())["type"] == "welcome"
    assert (await ask(ws2, {"type": "leave", "id": 1}))["code"] == "forbidden"
    await ws2.close()


async def test_citizen_leaves_the_queue_and_it_is_recorded(harness):
    a, b = await issue(harness, 2)
    ws, _ = await citizen(harness, a["link"])
    m = await ask(ws, {"type": "leave", "id": 1})
    assert m["ok"] and m["ticket"]["status"] == "cancelled"
    assert harness.server.core.tickets[1].status == "cancelled"
    assert harness.server.core.tickets[2].status == "waiting"
    assert harness.server.core.department_view("TP")["waiting"] == 1
    again = await ask(ws, {"type": "leave", "id": 2})
    assert again["code"] == "wrong_state"
    await harness.stop()
    db = sqlite3.connect(harness.db)
    rows = db.execute("SELECT device, data FROM events WHERE type = 'ticket_cancelled'").fetchall()
    assert len(rows) == 1 and rows[0][0] == "web"
    assert json.loads(rows[0][1])["reason"] == "citizen_left"


async def test_pages_per_ticket_are_bounded(harness):
    (r,) = await issue(harness)
    from motcua.web.live import MAX_PER_TICKET
    conns = [(await citizen(harness, r["link"]))[0] for _ in range(MAX_PER_TICKET)]
    ws = await connect(harness.url)
    await ws.send(json.dumps(_hello(r["link"])))
    assert json.loads(await ws.recv())["code"] == "too_busy"
    for c in conns:
        await c.close()


async def test_metrics_count_citizen_pages(harness):
    (r,) = await issue(harness)
    ws, _ = await citizen(harness, r["link"])
    _, _, body = await get(harness.port, "/metrics")
    assert "motcua_citizen_connections 1" in body.decode()
    await ws.close()


# --- telling them when to come back ------------------------------------------------------

def notify_config(config, gw: FakeGateway, **kw):
    settings = NotifySettings(
        url=gw.url + "/send?to={phone}", method="POST",
        body='{"to": "{phone_intl}", "text": "{text}", "kind": "{kind}"}',
        ahead=kw.pop("ahead", 1), retries=kw.pop("retries", 2), timeout=2, backoff=0.05, **kw)
    return dataclasses.replace(config, web=WebSettings(notify=settings))


async def test_messages_when_near_and_when_called(open_config, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    with FakeGateway(fail_first=1) as gw:
        h = Harness(notify_config(open_config, gw), tmp_path / "m.db")
        await h.start()
        try:
            tickets = await issue(h, 3)
            ws, welcome = await citizen(h, tickets[2]["link"])
            assert welcome["ticket"]["alert"] is None
            m = await ask(ws, {"type": "notify", "id": 1, "phone": "0912 345 678"})
            assert m["ok"] and m["ticket"]["alert"] == {"ahead": 1, "near": None, "called": None}
            assert "0912" not in json.dumps(m)
            c = await h.client("counter", counter=1)
            await c.request("login", officer="cb01", pin="1234")
            await c.request("call_next")  # A001 called: one ahead of A003 now
            await wait_for(lambda: len(gw.received) == 1, 10)
            near = gw.received[0]
            assert near.path == "/send?to=0912345678" and near.json()["kind"] == "near"
            assert near.json()["to"] == "84912345678"
            assert "A003" in near.json()["text"] and "còn 1 người" in near.json()["text"]
            assert gw.attempts == 2  # the first try failed (HTTP 500) and was retried
            await c.request("finish")
            await c.request("call_next")
            await c.request("finish")
            await c.request("call_next")  # A003 called
            await wait_for(lambda: len(gw.received) == 2, 10)
            assert gw.received[1].json()["kind"] == "called"
            assert "quầy 1" in gw.received[1].json()["text"]
            await c.request("recall")
            await asyncio.sleep(0.6)
            assert len(gw.received) == 2  # a recall sends nothing more
            while True:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 5))
                if (msg.get("ticket") or {}).get("alert", {}).get("called") == "sent":
                    break
            db = sqlite3.connect(h.db)
            assert db.execute("SELECT near, called FROM citizen_alerts").fetchall() == [("sent", "sent")]
            # Never in the event log (what reports read), nor in any log line.
            assert not db.execute("SELECT 1 FROM events WHERE data LIKE '%345678%'").fetchall()
            db.close()
            assert "345678" not in caplog.text
        finally:
            await h.close()


async def test_a_failing_gateway_never_blocks_the_queue(open_config, tmp_path):
    with FakeGateway(fail_first=100) as gw:
        h = Harness(notify_config(open_config, gw, ahead=5, retries=1), tmp_path / "m.db")
        await h.start()
        try:
            (r,) = await issue(h)
            ws, _ = await citizen(h, r["link"])
            await ask(ws, {"type": "notify", "id": 1, "phone": "0912345678"})
            await wait_for(lambda: h.server.web.alerts[1].near == "failed", 10)
            assert gw.attempts == 2
            more = await issue(h, 2, dept="TP")  # the queue goes on
            assert more[-1]["ticket"]["number"] == "A003"
            _, _, body = await get(h.port, "/metrics")
            assert 'motcua_messages_total{status="failed"} 1' in body.decode()
        finally:
            await h.close()


async def test_the_kiosk_can_leave_a_phone_number(open_config, tmp_path):
    with FakeGateway() as gw:
        h = Harness(notify_config(open_config, gw, ahead=2), tmp_path / "m.db")
        await h.start()
        try:
            k = await h.client("kiosk")
            r = await k.request("issue", department="TP", request_id="k1")
            reply = await k.request("notify", ticket=_path(r["link"])[4:], phone="0987654321",
                                    lang="en")
            assert reply["alert"]["ahead"] == 2
            await wait_for(lambda: len(gw.received) == 1, 10)  # already near: sent at once
            assert "ticket A001 has 0 people ahead" in gw.received[0].json()["text"]
            with pytest.raises(ServerError) as e:
                await k.request("notify", ticket="A" * 22, phone="0987654321")
            assert e.value.code == "bad_field"
        finally:
            await h.close()


async def test_phone_refusals(open_config, tmp_path, harness):
    (r,) = await issue(harness)
    ws, _ = await citizen(harness, r["link"])
    assert (await ask(ws, {"type": "notify", "id": 1, "phone": "0912345678"}))["code"] == \
        "notify_unavailable"
    await ws.close()
    with FakeGateway() as gw:
        h = Harness(notify_config(open_config, gw, ahead=0), tmp_path / "n.db")
        await h.start()
        try:
            a, b = await issue(h, 2)
            ws, _ = await citizen(h, b["link"])
            assert (await ask(ws, {"type": "notify", "id": 1, "phone": "12"}))["code"] == "bad_phone"
            for i, phone in enumerate(("0912345671", "0912345672", "0912345673")):
                assert (await ask(ws, {"type": "notify", "id": 10 + i, "phone": phone}))["ok"]
            m = await ask(ws, {"type": "notify", "id": 20, "phone": "0912345674"})
            assert m["code"] == "notify_limit"
            off = await ask(ws, {"type": "notify_off", "id": 21})
            assert off["ok"] and off["ticket"]["alert"] is None
            db = sqlite3.connect(h.db)
            assert db.execute("SELECT COUNT(*) FROM citizen_alerts").fetchone() == (0,)
            db.close()
        finally:
            await h.close()


async def test_phone_numbers_are_kept_for_the_day_only(open_config, tmp_path):
    now = [datetime(2026, 12, 2, 3, 0, tzinfo=timezone.utc)]
    with FakeGateway() as gw:
        h = Harness(notify_config(open_config, gw, ahead=0), tmp_path / "m.db",
                    clock=lambda: now[0])
        await h.start()
        try:
            a, b = await issue(h, 2)
            ws, _ = await citizen(h, b["link"])
            await ask(ws, {"type": "notify", "id": 1, "phone": "0912345678"})
            await h.restart()  # kept across a restart the same day
            assert h.server.web.alerts[2].phone == "0912345678"
            now[0] += timedelta(days=1)
            await h.server._apply("tick")
            await wait_for(lambda: not h.server.web.alerts, 5)
            await asyncio.sleep(0.3)
            db = sqlite3.connect(h.db)
            assert db.execute("SELECT COUNT(*) FROM citizen_alerts").fetchone() == (0,)
            db.close()
        finally:
            await h.close()


def test_the_citizen_command_table_matches_the_protocol_module():
    from motcua.protocol import CITIZEN_COMMANDS
    doc = (Path(__file__).resolve().parent.parent / "docs" / "protocol.md").read_text("utf-8")
    lines = doc.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| citizen command |"))
    documented = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cmd, fields, _ = [c.strip() for c in line.strip().strip("|").split("|")]
        documented[cmd.strip("`")] = {m.group(1): m.group(2) != "?"
                                      for m in re.finditer(r"`([a-z_]+)`(\??)", fields)}
    assert set(documented) == set(CITIZEN_COMMANDS)
    for name, fields in documented.items():
        code = CITIZEN_COMMANDS[name][1]
        assert {k: f.required for k, f in code.items()} == fields, name
