"""``voice_status``: a display reports its voice to the server instead of the
waiting room. Real server on 127.0.0.1, real SQLite file, real clients."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone

import pytest
from websockets.asyncio.client import connect

from conftest import TOKENS, wait_for
from motcua.client import ServerError
from motcua.protocol import VOICE_PROBLEMS
from motcua.server.core import MAX_VOICE_DEVICES, QueueCore


async def voice_events(harness) -> list[tuple[str, dict]]:
    await harness.server.store.barrier()
    with sqlite3.connect(harness.db) as db:
        return [(t, json.loads(d)) for t, d in db.execute(
            "SELECT type, data FROM events WHERE type LIKE 'voice_%' ORDER BY rowid")]


async def test_a_fault_and_its_end_reach_admins_once_each_and_the_snapshot(harness):
    tv = await harness.client("display", device="tv-hall-a")
    admin = await harness.client("admin")
    seen = []
    admin.on_event = lambda ev: seen.append(ev.type) if ev.type.startswith("voice_") else None

    reply = await tv.request("voice_status", ok=False, problem="no_audio",
                             detail="error: no audio device")
    assert reply["voice"] == {"device": "tv-hall-a", "ok": False, "problem": "no_audio",
                              "detail": "error: no audio device", "since": reply["voice"]["since"]}
    # The same again (every call the TV could not read) changes nothing.
    again = await tv.request("voice_status", ok=False, problem="no_audio", detail="again")
    assert again["voice"]["since"] == reply["voice"]["since"]
    await tv.request("voice_status", ok=True)
    await wait_for(lambda: seen == ["voice_fault", "voice_ok"])
    assert [t for t, _ in await voice_events(harness)] == ["voice_fault", "voice_ok"]

    snap = harness.server.core.snapshot()["voices"]
    assert [(v["device"], v["ok"], v["problem"]) for v in snap] == [("tv-hall-a", True, None)]
    # Only admins hear of it (the room's other displays have nothing to do with it).
    from motcua.protocol import AUDIENCE
    assert AUDIENCE["voice_fault"] == AUDIENCE["voice_ok"] == frozenset({"admin"})


async def test_a_voice_that_never_failed_leaves_no_entry(harness):
    tv = await harness.client("display", device="tv-fine")
    await tv.request("voice_status", ok=True)
    assert harness.server.core.meta.voices == {}
    assert await voice_events(harness) == []


async def test_the_status_survives_a_restart(harness):
    tv = await harness.client("display", device="tv-1")
    await tv.request("voice_status", ok=False, problem="no_engine", detail="espeak-ng missing")
    await harness.restart()
    voices = harness.server.core.snapshot()["voices"]
    assert [(v["device"], v["problem"]) for v in voices] == [("tv-1", "no_engine")]


@pytest.mark.parametrize("fields, field", [
    ({"ok": False, "problem": "on_fire"}, "problem"),     # not one of the fixed set
    ({"ok": False}, "problem"),                             # a fault must say which
    ({"ok": True, "problem": "no_audio"}, "problem"),       # a recovery names none
    ({"ok": "no"}, "ok"),                                   # wrong type
    ({}, "ok"),                                             # missing
    ({"ok": False, "problem": "error", "detail": "x" * 201}, "detail"),
    ({"ok": False, "problem": 7}, "problem"),
])
async def test_malformed_reports_are_refused_and_the_connection_stays(harness, fields, field):
    tv = await harness.client("display", device="tv-x")
    with pytest.raises(ServerError) as e:
        await tv.request("voice_status", **fields)
    assert e.value.code == "bad_field" and e.value.params["field"] == field
    assert harness.server.core.meta.voices == {}
    assert (await tv.request("ping"))["pong"]  # still connected


@pytest.mark.parametrize("role", ["kiosk", "counter", "rating", "admin"])
async def test_only_a_display_may_report_its_voice(harness, role):
    client = await harness.client(role, counter=1 if role in ("counter", "rating") else None)
    with pytest.raises(ServerError) as e:
        await client.request("voice_status", ok=False, problem="no_audio")
    assert e.value.code == "forbidden"
    assert harness.server.core.meta.voices == {}


async def test_a_wrong_display_token_gets_no_say(harness):
    async with connect(harness.url) as ws:
        await ws.send(json.dumps({"type": "hello", "role": "display", "device": "fake",
                                  "token": "not-" + TOKENS["display"], "protocol": 1}))
        reply = json.loads(await ws.recv())
        assert reply["code"] == "bad_token"
    assert harness.server.core.meta.voices == {}


def test_entries_are_bounded_one_per_display_device(sample_config):
    """A display that reports under ever new names cannot grow memory and
    snapshots without bound: past the cap, the oldest recovered entry goes."""
    moment = [datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)]
    core = QueueCore(sample_config, lambda: moment[0])
    for i in range(MAX_VOICE_DEVICES):
        moment[0] = moment[0].replace(second=i % 60, minute=i // 60)
        core.execute("voice_status", device=f"tv-{i}", ok=False, problem="no_audio")
    core.execute("voice_status", device="tv-0", ok=True)  # recovered, and the oldest
    core.execute("voice_status", device="tv-0", ok=False, problem="timeout")  # the same device
    assert len(core.meta.voices) == MAX_VOICE_DEVICES
    core.execute("voice_status", device="tv-3", ok=True)
    core.execute("voice_status", device="tv-new", ok=False, problem="error")
    assert len(core.meta.voices) == MAX_VOICE_DEVICES
    assert "tv-3" not in core.meta.voices and "tv-new" in core.meta.voices
    # With no recovered entry left, the oldest fault makes room.
    core.execute("voice_status", device="tv-newer", ok=False, problem="error")
    assert len(core.meta.voices) == MAX_VOICE_DEVICES
    assert "tv-1" not in core.meta.voices and "tv-0" in core.meta.voices  # tv-0's fault is new
    assert set(VOICE_PROBLEMS) == {"no_engine", "no_audio", "timeout", "error"}
