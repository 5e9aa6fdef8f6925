"""The ``motcua`` command: one entry point for every part of the system."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from motcua.server.config import CenterConfig, ConfigError

DEFAULT_URL = "ws://127.0.0.1:8765"
DEFAULT_DB = "motcua.db"


#: The token each client sends when not told otherwise (the sample center's).
CLIENT_TOKENS = {"kiosk": "kiosk-demo", "counter": "counter-demo", "rating": "rating-demo",
                 "display": "display-demo", "admin": "admin-demo"}
#: The environment variable each client reads its token from.
TOKEN_ENV = {role: f"MOTCUA_{role.upper()}_TOKEN" for role in CLIENT_TOKENS}


def _say(key: str, **params: object) -> str:
    from motcua.server.strings import BANNER, both, pair

    return both(*pair(BANNER, key, **params))


def _cannot_start(args: argparse.Namespace, vi: str, en: str,
                  cause: BaseException | None = None) -> int:
    """One line on stderr saying why (a traceback first only with -v)."""
    from motcua.server.strings import START, both, pair

    if cause is not None and args.verbose:
        import traceback
        traceback.print_exception(cause)
    print(both(*pair(START, "line", vi=vi, en=en)), file=sys.stderr, flush=True)
    return 1


def _config_line(e: ConfigError) -> tuple[str, str]:
    from motcua.server.strings import START, pair

    path, vi_msg, en_msg = e.details[0]
    more = len(e.details) - 1
    more_vi, more_en = pair(START, "config_more", n=more,
                            command=_command("config", "check", e.source)) if more else ("", "")
    return pair(START, "config", source=e.source, where=f"{path}: " if path else "",
                vi_msg=vi_msg, en_msg=en_msg, more_vi=more_vi, more_en=more_en)


def _command(*words: str) -> str:
    """How to type a motcua command here: ``motcua …`` if it is on PATH."""
    import shlex
    import shutil

    typed = sys.argv[0] if Path(sys.argv[0]).name == "motcua" else None
    on_path = shutil.which("motcua")
    if on_path and (typed is None or Path(on_path).resolve() == Path(typed).resolve()):
        me = ["motcua"]
    elif typed:
        me = [typed]  # as the person typed it, e.g. .venv/bin/motcua
    else:
        me = [sys.executable, "-m", "motcua.cli"]
    return shlex.join([*me, *words])


def client_url(host: str, port: int, scheme: str = "ws") -> str:
    """The address clients on this machine connect to."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


def app_commands(config: CenterConfig, url: str) -> list[str]:
    """The command that starts each client against a server at ``url``."""
    first = str(config.counters[0].number) if config.counters else "1"
    extra = [] if url == DEFAULT_URL else ["--url", url]
    return [_command("kiosk", *extra), _command("counter", "--counter", first, *extra),
            _command("rate", "--counter", first, *extra), _command("display", *extra),
            _command("monitor", *extra)]


def banner(config: CenterConfig, args: argparse.Namespace, db: Path, port: int,
           hours_lifted: bool, scheme: str = "ws") -> list[str]:
    """What ``motcua serve`` prints once it listens: never a token."""
    from motcua.server.strings import BANNER, both, day_names, pair

    listen_host = f"[{args.host}]" if ":" in args.host else args.host
    url = client_url(args.host, port, scheme)
    config_words = ["--config", args.config] if args.config else []
    lines = [f"motcua — {config.name}"]
    source = args.config or both(*BANNER["sample_center"])
    lines.append(f"  {both(*BANNER['config'])}: {source}")
    lines.append(f"  {both(*BANNER['database'])}: {db}")
    where = f"{scheme}://{listen_host}:{port}   (HTTP /healthz, /metrics)"
    if args.host in ("", "0.0.0.0", "::"):
        where += f"\n      ({both(*BANNER['every_address'])})"
    lines.append(f"  {both(*BANNER['listening'])}: {where}")
    hours = f"{config.opens:%H:%M}–{config.last_ticket:%H:%M}"
    vi_days, en_days = day_names(config.open_days)
    vi, en = pair(BANNER, "hours_lifted" if hours_lifted else "hours", hours=hours,
                  days=(vi_days, en_days))
    lines.append(f"  {vi} / {en}")
    lines.append(f"  {both(*BANNER['tokens'])}: {_command('tokens', *config_words)}")
    if any(config.tokens.get(role) != token for role, token in CLIENT_TOKENS.items()):
        env = f'eval "$({_command("tokens", *config_words, "--env")})"'
        lines.append(f"  {both(*BANNER['tokens_env'])}:\n    {env}")
    if args.config is None:
        lines.append("  " + both(*BANNER["sample_officers"]))
    lines.append(both(*BANNER["apps"]) + ":")
    lines += [f"    {cmd}" for cmd in app_commands(config, url)]
    lines.append(both(*BANNER["stop"]))
    return lines


