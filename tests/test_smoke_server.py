"""A first end-to-end check of the server through the shared client."""

from conftest import wait_for


async def test_issue_call_finish_rate(harness):
    kiosk = await harness.client("kiosk")
    counter = await harness.client("counter", counter=1)
    pad = await harness.client("rating", counter=1)
    ended = []
    pad.on_event = lambda ev: ended.append(ev) if ev.type == "visit_ended" else None
    r = await kiosk.request("issue", department="TP", request_id="x1")
    assert r["ticket"]["number"] == "A001"
    await counter.request("login", officer="cb01", pin="1234")
    r = await counter.request("call_next")
    assert r["ticket"]["number"] == "A001"
    await counter.request("finish")
    await wait_for(lambda: ended)
    visit = ended[0].raw["visit"]
    r = await pad.request("rate", visit=visit["id"], value=4, request_id="p1")
    assert r["rating"]["officer"] == "cb01"
