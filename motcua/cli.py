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


def client_url(host: str, port: int) -> str:
    """The address clients on this machine connect to."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"ws://[{host}]:{port}" if ":" in host else f"ws://{host}:{port}"


def app_commands(config: CenterConfig, url: str) -> list[str]:
    """The command that starts each client against a server at ``url``."""
    first = str(config.counters[0].number) if config.counters else "1"
    extra = [] if url == DEFAULT_URL else ["--url", url]
    return [_command("kiosk", *extra), _command("counter", "--counter", first, *extra),
            _command("rate", "--counter", first, *extra), _command("display", *extra),
            _command("monitor", *extra)]


def banner(config: CenterConfig, args: argparse.Namespace, db: Path, port: int,
           hours_lifted: bool) -> list[str]:
    """What ``motcua serve`` prints once it listens: never a token."""
    from motcua.server.strings import BANNER, both, day_names, pair

    listen_host = f"[{args.host}]" if ":" in args.host else args.host
    url = client_url(args.host, port)
    config_words = ["--config", args.config] if args.config else []
    lines = [f"motcua — {config.name}"]
    source = args.config or both(*BANNER["sample_center"])
    lines.append(f"  {both(*BANNER['config'])}: {source}")
    lines.append(f"  {both(*BANNER['database'])}: {db}")
    where = f"ws://{listen_host}:{port}   (HTTP /healthz, /metrics)"
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


def server_lines(server: Any, config: CenterConfig) -> list[str]:
    """The banner's lines about the province hub and the citizens' pages."""
    lines = []
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
    return lines


def _serve(args: argparse.Namespace) -> int:
    from motcua.server.app import MotcuaServer, StartError, always_open
    from motcua.server.config import ConfigError, load_config
    from motcua.server.strings import START, pair

    try:
        config = load_config(args.config)
    except ConfigError as e:
        _cannot_start(args, *_config_line(e), e)
        return 2
    hours = config
    if args.ignore_hours:
        config = always_open(config)
    db = Path(args.db).resolve()

    async def run() -> None:
        # Handlers first: a Ctrl+C at any moment ends in a clean stop (an
        # interrupted asyncio.run would leave the database thread running).
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        server = MotcuaServer(config, db, host=args.host, port=args.port,
                              public_url=args.public_url, hub=args.hub)
        await server.start()
        try:
            lines = banner(hours, args, db, server.port, args.ignore_hours)
            lines[3:3] = server_lines(server, config)
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
    print(both(*BANNER["tokens_soon"]))
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
    p.set_defaults(func=_serve)

    p = sub.add_parser("config", help="cấu hình / configuration tools")
    csub = p.add_subparsers(dest="config_command", required=True)
    c = csub.add_parser("check", help="validate a center file")
    c.add_argument("file")
    c.set_defaults(func=_config_check)

    p = sub.add_parser(
        "tokens", help="in mã thiết bị / print the device tokens",
        description="In mã thiết bị của từng vai trò (kiosk, counter, display, rating, admin) "
                    "trong cấu hình. / Print each role's device token from the center file. "
                    "Sắp có / coming: per-device secrets (a secret for each device instead of "
                    "one token shared by a role).")
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
                   "motcua.monitor.cli", "motcua.demo", "motcua.web.cli", "motcua.hub.cli"):
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
