"""``motcua display``: run the waiting-room monitor in this terminal."""

from __future__ import annotations

import argparse
import logging
import os
import sys

log = logging.getLogger("motcua.display")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``display`` subcommand to the ``motcua`` command."""
    p = sub.add_parser("display", help="màn hình phòng chờ / waiting-room display")
    p.add_argument("--url", default=os.environ.get("MOTCUA_URL", "ws://127.0.0.1:8765"),
                   help="server address (default ws://127.0.0.1:8765)")
    p.add_argument("--token", default=os.environ.get("MOTCUA_DISPLAY_TOKEN", "display-demo"),
                   help="the center's display token (default: the sample center's)")
    p.add_argument("--device", default="display-1", help="this display's name (default display-1)")
    p.add_argument("--voice", choices=("off", "vi", "en"), default="vi",
                   help="read each call aloud with espeak-ng (default vi)")
    p.add_argument("--chime", action=argparse.BooleanOptionalAction, default=True,
                   help="play a chime before each announcement (default on)")
    p.add_argument("--repeat", type=int, choices=(1, 2, 3), default=1,
                   help="read each call out this many times (default 1; 2 suits large halls)")
    p.add_argument("--departments", metavar="TP,KHDT",
                   help="show only these departments (default: the whole center)")
    p.add_argument("--counters", metavar="1,2,3",
                   help="show only these counters (default: all)")
    p.add_argument("--lang", choices=("vi", "en"), default="vi",
                   help="screen language (default vi; press l to switch)")
    from motcua.device_options import add_device_options

    add_device_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Start the display with the parsed options."""
    from .app import DisplayApp, DisplayOptions
    from .board import Scope
    from .voice import detect_engine

    try:
        scope = Scope.parse(args.departments, args.counters)
    except ValueError as e:
        print(f"--counters: {e}", file=sys.stderr)
        return 2
    from motcua.device_options import apply_device_options, client_options

    apply_device_options(args)
    options = DisplayOptions(url=args.url, token=args.token, device=args.device,
                             voice=args.voice, chime=args.chime, repeat=args.repeat,
                             scope=scope, language=args.lang, client=client_options(args))
    engine, note = detect_engine(args.voice, chime=args.chime)
    if engine is None and args.voice != "off":
        # Also on stderr, for whoever reads the service's log after the fact.
        print(note, file=sys.stderr)
    app = DisplayApp(options, engine=engine, voice_note=note)
    from motcua.tui import quiet_terminal_logging

    with quiet_terminal_logging():
        app.run()
    return 0