def server_lines(server: Any, fingerprint: str | None, db_arg: str) -> list[str]:
    """The banner's lines about the stored configuration, the province hub,
    TLS, the citizens' pages, enrolled devices and demo mode."""
    config = server.config
    lines = [f"  phiên bản cấu hình / configuration version: {server.core.live_config().version}"
             " (lưu trong cơ sở dữ liệu / stored in the database)"]
    if server.config_notice:
        lines.append(f"  ! {server.config_notice}")
    if fingerprint:
        from motcua.tls import pretty

        lines.append(f"  TLS: chứng chỉ / certificate SHA-256 {pretty(fingerprint)}")
    if server.hub_url:
        from urllib.parse import urlsplit

        where = urlsplit(server.hub_url)
        lines.append(f"  tỉnh / province hub: {where.hostname}:{where.port or 5432}{where.path}"
                     f" ({config.hub.code or 'mã trong thông tin đăng nhập / site of the credential'})")
    lines.append(f"  trang vé / ticket pages: {server.web.base_url}/ve/…  (mã QR trên vé / the QR "
                 "on each ticket; [web] public_url / --public-url)")
    if config.web.notify:
        lines.append(f"  nhắn tin / messages: {config.web.notify.ahead} người trước / ahead, "
                     "khi được gọi / when called ([web.notify])")
    if config.booking.capacity:
        depts = ", ".join(c.department for c in config.booking.capacity)
        api = getattr(server, "api", None)
        where = (f"API {'https' if server.tls else 'http'}://{server.host}:{api.port}/api/bookings"
                 if api is not None else "--api-port")
        lines.append(f"  đặt lịch / bookings: {depts} ({where}; "
                     f"{_command('bookings', 'import', 'FILE', '--db', db_arg)})")
    lines.append(f"  thiết bị đã đăng ký / enrolled devices: {len(server.devices)}"
                 f" ({_command('devices', 'add', 'ROLE', 'NAME', '--db', db_arg)}); "
                 f"quản lý / managers: {len(server.managers)}"
                 f" ({_command('managers', 'add', 'ID', '--db', db_arg)})")
    if server.demo:
        lines.append("  !! CHẾ ĐỘ DEMO / DEMO MODE: mọi thiết bị của một vai trò dùng chung một mã, "
                     "tên thiết bị không được xác minh — không dùng cho trung tâm thật / shared "
                     "per-role tokens, device names unproven — not for a real center")
    return lines


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _serve(args: argparse.Namespace) -> int:
    from motcua.server.app import MotcuaServer, StartError
    from motcua.server.config import ConfigError, load_config
    from motcua.server.strings import START, pair

    try:
        config = load_config(args.config)
    except ConfigError as e:
        _cannot_start(args, *_config_line(e), e)
        return 2
    demo = config.demo or args.demo
    tls = fingerprint = None
    if bool(args.tls_cert) != bool(args.tls_key):
        _cannot_start(args, "--tls-cert và --tls-key phải đi cùng nhau",
                      "--tls-cert and --tls-key go together")
        return 2
    if args.tls_cert:
        from motcua.server.tls import cert_fingerprint, server_context

        try:
            tls = server_context(args.tls_cert, args.tls_key)
            fingerprint = cert_fingerprint(args.tls_cert)
        except (OSError, ValueError) as e:
            _cannot_start(args, f"không dùng được chứng chỉ TLS: {e}",
                          f"cannot use the TLS certificate: {e}", e)
            return 2
    elif not demo and not _is_loopback(args.host) and not args.insecure_plain:
        _cannot_start(
            args, f"mạng của trung tâm cần mã hóa: nghe trên {args.host} cần --tls-cert/--tls-key "
                  "(tạo bằng `motcua tls init`), hoặc --insecure-plain nếu đã có lớp mã hóa khác",
            f"listening on {args.host} needs TLS: give --tls-cert/--tls-key (make them with "
            "`motcua tls init`), or --insecure-plain when something else encrypts")
        return 2
    db = Path(args.db).resolve()

    async def run() -> None:
        # Handlers first: a Ctrl+C at any moment ends in a clean stop (an
        # interrupted asyncio.run would leave the database thread running).
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        server = MotcuaServer(config, db, host=args.host, port=args.port,
                              public_url=args.public_url, hub=args.hub, demo=demo,
                              ignore_hours=args.ignore_hours, prefer_file=args.from_file,
                              tls=tls, tls_fingerprint=fingerprint, api_port=args.api_port)
        await server.start()
        try:
            lines = banner(server.config, args, db, server.port, args.ignore_hours,
                           scheme=server.scheme)
            lines[3:3] = server_lines(server, fingerprint, args.db)
            print("\n".join(lines), flush=True)
            await stop.wait()
            print(_say("stopping"), flush=True)
        finally:
            await server.stop()

    try:
        asyncio.run(run())
    except StartError as e:
        return _cannot_start(args, e.message, e.message_en, e)
    except KeyboardInterrupt:  # Ctrl+C before the signal handlers were set
        return 130
    except Exception as e:
        return _cannot_start(args, *pair(START, "unexpected", reason=f"{type(e).__name__}: {e}"),
                             e)
    return 0


