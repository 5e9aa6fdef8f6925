"""The administration's command line, run as a person would: enrol a device
and see it connect, make a manager, export the configuration in force."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tomllib

from conftest import wait_for
from motcua.client import connect_once
from motcua.server.config import parse_config
from motcua.server.devices import parse_enrolment
from motcua.server.live_config import LiveConfig


def motcua(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "motcua.cli", *args], input=stdin,
                          capture_output=True, text=True, timeout=120)


async def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return await asyncio.to_thread(motcua, *args, stdin=stdin)


async def test_enrol_a_kiosk_from_the_command_line_and_connect_with_its_code(harness):
    db = str(harness.db)
    out = await run("devices", "add", "kiosk", "sanh-1", "--db", db)
    assert out.returncode == 0, out.stderr
    assert "shown once" in out.stdout and "█" in out.stdout  # the QR
    code = next(line.strip() for line in out.stdout.splitlines()
                if line.strip().startswith("motcua://"))
    enrolled = parse_enrolment(code)
    assert enrolled["url"] == harness.url  # the address the server announced
    await wait_for(lambda: harness.server.devices.get("sanh-1") is not None, 5)
    kiosk = await connect_once(enrolled["url"], "kiosk", "whatever", enrolled["secret"])
    harness.clients.append(kiosk)
    assert kiosk.welcome["device"] == "sanh-1"
    listed = await run("devices", "list", "--db", db)
    assert "sanh-1" in listed.stdout and "active" in listed.stdout
    again = await run("devices", "add", "kiosk", "sanh-1", "--db", db)
    assert again.returncode != 0 and "sanh-1" in again.stderr
    revoked = await run("devices", "revoke", "sanh-1", "--reason", "thử", "--db", db)
    assert revoked.returncode == 0
    await wait_for(lambda: kiosk.auth_error is not None, 5)
    assert "REVOKED" in (await run("devices", "list", "--db", db)).stdout


async def test_a_manager_made_on_the_command_line_logs_in(harness):
    db = str(harness.db)
    bad = await run("managers", "add", "ql01", "--password-stdin", "--db", db, stdin="ngan\n")
    assert bad.returncode != 0
    out = await run("managers", "add", "ql01", "--name", "Trần Quản Lý", "--password-stdin",
                    "--db", db, stdin="mat-khau-dai-du\n")
    assert out.returncode == 0, out.stderr
    await wait_for(lambda: harness.server.managers.get("ql01") is not None, 5)
    admin = await harness.client("admin")
    assert (await admin.request("manager_login", manager="ql01",
                                password="mat-khau-dai-du"))["manager"]["name"] == "Trần Quản Lý"
    disabled = await run("managers", "disable", "ql01", "--db", db)
    assert disabled.returncode == 0
    # Disabled: the open login ends too.
    await wait_for(lambda: all(s.manager is None for s in harness.server.sessions.values()), 5)
    assert "DISABLED" in (await run("managers", "list", "--db", db)).stdout


async def test_config_export_writes_the_configuration_in_force(harness, tmp_path):
    admin = harness.server
    # Changes made live (here straight through the server's own path).
    await admin._apply("configure", change={"kind": "set_notice", "notice": "Nghỉ chiều nay"},
                       by="ql01", reason="thử")
    await admin._apply("configure", change={"kind": "close_department", "department": "TP",
                                            "until": "indefinitely"}, by="ql01")
    out_file = tmp_path / "center.toml"
    out = await run("config", "export", "--db", str(harness.db), "--out", str(out_file))
    assert out.returncode == 0, out.stderr
    text = out_file.read_text("utf-8")
    assert text.startswith("# motcua")
    config = parse_config(tomllib.loads(text))
    assert config.notice == "Nghỉ chiều nay" and config.department("TP").open is False
    assert LiveConfig.of(config).same(harness.server.core.live_config())
    assert (await run("config", "check", str(out_file))).returncode == 0
    history = await run("config", "history", "--db", str(harness.db))
    lines = history.stdout.splitlines()
    assert lines[0].startswith("v3") and "close_department" in lines[0]
    assert "set_notice" in lines[1] and "thử" in lines[1] and "file" in lines[2]
    old = await run("config", "export", "--db", str(harness.db), "--version", "1")
    assert parse_config(tomllib.loads(old.stdout)).department("TP").open is True


def test_tls_init_makes_a_ca_and_a_server_certificate(tmp_path):
    out = motcua("tls", "init", "--dir", str(tmp_path / "tls"), "--host", "192.168.1.10",
                 "--host", "motcua.local")
    assert out.returncode == 0, out.stderr
    assert {p.name for p in (tmp_path / "tls").iterdir()} == {
        "ca.crt", "ca.key", "server.crt", "server.key"}
    assert oct((tmp_path / "tls" / "server.key").stat().st_mode)[-3:] == "600"
    assert "SHA-256" in out.stdout
