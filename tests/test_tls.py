"""wss with the center's own certificates: a pinned certificate connects, a
wrong one is refused before the device's secret leaves it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import TOKENS, wait_for
from motcua.client import AuthError, MotcuaClient, connect_once
from motcua.server.app import MotcuaServer
from motcua.server.tls import cert_fingerprint, init_center_tls, server_context
from motcua.tls import normalize_fingerprint, pretty


@pytest.fixture
async def tls_server(open_config, tmp_path):
    files = init_center_tls(tmp_path / "tls", ["127.0.0.1", "localhost"], "Trung tâm thử")
    server = MotcuaServer(open_config, tmp_path / "m.db", port=0,
                          tls=server_context(files["cert"], files["key"]),
                          tls_fingerprint=files["fingerprint"])
    await server.start()
    try:
        yield server, files
    finally:
        await server.stop()


async def test_a_pinned_certificate_connects_and_a_wrong_one_is_refused(tls_server, tmp_path):
    server, files = tls_server
    url = f"wss://127.0.0.1:{server.port}"
    assert server.device_url.startswith("wss://")
    assert cert_fingerprint(files["cert"]) == files["fingerprint"]
    kiosk = await connect_once(url, "kiosk", "k1", TOKENS["kiosk"],
                               fingerprint=pretty(files["fingerprint"]))
    try:
        assert (await kiosk.request("issue", department="TP", request_id="t1"))["ticket"]
    finally:
        await kiosk.close()
    # The center CA instead of a fingerprint: chain and host name are verified.
    kiosk = await connect_once(url, "kiosk", "k2", TOKENS["kiosk"], ca=files["ca"])
    await kiosk.close()

    # Another center's certificate pinned: nothing is sent, the client stops.
    other = init_center_tls(tmp_path / "other", ["127.0.0.1"], "Kẻ giả mạo")
    hellos = len(server.sessions)
    client = MotcuaClient(url, "kiosk", "k3", TOKENS["kiosk"], fingerprint=other["fingerprint"])
    client.start()
    with pytest.raises(AuthError) as e:
        await client.wait_ready(5)
    assert e.value.error.code == "tls_mismatch"
    await client.close()
    assert len(server.sessions) == hellos
    # Without pinning or the CA, the self-made certificate is not trusted at all.
    client = MotcuaClient(url, "kiosk", "k4", TOKENS["kiosk"])
    client.start()
    with pytest.raises(TimeoutError):
        await client.wait_ready(2)
    await client.close()
    # The enrolment code carries the address and the fingerprint.
    from motcua.server.manage import Manage

    async with Manage(server.store.path) as m:
        enrolled = await m.enrol("kiosk", "sanh-2")
    assert "tls=1" in enrolled["enrolment"] and files["fingerprint"] in enrolled["enrolment"]
    assert f":{server.port}/" in enrolled["enrolment"]
    await wait_for(lambda: server.devices.get("sanh-2") is not None, 5)
    from motcua.server.devices import parse_enrolment
    code = parse_enrolment(enrolled["enrolment"])
    device = await connect_once(code["url"], code["role"], "x", code["secret"],
                                fingerprint=code["fingerprint"])
    assert device.welcome["device"] == "sanh-2"
    await device.close()


def test_fingerprints_are_read_in_every_usual_form():
    f = "ab" * 32
    assert normalize_fingerprint(pretty(f)) == f
    assert normalize_fingerprint("SHA256:" + f.upper()) == f
    with pytest.raises(ValueError):
        normalize_fingerprint("abc")


def test_serve_refuses_plain_ws_on_the_network_outside_demo(tmp_path):
    from importlib import resources
    sample = resources.files("motcua.server").joinpath("sample_center.toml").read_text("utf-8")
    center = tmp_path / "center.toml"
    center.write_text(sample, "utf-8")
    out = subprocess.run([sys.executable, "-m", "motcua.cli", "serve", "--config", str(center),
                          "--host", "0.0.0.0", "--db", str(tmp_path / "x.db")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "--tls-cert" in out.stderr