def _tokens(args: argparse.Namespace) -> int:
    import shlex

    from motcua.server.config import ConfigError, load_config
    from motcua.server.strings import BANNER, both, pair

    try:
        config = load_config(args.config)
    except ConfigError as e:
        print(f"{e.source}: {e}", file=sys.stderr)
        return 2
    if args.env:
        for role, token in config.tokens.items():
            if role in TOKEN_ENV:
                print(f"export {TOKEN_ENV[role]}={shlex.quote(token)}")
        return 0
    source = args.config or BANNER["sample_center"]
    print(both(*pair(BANNER, "tokens_title", source=source)) + ":")
    for role, token in config.tokens.items():
        print(f"  {role:8} {token}")
    print(both(*BANNER["tokens_demo"]))
    return 0


def _manage(args: argparse.Namespace, job) -> Any:
    """Run ``job(manage)`` on the database file."""
    from motcua.server.manage import Manage

    async def go() -> Any:
        async with Manage(args.db) as m:
            return await job(m)
    return asyncio.run(go())


def _print_qr(text: str) -> None:
    import io

    import qrcode

    qr = qrcode.QRCode(border=2, error_correction=qrcode.constants.ERROR_CORRECT_L)
    qr.add_data(text)
    out = io.StringIO()
    qr.print_ascii(out=out, invert=True)
    print(out.getvalue())


def _devices_add(args: argparse.Namespace) -> int:
    async def job(m):
        return await m.enrol(args.role, args.name, args.counter, args.url)
    r = _manage(args, job)
    d = r["device"]
    print(f"Đã đăng ký / enrolled: {d['role']} {d['name']}"
          + (f" (quầy / counter {d['counter']})" if d["counter"] is not None else ""))
    print(f"  mã bí mật / secret : {r['secret']}")
    if r["fingerprint"]:
        from motcua.tls import pretty

        print(f"  chứng chỉ / server certificate SHA-256: {pretty(r['fingerprint'])}")
    print(f"  mã đăng ký / enrolment code (--enrol):\n    {r['enrolment']}")
    if not args.no_qr:
        _print_qr(r["enrolment"])
    print("Mã bí mật chỉ hiện một lần; máy chủ chỉ giữ bản băm của nó. / The secret is shown "
          "once: the server keeps only its hash.")
    print(f"Trên thiết bị / on the device:  motcua {_app_of(d['role'])} --enrol '{r['enrolment']}'")
    return 0


def _app_of(role: str) -> str:
    return {"kiosk": "kiosk", "counter": "counter", "display": "display", "rating": "rate",
            "admin": "admin"}[role]


