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

DEFAULT_URL = "ws://127.0.0.1:8765"
DEFAULT_DB = "motcua.db"


def _serve(args: argparse.Namespace) -> int:
    from motcua.server.app import MotcuaServer, always_open
    from motcua.server.config import ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as e:
        print(f"Cấu hình không hợp lệ / invalid configuration ({e.source}):", file=sys.stderr)
        for path, msg in e.errors:
            print(f"  {path or '(file)'}: {msg}", file=sys.stderr)
        return 2
    if args.ignore_hours:
        config = always_open(config)
    db = Path(args.db).resolve()

    async def run() -> None:
        server = MotcuaServer(config, db, host=args.host, port=args.port,
                              public_url=args.public_url, hub=args.hub)
        await server.start()
        url = f"ws://{args.host}:{server.port}"
        print(f"motcua — {config.name}")
        print(f"  cấu hình / config : {args.config or 'trung tâm mẫu có sẵn / built-in sample center'}")
        print(f"  dữ liệu / database: {db}")
        if server.hub_url:
            from urllib.parse import urlsplit

            where = urlsplit(server.hub_url)
            print(f"  tỉnh / province hub: {where.hostname}:{where.port or 5432}{where.path}"
                  f" ({config.hub.code or 'site of the credential'})")
        print(f"  địa chỉ / listening: {url}   (HTTP /healthz, /metrics)")
        print(f"  trang vé / ticket pages: {server.web.base_url}/ve/…  (the QR on each ticket;"
              " set [web] public_url or --public-url to the address phones reach)")
        if config.web.notify:
            print(f"  nhắn tin / messages: when {config.web.notify.ahead} are ahead and when "
                  "called, through [web.notify]")
        print(f"  giờ phát số / ticket hours: {config.opens:%H:%M}–{config.last_ticket:%H:%M}"
              f" ({', '.join(config.open_days)})")
        print("  mã thiết bị / device tokens (clients send them in `hello`):")
        for role, token in config.tokens.items():
            print(f"    {role:8} {token}")
        if args.config is None:
            print("  cán bộ mẫu / sample officers: cb01…cb14, PIN 1234")
        print("Nhấn Ctrl+C để dừng / press Ctrl+C to stop.", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        print("Đang dừng / stopping…", flush=True)
        await server.stop()

    asyncio.run(run())
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
    p.add_argument("--host", default=os.environ.get("MOTCUA_HOST", "127.0.0.1"),
                   help="address to listen on (0.0.0.0 for the center's network)")
    p.add_argument("--port", type=int, default=int(os.environ.get("MOTCUA_PORT", "8765")))
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
