"""``motcua monitor``: the supervisor's live view in this terminal."""

from __future__ import annotations

import argparse
import os
import sys


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``monitor`` subcommand."""
    p = sub.add_parser("monitor", help="giám sát trung tâm / supervisor monitor")
    p.add_argument("--url", default=os.environ.get("MOTCUA_URL", "ws://127.0.0.1:8765"),
                   help="server address (default ws://127.0.0.1:8765)")
    p.add_argument("--token", default=os.environ.get("MOTCUA_ADMIN_TOKEN", "admin-demo"),
                   help="the center's admin token (default: the sample center's)")
    p.add_argument("--device", default="monitor-1", help="this screen's name")
    p.add_argument("--db", help="the server's SQLite file, read-only: whole-day figures "
                                "(default: figures since the monitor connected)")
    p.add_argument("--pause-alert", type=float, default=15.0, metavar="MINUTES",
                   help="alert when a counter is paused longer (default 15)")
    p.add_argument("--lang", choices=("vi", "en"), default="vi",
                   help="screen language (default vi; press l to switch)")
    from motcua.device_options import add_device_options

    add_device_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Start the monitor."""
    from motcua.tui import quiet_terminal_logging

    from .app import MonitorApp

    if args.db and not os.path.exists(args.db):
        print(f"Không thấy / no such database: {args.db}", file=sys.stderr)
        return 2
    from motcua.device_options import apply_device_options, client_options

    apply_device_options(args)
    app = MonitorApp(args.url, args.token, device=args.device, language=args.lang,
                     db=args.db, pause_alert=args.pause_alert * 60,
                     client_options=client_options(args))
    with quiet_terminal_logging():
        app.run()
    return 0