def _devices_list(args: argparse.Namespace) -> int:
    from datetime import datetime

    async def job(m):
        return (await m.devices()).views()
    rows = _manage(args, job)
    if not rows:
        print("Chưa có thiết bị nào / no device enrolled")
        return 0

    def when(t: float | None) -> str:
        return datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M") if t else "–"
    print(f"{'tên / name':20} {'vai trò / role':10} {'quầy':5} {'lần cuối / last seen':17} "
          f"{'địa chỉ / address':16} trạng thái / status")
    for d in rows:
        status = (f"THU HỒI / REVOKED {when(d['revoked_at'])} {d['revoked_by'] or ''}"
                  if d["revoked"] else "hoạt động / active")
        print(f"{d['name']:20} {d['role']:10} {d['counter'] or '':5} {when(d['last_seen']):17} "
              f"{d['last_address'] or '–':16} {status}")
    return 0


def _devices_revoke(args: argparse.Namespace) -> int:
    async def job(m):
        return await m.revoke(args.name, args.reason)
    d = _manage(args, job)
    print(f"Đã thu hồi / revoked: {d['role']} {d['name']} — refused from now on (a running "
          "server closes its connections within a second)")
    return 0


def _bookings_import(args: argparse.Namespace) -> int:
    from motcua.server import booking as bk

    try:
        text = Path(args.file).read_text("utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        print(f"Không đọc được tệp {args.file} / cannot read {args.file}: {e}", file=sys.stderr)
        return 2
    kind = args.format or ({".csv": "csv", ".json": "json"}.get(Path(args.file).suffix.lower()))

    async def job(m):
        return await m.import_bookings(text, kind, args.source)
    try:
        r = _manage(args, job)
    except bk.BookingFileError as e:
        print(f"{args.file}: {e.message} / {e.message_en}", file=sys.stderr)
        return 2
    except bk.BookingsInvalid as e:
        for p in e.problems:
            print(f"{args.file}: {p.message} / {p.message_en}", file=sys.stderr)
        print(f"{len(e.problems)} lỗi; không lịch hẹn nào được nhập. / {len(e.problems)} "
              "problems; nothing was imported.", file=sys.stderr)
        return 1
    print(f"Đã nhập {r['added']} lịch hẹn ({r['unchanged']} đã có, không đổi). / Imported "
          f"{r['added']} bookings ({r['unchanged']} already there, unchanged).")
    for b in r["bookings"]:
        print(f"  {b['code']}  {b['day']} {b['slot']}  {b['department']:6} {b['procedure']}")
    return 0


def _bookings_list(args: argparse.Namespace) -> int:
    async def job(m):
        return await m.bookings(args.day)
    rows = _manage(args, job)
    if not rows:
        print(f"Không có lịch hẹn ngày {args.day or 'hôm nay'} / no bookings on "
              f"{args.day or 'today'}")
        return 0
    for b in rows:
        print(f"{b['slot']}  {b['code']:10} {b['department']:6} {b['procedure']:8} "
              f"{b['status']:10} {b['name']}")
    return 0


def _ask_password(args: argparse.Namespace) -> str:
    from motcua.server.accounts import password_problem

    if getattr(args, "password_stdin", False):
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Mật khẩu / password: ")
        if getpass.getpass("Nhập lại / again: ") != password:
            raise SystemExit("Hai lần nhập không khớp / the two entries differ")
    problem = password_problem(password)
    if problem:
        raise SystemExit(f"Mật khẩu không dùng được / unusable password: {problem}")
    return password


def _managers_add(args: argparse.Namespace) -> int:
    password = _ask_password(args)

    async def job(m):
        return await m.add_manager(args.id, args.name or args.id, password)
    v = _manage(args, job)
    print(f"Đã tạo tài khoản quản lý / manager account made: {v['id']} ({v['name']})")
    return 0


def _managers_list(args: argparse.Namespace) -> int:
    async def job(m):
        return (await m.managers()).views()
    for v in _manage(args, job):
        print(f"{v['id']:20} {v['name']:30} {'VÔ HIỆU / DISABLED' if v['disabled'] else ''}")
    return 0


def _managers_update(args: argparse.Namespace) -> int:
    password = _ask_password(args) if args.manager_command == "passwd" else None
    disabled = {"disable": True, "enable": False}.get(args.manager_command)

    async def job(m):
        return await m.update_manager(args.id, password=password, disabled=disabled)
    v = _manage(args, job)
    print(f"{v['id']}: {'vô hiệu / disabled' if v['disabled'] else 'hoạt động / active'}"
          + (" — mật khẩu mới / new password" if password else ""))
    return 0


def _config_export(args: argparse.Namespace) -> int:
    async def job(m):
        return await m.export(args.version)
    text = _manage(args, job)
    if args.out and args.out != "-":
        Path(args.out).write_text(text, "utf-8")
        print(f"Đã ghi / written: {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _config_history(args: argparse.Namespace) -> int:
    import json
    from datetime import datetime

    async def job(m):
        return await m.history(args.limit)
    for v in _manage(args, job):
        change = dict(v["change"] or {})
        kind = change.pop("kind", "?")
        print(f"v{v['version']:<4} {datetime.fromtimestamp(v['at']):%Y-%m-%d %H:%M}  "
              f"{v['by'] or 'tự động / scheduled':14} {kind:24} "
              f"{json.dumps(change, ensure_ascii=False)}"
              + (f"  — {v['reason']}" if v["reason"] else ""))
    return 0


def _tls_init(args: argparse.Namespace) -> int:
    from motcua.server.tls import init_center_tls
    from motcua.tls import pretty

    r = init_center_tls(args.dir, args.host, args.name)
    print(f"CA của trung tâm / center CA: {r['ca']} (khóa / key {r['ca_key']}: cất riêng / keep "
          "it apart)")
    print(f"Chứng chỉ máy chủ / server certificate: {r['cert']}, khóa / key {r['key']}")
    print(f"  SHA-256: {pretty(r['fingerprint'])}")
    print(f"Chạy / run:  motcua serve --host 0.0.0.0 --tls-cert {r['cert']} --tls-key {r['key']}")
    return 0


def _config_check(args: argparse.Namespace) -> int:
    from motcua.server.config import ConfigError, load_config

    try:
        config = load_config(args.file)
    except ConfigError as e:
        print(f"{args.file}: {len(e.errors)} lỗi / error(s)")
        for path, msg in e.errors:
            print(f"  {path or '(file)'}: {msg}")
        return 1
    n_proc = sum(len(d.procedures) for d in config.departments)
    print(f"{args.file}: hợp lệ / valid — {config.name}: {len(config.departments)} lĩnh vực / "
          f"departments, {n_proc} thủ tục / procedures, {len(config.counters)} quầy / counters, "
          f"{len(config.officers)} cán bộ / officers")
    return 0


def _hash_pin(args: argparse.Namespace) -> int:
    from motcua.server.config import hash_pin

    pin = args.pin or getpass.getpass("PIN: ")
    if not pin.isdigit() or not 4 <= len(pin) <= 12:
        print("PIN phải gồm 4–12 chữ số / a PIN is 4–12 digits", file=sys.stderr)
        return 2
    print(hash_pin(pin))
    return 0


def _print_preview(args: argparse.Namespace) -> int:
    # Imported here: python-escpos is slow to import and configures logging.
    from motcua.printer.cli import run

    return run(args)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (subcommands register here)."""
    parser = argparse.ArgumentParser(
        prog="motcua", description="Hệ thống xếp hàng một cửa / one-stop queue system")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="chạy máy chủ / run the queue server")
    p.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                   help="log more, and show the traceback of a failed start")
    p.add_argument("--host", default=os.environ.get("MOTCUA_HOST", "127.0.0.1"),
                   help="address to listen on (0.0.0.0 for the center's network)")
    # A string default goes through type=int too: a bad MOTCUA_PORT is a usage error.
    p.add_argument("--port", type=int, default=os.environ.get("MOTCUA_PORT", "8765"))
    p.add_argument("--db", default=os.environ.get("MOTCUA_DB", DEFAULT_DB),
                   help=f"SQLite database file (default {DEFAULT_DB})")
    p.add_argument("--config", default=os.environ.get("MOTCUA_CONFIG"),
                   help="center TOML file (default: built-in sample center)")
    p.add_argument("--ignore-hours", action="store_true",
                   help="issue tickets at any hour (demos, tests)")
    p.add_argument("--public-url", default=os.environ.get("MOTCUA_PUBLIC_URL"),
                   help="the address citizens' phones reach this server at, for the ticket "
                        "QR (default: [web] public_url, else http://HOST:PORT)")
    p.add_argument("--hub", default=os.environ.get("MOTCUA_HUB"), metavar="URL",
                   help="ship the event log to the province hub at this PostgreSQL URL "
                        "(the site's credential from `motcua hub add-site`; or [hub] url)")
    p.add_argument("--from-file", action="store_true",
                   help="the center file wins over the configuration stored in the database "
                        "(stored as a new version); by default the database's wins")
    p.add_argument("--demo", action="store_true",
                   help="demo mode with a center file: accept the shared [devices] tokens "
                        "(implied for the built-in sample center)")
    p.add_argument("--tls-cert", default=os.environ.get("MOTCUA_TLS_CERT"), metavar="FILE",
                   help="serve wss:// with this certificate (chain) file (motcua tls init)")
    p.add_argument("--tls-key", default=os.environ.get("MOTCUA_TLS_KEY"), metavar="FILE",
                   help="the certificate's private key")
    p.add_argument("--insecure-plain", action="store_true",
                   help="allow plain ws:// on a non-loopback address (only when something "
                        "else encrypts the network)")
    p.add_argument("--api-port", type=int, default=os.environ.get("MOTCUA_API_PORT"),
                   help="also serve the bookings API (HTTP, a manager's account) on this port")
    p.set_defaults(func=_serve)

    p = sub.add_parser("config", help="cấu hình / configuration tools")
    csub = p.add_subparsers(dest="config_command", required=True)
    c = csub.add_parser("check", help="validate a center file")
    c.add_argument("file")
    c.set_defaults(func=_config_check)
    db_default = os.environ.get("MOTCUA_DB", DEFAULT_DB)
    c = csub.add_parser("export", help="write the configuration in force as a center file")
    c.add_argument("--db", default=db_default, help=f"the server's database (default {DEFAULT_DB})")
    c.add_argument("--out", "-o", help="file to write (default: standard output)")
    c.add_argument("--version", type=int, help="an earlier version (see config history)")
    c.set_defaults(func=_config_export)
    c = csub.add_parser("history", help="the configuration's versions: who changed what, when")
    c.add_argument("--db", default=db_default)
    c.add_argument("--limit", type=int, default=50)
    c.set_defaults(func=_config_history)

    p = sub.add_parser("devices", help="thiết bị / enrol, list and revoke devices")
    dsub = p.add_subparsers(dest="devices_command", required=True)
    d = dsub.add_parser("add", help="enrol a device: its own secret, shown once (and as a QR)")
    d.add_argument("role", choices=("kiosk", "counter", "display", "rating", "admin"))
    d.add_argument("name", help="the device's name, e.g. sanh-1 (letters, digits, . _ -)")
    d.add_argument("--counter", type=int, help="the counter a console or rating pad sits at")
    d.add_argument("--url", help="the address devices reach the server at (default: the one "
                                 "the server last announced)")
    d.add_argument("--no-qr", action="store_true", help="do not draw the QR code")
    d.add_argument("--db", default=db_default)
    d.set_defaults(func=_devices_add)
    d = dsub.add_parser("list", help="every device, its last connection and address")
    d.add_argument("--db", default=db_default)
    d.set_defaults(func=_devices_list)
    d = dsub.add_parser("revoke", help="refuse a device from now on (also its open connection)")
    d.add_argument("name")
    d.add_argument("--reason", help="why (kept in the event log)")
    d.add_argument("--db", default=db_default)
    d.set_defaults(func=_devices_revoke)

    p = sub.add_parser("bookings", help="lịch hẹn / appointments: import, list")
    bsub = p.add_subparsers(dest="bookings_command", required=True)
    b = bsub.add_parser("import", help="import bookings from a CSV or JSON file (all rows or "
                                       "none: every bad row is named)")
    b.add_argument("file")
    b.add_argument("--db", default=os.environ.get("MOTCUA_DB", DEFAULT_DB))
    b.add_argument("--format", choices=("csv", "json"), help="default: from the file's name")
    b.add_argument("--source", default="file", help="where they come from, for the records")
    b.set_defaults(func=_bookings_import)
    b = bsub.add_parser("list", help="a day's bookings")
    b.add_argument("--db", default=os.environ.get("MOTCUA_DB", DEFAULT_DB))
    b.add_argument("--day", help="YYYY-MM-DD (default today)")
    b.set_defaults(func=_bookings_list)

    p = sub.add_parser("managers", help="tài khoản quản lý / managers' accounts")
    msub = p.add_subparsers(dest="manager_command", required=True)
    m = msub.add_parser("add", help="a manager account (ID and password)")
    m.add_argument("id")
    m.add_argument("--name", help="the manager's full name")
    m.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    m.add_argument("--db", default=db_default)
    m.set_defaults(func=_managers_add)
    m = msub.add_parser("list", help="every manager account")
    m.add_argument("--db", default=db_default)
    m.set_defaults(func=_managers_list)
    for name, text in (("passwd", "set a new password"), ("disable", "refuse the account"),
                       ("enable", "accept the account again")):
        m = msub.add_parser(name, help=text)
        m.add_argument("id")
        if name == "passwd":
            m.add_argument("--password-stdin", action="store_true")
        m.add_argument("--db", default=db_default)
        m.set_defaults(func=_managers_update)

    p = sub.add_parser("tls", help="chứng chỉ / the center's certificates for wss")
    tsub = p.add_subparsers(dest="tls_command", required=True)
    t = tsub.add_parser("init", help="make a center CA (once) and a server certificate")
    t.add_argument("--dir", default="tls", help="folder for the files (default tls/)")
    t.add_argument("--host", action="append", required=True,
                   help="an address devices use for the server (IP or name; repeat)")
    t.add_argument("--name", default="motcua", help="the center's name in the certificates")
    t.set_defaults(func=_tls_init)

    p = sub.add_parser(
        "tokens", help="in mã thiết bị / print the device tokens",
        description="In mã thiết bị của từng vai trò (kiosk, counter, display, rating, admin) "
                    "trong cấu hình. / Print each role's device token from the center file. "
                    "Mã chung của vai trò chỉ dùng ở chế độ demo; trung tâm thật đăng ký từng thiết bị "
                    "(motcua devices add). / The shared role tokens work only in demo mode; a "
                    "real center enrols each device (motcua devices add).")
    p.add_argument("--config", default=os.environ.get("MOTCUA_CONFIG"),
                   help="center TOML file (default: built-in sample center)")
    p.add_argument("--env", action="store_true",
                   help="print shell `export MOTCUA_<ROLE>_TOKEN=…` lines for the clients "
                        "(eval \"$(motcua tokens --env)\")")
    p.set_defaults(func=_tokens)

    p = sub.add_parser("print-preview", help="write a PNG of the ticket a kiosk prints",
                       description="Write a PNG of the ticket a kiosk of this center prints, "
                                   "drawn from the very ESC/POS bytes it sends.")
    from motcua.printer.cli import add_arguments

    add_arguments(p)
    p.set_defaults(func=_print_preview)

    p = sub.add_parser("hash-pin", help="hash an officer PIN for the center file")
    p.add_argument("pin", nargs="?", help="the PIN (asked for when omitted)")
    p.set_defaults(func=_hash_pin)

    _register_apps(sub)
    return parser


def _register_apps(sub: argparse._SubParsersAction) -> None:
    """Subcommands of the terminal apps, each in its own package."""
    import importlib

    for module in ("motcua.kiosk.cli", "motcua.counter.cli", "motcua.display.cli",
                   "motcua.reports.cli", "motcua.sim.cli",
                   "motcua.monitor.cli", "motcua.admin.cli", "motcua.demo", "motcua.web.cli", "motcua.hub.cli"):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            # An app package not installed here is skipped; a missing
            # dependency inside an installed one is a real error.
            if e.name is None or not module.startswith(e.name):
                raise
            continue
        register = getattr(mod, "register", None)
        if register is not None:
            register(sub)


def main(argv: list[str] | None = None) -> int:
    """Run the ``motcua`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
