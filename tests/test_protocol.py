"""Protocol tests against a real server on 127.0.0.1 with a real SQLite file,
using raw websocket clients where the shared client would hide the wire."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import urllib.request

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from conftest import TOKENS, wait_for
from motcua.client import ServerError
from motcua.protocol import MAX_MESSAGE_BYTES


async def raw_hello(url, role="kiosk", token=None, **extra):
    ws = await connect(url)
    await ws.send(json.dumps({"type": "hello", "role": role, "device": f"{role}-raw",
                              "token": token or TOKENS[role], "protocol": 1, **extra}))
    return ws, json.loads(await ws.recv())


async def roundtrip(ws, msg):
    await ws.send(msg if isinstance(msg, (str, bytes)) else json.dumps(msg))
    while True:
        reply = json.loads(await ws.recv())
        if reply["type"] in ("reply", "error"):
            return reply


async def test_wrong_token_gets_error_and_close(harness):
    ws, msg = await raw_hello(harness.url, "kiosk", token="nope")
    assert msg["type"] == "error" and msg["code"] == "bad_token"
    with pytest.raises(ConnectionClosed) as e:
        await ws.recv()
    assert e.value.rcvd.code == 4001


async def test_hello_must_come_first_and_be_valid(harness):
    for first, code in (({"type": "issue"}, "hello_required"),
                        ({"type": "hello", "role": "boss", "device": "x", "token": "t",
                          "protocol": 1}, "bad_role"),
                        ({"type": "hello", "role": "kiosk", "device": "x",
                          "token": "kiosk-demo", "protocol": 99}, "protocol_version")):
        async with connect(harness.url) as ws:
            await ws.send(json.dumps(first))
            assert json.loads(await ws.recv())["code"] == code
    ws, msg = await raw_hello(harness.url, "counter", counter=99)
    assert msg["code"] == "unknown_counter"


async def test_bad_input_gets_stable_errors_and_connection_stays(harness):
    ws, welcome = await raw_hello(harness.url, "kiosk")
    assert welcome["type"] == "welcome"
    cases = [
        ("{not json", "bad_json"),
        ("[1, 2]", "not_object"),
        (json.dumps({"no": "type"}), "no_type"),
        (json.dumps({"type": "launch_rockets", "id": 7}), "unknown_type"),
        (json.dumps({"type": "issue", "id": 8}), "bad_field"),
        (json.dumps({"type": "issue", "department": 5, "request_id": "a"}), "bad_field"),
        (json.dumps({"type": "issue", "department": "TP", "request_id": "x" * 500}), "bad_field"),
        (json.dumps({"type": "call_next"}), "forbidden"),
        (json.dumps({"type": "hello"}), "already_hello"),
        (json.dumps({"type": "issue", "department": "TP", "request_id": "r",
                     "pad": "x" * MAX_MESSAGE_BYTES}), "too_large"),
        (b"\xff\xfe binary", "bad_json"),
    ]
    for raw, code in cases:
        reply = await roundtrip(ws, raw)
        assert reply["type"] == "error" and reply["code"] == code, (raw[:40], reply)
        assert reply["message"] and reply["message_en"]
    assert (await roundtrip(ws, {"type": "unknown", "id": "abc"}))["re"] == "abc"
    ok = await roundtrip(ws, {"type": "issue", "id": 1, "department": "TP", "request_id": "z"})
    assert ok["ok"] and ok["ticket"]["number"] == "A001"
    await ws.close()


async def test_roles_may_send_only_their_commands(harness):
    display = await harness.client("display")
    rating = await harness.client("rating", counter=1)
    counter = await harness.client("counter", counter=2)
    for client, cmd, fields in ((display, "issue", {"department": "TP", "request_id": "1"}),
                                (rating, "call_next", {}),
                                (counter, "rate", {"visit": 1, "value": 4, "request_id": "1"}),
                                (counter, "issue", {"department": "TP", "request_id": "1"})):
        with pytest.raises(ServerError) as e:
            await client.request(cmd, **fields)
        assert e.value.code == "forbidden"
    # a counter device acts only on its own counter
    with pytest.raises(ServerError) as e:
        await counter.request("login", officer="cb01", pin="1234", counter=3)
    assert e.value.code == "forbidden"
    assert (await counter.request("ping"))["pong"] > 0


async def test_login_checks_pin(harness):
    counter = await harness.client("counter", counter=1)
    for officer, pin in (("cb01", "9999"), ("nobody", "1234")):
        with pytest.raises(ServerError) as e:
            await counter.request("login", officer=officer, pin=pin)
        assert e.value.code == "unknown_officer"
    r = await counter.request("login", officer="cb01", pin="1234")
    assert r["counter"]["officer_name"]


async def test_issue_retry_is_idempotent_and_stored_once(harness):
    kiosk = await harness.client("kiosk", device="kiosk-7")
    a = await kiosk.request("issue", department="TP", request_id="same")
    b = await kiosk.request("issue", department="TP", request_id="same")
    assert a["ticket"]["id"] == b["ticket"]["id"] and b["repeat"]
    # a reconnect (new connection, same device) still gets the same ticket
    await harness.restart()
    await kiosk.wait_ready(5)
    c = await kiosk.request("issue", department="TP", request_id="same")
    assert c["ticket"]["id"] == a["ticket"]["id"]
    with sqlite3.connect(harness.db) as db:
        assert db.execute("SELECT count(*) FROM tickets").fetchone()[0] == 1
        assert db.execute("SELECT count(*) FROM events WHERE type='ticket_issued'").fetchone()[0] == 1


async def test_acknowledged_ticket_is_in_the_database(harness):
    kiosk = await harness.client("kiosk")
    r = await kiosk.request("issue", department="GTVT", request_id="d1")
    # read with a separate connection right after the reply: it is committed
    with sqlite3.connect(harness.db) as db:
        row = db.execute("SELECT number, status FROM tickets WHERE id=?",
                         (r["ticket"]["id"],)).fetchone()
    assert row == (r["ticket"]["number"], "waiting")


async def test_restart_continuity(harness):
    kiosk = await harness.client("kiosk")
    counter = await harness.client("counter", counter=1)
    await counter.request("login", officer="cb01", pin="1234")
    numbers = [(await kiosk.request("issue", department="TP", request_id=f"r{i}"))["ticket"]["number"]
               for i in range(3)]
    await counter.request("call_next")
    await counter.request("recall")
    await harness.restart()  # a new server process on the same file
    await kiosk.wait_ready(5)
    await counter.wait_ready(5)
    state = counter.state.counters[1]
    assert state["status"] == "open" and state["officer"] == "cb01"
    assert state["ticket"]["number"] == numbers[0] and state["ticket"]["recalls"] == 1
    assert counter.state.departments["TP"]["waiting"] == 2
    t = await kiosk.request("issue", department="TP", request_id="after")
    assert t["ticket"]["number"] == "A004"  # numbering carries on, no repeat
    await counter.request("finish")
    assert (await counter.request("call_next"))["ticket"]["number"] == numbers[1]


async def test_display_gets_snapshot_then_sequenced_events(harness):
    display = await harness.client("display")
    events = []
    display.on_event = events.append
    kiosk = await harness.client("kiosk")
    counter = await harness.client("counter", counter=5)
    await counter.request("login", officer="cb05", pin="1234")
    dept = harness.config.counter(5).departments[0]
    await kiosk.request("issue", department=dept, request_id="1")
    await counter.request("call_next")
    await counter.request("recall")
    await wait_for(lambda: sum(e.type == "ticket_called" for e in events) == 2)
    seqs = [e.seq for e in events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    calls = [e for e in events if e.type == "ticket_called"]
    assert calls[1].raw["recall"] == 1 and calls[1].counter["number"] == 5
    assert display.state.recent_calls[0]["recall"] == 1
    assert display.state.counters[5]["ticket"]["status"] == "called"
    await wait_for(lambda: display.state.departments[dept]["issued"] == 1)
    # displays are not sent what they don't draw
    assert not any(e.type == "ticket_issued" for e in events)


async def test_client_resyncs_after_a_gap(harness):
    display = await harness.client("display")
    kiosk = await harness.client("kiosk")
    display.seq -= 1  # pretend an event went missing
    await kiosk.request("issue", department="TP", request_id="g")
    await wait_for(lambda: display.state.departments["TP"]["waiting"] == 1)
    assert display.seq == harness.server.seq["display"]


async def test_many_bad_messages_do_not_hurt_the_server(harness):
    ws, _ = await raw_hello(harness.url, "admin")
    junk = ["", "null", "1e999", '{"type": null}', '{"type": "issue", "department": []}',
            '{"type": "rate", "visit": 1e30, "value": 1, "request_id": "a"}',
            '{"type": "cancel", "number": "A001", "counter": 99}',
            '{"type": "call_next", "counter": 424242}', '{"type": "transfer"}',
            '{"type": "login", "officer": "cb01", "pin": "1234", "counter": -1}']
    for raw in junk * 3:
        reply = await roundtrip(ws, raw)
        assert reply["type"] == "error", (raw, reply)
    assert (await roundtrip(ws, {"type": "ping"}))["ok"]
    await ws.close()


async def test_oversized_frame_closes_only_that_connection(harness):
    ws, _ = await raw_hello(harness.url, "kiosk")
    await ws.send("x" * (2 * 1024 * 1024))
    with pytest.raises(ConnectionClosed):
        for _ in range(5):
            await asyncio.wait_for(ws.recv(), 5)
    kiosk = await harness.client("kiosk")
    assert (await kiosk.request("ping"))["ok"]


async def test_healthz_and_metrics(harness):
    kiosk = await harness.client("kiosk")
    await kiosk.request("issue", department="TP", request_id="m")

    def get(path):
        with urllib.request.urlopen(f"http://127.0.0.1:{harness.port}{path}", timeout=5) as r:
            return r.status, r.read().decode()

    status, body = await asyncio.to_thread(get, "/healthz")
    assert status == 200 and body.strip() == "ok"
    status, body = await asyncio.to_thread(get, "/metrics")
    assert "motcua_tickets_issued_today 1" in body
    assert 'motcua_waiting{department="TP"} 1' in body
    assert 'motcua_connections{role="kiosk"} 1' in body
