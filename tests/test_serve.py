"""`motcua serve` as a person runs it: a real subprocess. A start that cannot
succeed exits non-zero at once with one line, Vietnamese then English (no
traceback unless -v); a start that succeeds prints where everything is,
how to start each app, and never a device token."""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import sqlite3
import subprocess
import sys
import urllib.request
from importlib import resources
from pathlib import Path

import pytest

from motcua.server.storage import SCHEMA_VERSION

MOTCUA = [sys.executable, "-m", "motcua.cli"]
# Generous: a hang shows up as this timeout expiring, not as a slow pass.
TIMEOUT = 60
SAMPLE_TOKENS = ("kiosk-demo", "counter-demo", "display-demo", "rating-demo", "admin-demo")

# Run as root, drop the powers that ignore file permissions (root writes a
# chmod 444 file regardless), then become `motcua` itself.
_PLAIN = ("import ctypes, os, sys\n"
          "libc = ctypes.CDLL(None, use_errno=True)\n"
          "for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH\n"
          "    if libc.prctl(24, cap, 0, 0, 0):  # PR_CAPBSET_DROP\n"
          "        sys.exit(77)\n"
          "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])\n")


def serve(tmp_path: Path, *args: str, plain_user: bool = False) -> subprocess.CompletedProcess:
    """Run ``motcua serve ARGS`` to its end (it must end by itself)."""
    cmd = [*MOTCUA, "serve", *args]
    if plain_user and os.geteuid() == 0:
        cmd = [sys.executable, "-c", _PLAIN, *cmd[1:]]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT,
                          stdin=subprocess.DEVNULL)
    if proc.returncode == 77:
        pytest.skip("cannot drop root's file powers here")
    return proc


