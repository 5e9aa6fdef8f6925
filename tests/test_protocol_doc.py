"""The protocol document, the code and the server agree: the command table,
the event table and the error codes in docs/protocol.md are read and checked
against motcua.protocol and the queue core, and each documented command is
sent to a real server by every role to see who is refused."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from conftest import TOKENS
from motcua.protocol import AUDIENCE, COMMANDS, ERROR_MESSAGES, ROLES
from motcua.server.core import ERRORS

DOC = (Path(__file__).resolve().parent.parent / "docs" / "protocol.md").read_text("utf-8")
TICKS = re.compile(r"`([a-z_]+)`(\??)")


def _table(heading_cols: str) -> list[list[str]]:
    """Rows of the markdown table whose header starts with ``heading_cols``."""
    lines = DOC.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(heading_cols))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


def _roles(cell: str) -> set[str]:
    return set(ROLES) if cell.strip() in ("all", "everyone") else {
        r.strip() for r in cell.split(",")}


def documented_commands() -> dict[str, tuple[set[str], dict[str, bool]]]:
    out = {}
    for cmd_cell, roles, fields, _reply in _table("| command | roles | fields |"):
        names = [m.group(1) for m in TICKS.finditer(cmd_cell)]
        # Only the field names before any parenthesis are fields (values follow).
        spec = {}
        for part in re.sub(r"\([^)]*\)", "", fields).split(","):
            m = TICKS.search(part)
            if m:
                spec[m.group(1)] = m.group(2) != "?"  # required unless marked "?"
        for name in names:
            out[name] = (_roles(roles), spec)
    return out


def test_the_command_table_matches_the_protocol_module():
    doc = documented_commands()
    assert set(doc) == set(COMMANDS)
    for name, (roles, spec) in doc.items():
        code_roles, code_fields = COMMANDS[name]
        assert roles == set(code_roles), name
        fields = dict(spec)
        if roles == {"admin", "counter"}:
            fields["counter"] = False  # "an admin names the counter with a counter field"
        assert set(fields) == set(code_fields), name
        for field, required in fields.items():
            assert code_fields[field].required == required, (name, field)


def test_the_event_table_matches_the_audiences():
    doc = {}
    for event_cell, _extra, audience in _table("| event | extra fields | sent to |"):
        for m in TICKS.finditer(event_cell):
            if m.group(1) != "reason":  # `counter_paused` (`reason`) names a field
                doc[m.group(1)] = _roles(audience)
    assert doc == {k: set(v) for k, v in AUDIENCE.items()}


def test_every_error_code_is_documented():
    def listed(label: str) -> set[str]:
        para = DOC.split(label, 1)[1].split("\n\n", 1)[0]
        return {m.group(1) for m in TICKS.finditer(para)}
    assert listed("Protocol: ") == set(ERROR_MESSAGES)
    assert listed("Queue: ") == set(ERRORS)


async def test_each_documented_command_is_refused_to_the_other_roles(harness):
    """Sent by a real connection of each role that may not send it: `forbidden`,
    and the connection stays up."""
    doc = documented_commands()
    conns = {}
    for role in ROLES:
        ws = await connect(harness.url)
        await ws.send(json.dumps({"type": "hello", "role": role, "device": f"doc-{role}",
                                  "token": TOKENS[role], "protocol": 1,
                                  "counter": 1 if role in ("counter", "rating") else None}))
        assert json.loads(await ws.recv())["type"] == "welcome"
        conns[role] = ws
    try:
        n = 0
        for name, (roles, _spec) in doc.items():
            for role in set(ROLES) - roles:
                n += 1
                ws = conns[role]
                await ws.send(json.dumps({"type": name, "id": n}))
                while True:
                    msg = json.loads(await ws.recv())
                    if msg.get("re") == n:
                        break
                assert msg["type"] == "error" and msg["code"] == "forbidden", (name, role, msg)
        assert n > 40
        await conns["display"].send(json.dumps({"type": "snapshot", "id": "s1"}))
        while (msg := json.loads(await conns["display"].recv()))["type"] != "snapshot":
            pass
        assert msg["re"] == "s1"  # the snapshot answer echoes the id
    finally:
        for ws in conns.values():
            await ws.close()


@pytest.mark.parametrize("path, status", [("/nope", 404), ("/", 426), ("/healthz", 200)])
async def test_http_paths(harness, path, status):
    import asyncio

    def get():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{harness.port}{path}", timeout=5) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code
    assert await asyncio.to_thread(get) == status


async def test_metrics_has_one_content_type(harness):
    import asyncio

    def get():
        with urllib.request.urlopen(f"http://127.0.0.1:{harness.port}/metrics", timeout=5) as r:
            return r.headers.get_all("Content-Type")
    assert await asyncio.to_thread(get) == ["text/plain; version=0.0.4; charset=utf-8"]


def _reply_fields(command: str) -> set[str]:
    """The reply fields the command table gives for ``command``."""
    for cmd_cell, _roles, _fields, reply in _table("| command | roles | fields |"):
        if command in {m.group(1) for m in TICKS.finditer(cmd_cell)}:
            return {m.group(1) for m in TICKS.finditer(re.sub(r"\([^)]*\)", "", reply))}
    raise AssertionError(f"{command} is not in the command table")


async def test_the_issue_reply_has_the_documented_fields(harness, open_config, tmp_path):
    """Every field of a real ``issue`` reply is in the table and the other
    way round — with a message gateway (``notify_ahead`` its threshold) and
    without one (``notify_ahead`` null: the kiosk offers no messages)."""
    import dataclasses

    from conftest import Harness
    from motcua.web.settings import NotifySettings, WebSettings

    documented = _reply_fields("issue")
    assert "notify_ahead" in documented
    k = await harness.client("kiosk")
    plain = await k.request("issue", department="TP", request_id="doc-1")
    assert set(plain) - {"type", "re", "ok"} == documented
    assert plain["notify_ahead"] is None

    config = dataclasses.replace(open_config, web=WebSettings(
        notify=NotifySettings(url="http://127.0.0.1:9/send", ahead=4)))
    h = Harness(config, tmp_path / "gw.db")
    await h.start()
    try:
        k = await h.client("kiosk")
        reply = await k.request("issue", department="TP", request_id="doc-2")
        assert set(reply) - {"type", "re", "ok"} == documented
        assert reply["notify_ahead"] == 4
        again = await k.request("issue", department="TP", request_id="doc-2")
        assert again["repeat"] and again["notify_ahead"] == 4  # a repeat says it too
    finally:
        await h.close()
