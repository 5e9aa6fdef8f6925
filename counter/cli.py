"""``motcua counter`` (the officer's console) and ``motcua rate`` (the rating pad)."""

from __future__ import annotations

import argparse
import os
import socket

from motcua.device_options import add_device_options, apply_device_options, client_options

DEFAULT_URL = "ws://127.0.0.1:8765"


def _device(kind: str, counter: int) -> str:
    return f"{kind}-{counter}@{socket.gethostname()}"


def _counter(args: argparse.Namespace) -> int:
    from motcua.client import MotcuaClient
    from motcua.tui import quiet_terminal_logging

    from .app import CounterConsole

    _identity(args)
    client = MotcuaClient(args.url, "counter", args.device or _device("counter", args.counter),
                          args.token, counter=args.counter, **client_options(args))
    with quiet_terminal_logging():
        CounterConsole(client, args.counter, args.lang).run()
    return _auth_failed(client)


def _rate(args: argparse.Namespace) -> int:
    from motcua.client import MotcuaClient
    from motcua.tui import quiet_terminal_logging

    from .rating import RatingPad

    _identity(args)
    client = MotcuaClient(args.url, "rating", args.device or _device("rating", args.counter),
                          args.token, counter=args.counter, **client_options(args))
    with quiet_terminal_logging():
        RatingPad(client, args.counter, args.lang, timeout=args.timeout).run()
    return _auth_failed(client)


def _identity(args: argparse.Namespace) -> None:
    apply_device_options(args)
    if args.counter is None:
        raise SystemExit("--counter N là bắt buộc / is required (or an --enrol code with a counter)")


def _auth_failed(client) -> int:
    # A refused hello (wrong token or counter) stops the client: say why.
    if client.auth_error is not None:
        import sys
        err = client.auth_error.error
        print(f"{err.message} / {err.message_en}", file=sys.stderr)
        return 2
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``counter`` and ``rate`` subcommands to ``motcua``."""
    url = os.environ.get("MOTCUA_URL", DEFAULT_URL)

    p = sub.add_parser("counter", help="bàn làm việc của quầy / the officer's counter console")
    p.add_argument("--url", default=url, help=f"server address (default {DEFAULT_URL})")
    p.add_argument("--token", default=os.environ.get("MOTCUA_COUNTER_TOKEN", "counter-demo"),
                   help="device token of the counter role")
    p.add_argument("--counter", type=int, help="counter number (required unless the --enrol "
                                                "code names it)")
    p.add_argument("--device", help="device name (default counter-N@host)")
    p.add_argument("--lang", choices=("vi", "en"), default="vi")
    add_device_options(p)
    p.set_defaults(func=_counter)

    p = sub.add_parser("rate", help="bàn phím đánh giá tại quầy / the citizen rating pad")
    p.add_argument("--url", default=url, help=f"server address (default {DEFAULT_URL})")
    p.add_argument("--token", default=os.environ.get("MOTCUA_RATING_TOKEN", "rating-demo"),
                   help="device token of the rating role")
    p.add_argument("--counter", type=int, help="counter number (required unless the --enrol "
                                                "code names it)")
    p.add_argument("--device", help="device name (default rating-N@host)")
    p.add_argument("--lang", choices=("vi", "en"), default="vi")
    p.add_argument("--timeout", type=float, default=60.0,
                   help="seconds before an untouched rating screen returns to idle (default 60)")
    add_device_options(p)
    p.set_defaults(func=_rate)