def refused(proc: subprocess.CompletedProcess, *words: str) -> str:
    """The start failed with exactly one line on stderr, and nothing else."""
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode != 0, proc
    assert len(lines) == 1 and proc.stdout == "", proc
    line = lines[0]
    assert line.startswith("Không khởi động được máy chủ: "), line
    vi, en = line.split(" / cannot start the server: ")
    assert not re.search(r"\bcannot\b", vi) and not re.search(r"\bkhông\b", en)
    for w in words:
        assert w in line, (w, line)
    assert "Traceback" not in proc.stderr
    return line


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_port_in_use(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = serve(tmp_path, "--port", str(port), "--db", "m.db")
    refused(proc, f"cổng {port} trên 127.0.0.1 đang được", f"port {port} on 127.0.0.1 is already "
            "in use", "--port")


def test_bad_host_and_bad_port(tmp_path):
    # 203.0.113.0/24 is reserved for documentation: no machine has it.
    refused(serve(tmp_path, "--host", "203.0.113.7", "--db", "m.db"),
            "không có địa chỉ 203.0.113.7", "no address 203.0.113.7")
    refused(serve(tmp_path, "--port", "70000", "--db", "m.db"), "cổng 70000 không hợp lệ",
            "port 70000 is not valid")


def test_a_second_server_on_the_same_database_is_refused(tmp_path):
    """Two servers on one file would each number from their own memory."""
    first = subprocess.Popen([*MOTCUA, "serve", "--port", str(free_port()), "--db", "m.db",
                              "--ignore-hours"], cwd=tmp_path, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        assert first.stdout is not None
        for line in first.stdout:
            if "Ctrl+C" in line:
                break
        proc = serve(tmp_path, "--port", str(free_port()), "--db", "m.db")
        refused(proc, "đang được một máy chủ motcua khác dùng", "in use by another motcua server")
    finally:
        first.send_signal(signal.SIGINT)
        first.wait(TIMEOUT)
    # Once the first has stopped, the file is free again.
    again = subprocess.Popen([*MOTCUA, "serve", "--port", str(free_port()), "--db", "m.db"],
                             cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, stdin=subprocess.DEVNULL)
    try:
        assert again.stdout is not None
        assert any("Ctrl+C" in line for line in again.stdout)
    finally:
        again.send_signal(signal.SIGINT)
        again.wait(TIMEOUT)


def test_verbose_shows_the_traceback_too(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        proc = serve(tmp_path, "-v", "--port", str(taken.getsockname()[1]), "--db", "m.db")
    assert proc.returncode == 1 and "Traceback" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("Không khởi động được máy chủ: cổng")


def test_a_file_that_is_not_sqlite(tmp_path):
    (tmp_path / "notes.db").write_bytes(b"These are my notes, not a database.\n" * 200)
    refused(serve(tmp_path, "--db", "notes.db", "--port", str(free_port())),
            "không phải tệp dữ liệu SQLite", "is not an SQLite database")
    assert not (tmp_path / "notes.db-wal").exists()


def test_a_damaged_database(tmp_path):
    db = tmp_path / "damaged.db"
    with sqlite3.connect(db) as c:
        c.execute("CREATE TABLE t (x TEXT)")
        c.executemany("INSERT INTO t VALUES (?)", [("x" * 500,)] * 200)
        c.execute("CREATE INDEX t_x ON t (x)")
    data = bytearray(db.read_bytes())
    page = 4096
    for p in range(2, len(data) // page):  # every page after the first, header intact
        data[p * page: p * page + 64] = b"\xff" * 64
    db.write_bytes(bytes(data))
    refused(serve(tmp_path, "--db", "damaged.db", "--port", str(free_port())),
            "bị hỏng", "is damaged", "quick_check")


def test_another_programs_database(tmp_path):
    with sqlite3.connect(tmp_path / "shop.db") as c:
        c.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    refused(serve(tmp_path, "--db", "shop.db", "--port", str(free_port())),
            "của chương trình khác", "belongs to another program", "invoices")
    with sqlite3.connect(tmp_path / "shop.db") as c:  # left as it was
        assert [r[0] for r in c.execute("SELECT name FROM sqlite_master")] == ["invoices"]


@pytest.mark.parametrize("version, words", [
    (-3, ("phiên bản lược đồ -3 không hợp lệ", "invalid schema version -3")),
    (SCHEMA_VERSION + 1, ("hãy nâng cấp motcua", "upgrade motcua",
                          f"schema {SCHEMA_VERSION + 1}")),
])
def test_schema_versions_it_cannot_serve(tmp_path, version, words):
    db = made(tmp_path)
    with sqlite3.connect(db) as c:
        c.execute(f"PRAGMA user_version={version}")
    refused(serve(tmp_path, "--db", str(db), "--port", str(free_port())), *words)


def made(tmp_path: Path) -> Path:
    """A good database made by a run of the server (stopped by Ctrl+C)."""
    db = tmp_path / "good" / "m.db"
    proc, _ = start(tmp_path, "--db", str(db), "--port", "0")
    stop(proc)
    return db


def test_a_read_only_database_is_refused_not_served(tmp_path):
    db = made(tmp_path)
    db.chmod(0o444)
    try:
        proc = serve(tmp_path, "--db", str(db), "--port", str(free_port()), plain_user=True)
        db.chmod(0)
        unreadable = serve(tmp_path, "--db", str(db), plain_user=True)
    finally:
        db.chmod(0o644)
    refused(proc, "chỉ đọc", "is read-only", str(db))
    refused(unreadable, f"không mở được tệp dữ liệu {db}", f"cannot open the database {db}")


def test_a_database_folder_that_is_not_writable(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        new = serve(tmp_path, "--db", str(folder / "new.db"), "--port", str(free_port()),
                    plain_user=True)
        missing = serve(tmp_path, "--db", str(folder / "sub" / "m.db"), plain_user=True)
    finally:
        folder.chmod(0o755)
    refused(new, f"thư mục {folder} không ghi được", f"the folder {folder} is not writable")
    refused(missing, "không tạo được thư mục dữ liệu", "cannot create the database folder")
    refused(serve(tmp_path, "--db", str(tmp_path)), "là một thư mục", "is a folder")


def test_a_bad_config(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[center]\nname = "X"\nopens = "25:00"\n', "utf-8")
    line = refused(serve(tmp_path, "--config", str(bad)), f"cấu hình {bad} có lỗi",
                   f"configuration {bad} is invalid", "center.opens",
                   "phải là giờ dạng HH:MM", "must be a time HH:MM", "config check")
    assert line.index("phải là giờ") < line.index("must be a time")
    refused(serve(tmp_path, "--config", str(tmp_path / "none.toml")), "không đọc được tệp",
            "cannot read file")
    proc = subprocess.run([*MOTCUA, "serve"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=TIMEOUT, env={**os.environ, "MOTCUA_PORT": "eighty"})
    assert proc.returncode == 2 and "invalid int value: 'eighty'" in proc.stderr


# --- a start that succeeds ----------------------------------------------------------

def start(tmp_path: Path, *args: str) -> tuple[subprocess.Popen, str]:
    """A running ``motcua serve`` and its banner (up to "Ctrl+C")."""
    proc = subprocess.Popen([*MOTCUA, "serve", *args], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)
    lines = []
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            lines.append(line)
            if "Ctrl+C" in line:
                break
        else:
            raise AssertionError(f"motcua serve ended: {''.join(lines)}")
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc, "".join(lines)


def stop(proc: subprocess.Popen) -> None:
    """Ctrl+C: the server stops cleanly, by itself."""
    proc.send_signal(signal.SIGINT)
    try:
        assert proc.wait(TIMEOUT) == 0
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise


def test_banner_tells_how_to_start_every_app_and_hides_the_tokens(tmp_path):
    port = free_port()
    proc, text = start(tmp_path, "--port", str(port), "--db", "m.db")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as r:
            assert r.status == 200
    finally:
        stop(proc)
    assert not any(token in text for token in SAMPLE_TOKENS), text
    url = f"ws://127.0.0.1:{port}"
    lines = [line.strip() for line in text.splitlines()]
    assert any(line.startswith("mã thiết bị / device tokens: ") and line.endswith(" tokens")
               for line in lines), text
    # Vietnamese day names in the Vietnamese half, English ones in the English half.
    hours = next(line for line in lines if line.startswith("giờ phát số"))
    assert hours == "giờ phát số: 07:30–16:30, T2–T7 / ticket hours: 07:30–16:30, Mon–Sat"
    for app in ("kiosk", "counter --counter 1", "rate --counter 1", "display", "monitor"):
        assert any(line.endswith(f" {app} --url {url}") for line in lines), (app, text)
    assert "Ctrl+C" in lines[-1]


def test_banner_on_the_default_port_needs_no_url(sample_config, tmp_path):
    # Drawn without listening: port 8765 may well be taken on a shared machine.
    from motcua.cli import banner, build_parser
    args = build_parser().parse_args(["serve", "--ignore-hours"])
    text = "\n".join(banner(sample_config, args, tmp_path / "m.db", 8765, True))
    assert "--url" not in text and text.count(" kiosk\n") == 1
    assert " counter --counter 1\n" in text and " rate --counter 1\n" in text
    assert "  giờ phát số: mọi lúc (--ignore-hours) / ticket hours: any time\n" in text
    assert "ws://127.0.0.1:8765   (HTTP /healthz, /metrics)" in text
    args = build_parser().parse_args(["serve", "--host", "0.0.0.0"])
    text = "\n".join(banner(sample_config, args, tmp_path / "m.db", 8765, False))
    assert "ws://0.0.0.0:8765" in text and "--url" not in text  # here: 127.0.0.1:8765
    assert "other machines use its network address" in text


def test_banner_with_a_center_of_its_own_tokens(tmp_path):
    sample = resources.files("motcua.server").joinpath("sample_center.toml").read_text("utf-8")
    mine = sample.replace('kiosk = "kiosk-demo"', 'kiosk = "s3cret-kiosk-token"')
    mine = mine.replace('open_days = ["mon", "tue", "wed", "thu", "fri", "sat"]',
                        'open_days = ["mon", "wed", "fri", "sat", "sun"]')
    assert mine.count("s3cret") == 1 and '"sun"]' in mine
    center = tmp_path / "mine.toml"
    center.write_text(mine, "utf-8")
    proc, text = start(tmp_path, "--config", str(center), "--port", str(free_port()),
                       "--db", "m.db")
    stop(proc)
    assert "s3cret" not in text
    assert f"tokens --config {center} --env" in text  # how to give the apps this config's
    assert "T2, T4, T6–CN / ticket hours: 07:30–16:30, Mon, Wed, Fri–Sun" in text


def test_tokens_command(tmp_path):
    run = lambda *a: subprocess.run([*MOTCUA, "tokens", *a], cwd=tmp_path, capture_output=True,
                                    text=True, timeout=TIMEOUT)
    out = run().stdout
    for role, token in zip(("kiosk", "counter", "display", "rating", "admin"), SAMPLE_TOKENS):
        assert f"  {role:8} {token}\n" in out
    assert "chế độ demo" in out and "motcua devices add" in out
    env = run("--env").stdout.splitlines()
    assert "export MOTCUA_KIOSK_TOKEN=kiosk-demo" in env and len(env) == 5
    assert "a real center enrols each device" in run("--help").stdout.replace("\n", " ")
    bad = tmp_path / "bad.toml"
    bad.write_text("[center\n", "utf-8")
    proc = run("--config", str(bad))
    assert proc.returncode == 2 and proc.stdout == "" and "không phải TOML hợp lệ" in proc.stderr


def test_the_printed_commands_reach_the_server(tmp_path):
    """What the banner says to type is what the apps accept (their parsers)."""
    from motcua.cli import build_parser
    port = free_port()
    proc, text = start(tmp_path, "--port", str(port), "--db", "m.db")
    stop(proc)
    commands = []
    for line in text.splitlines():
        if line.startswith("    ") and "--url" in line:
            words = shlex.split(line)
            first = next(i for i, w in enumerate(words) if w in ("motcua", "motcua.cli")
                         or w.endswith("/motcua"))
            commands.append(words[first + 1:])
    assert len(commands) == 5
    parser = build_parser()
    for words in commands:
        args = parser.parse_args(words)
        assert args.url == f"ws://127.0.0.1:{port}"
