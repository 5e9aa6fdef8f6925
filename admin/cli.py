"""``motcua admin``: the manager's app in this terminal."""

from __future__ import annotations

import argparse
import os


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``admin`` subcommand."""
    from motcua.device_options import add_device_options

    from .app import TABS

    p = sub.add_parser("admin", help="quản trị trung tâm / the manager's app (devices, "
                                     "officers, departments, notice, today)")
    p.add_argument("--url", default=os.environ.get("MOTCUA_URL", "ws://127.0.0.1:8765"),
                   help="server address (default ws://127.0.0.1:8765)")
    p.add_argument("--token", default=os.environ.get("MOTCUA_ADMIN_TOKEN", "admin-demo"),
                   help="the demo's admin token (a real center: --secret or --enrol)")
    p.add_argument("--device", default="admin-1", help="this screen's name (demo mode)")
    p.add_argument("--tab", choices=TABS, default="devices", help="the tab to open on")
    p.add_argument("--lang", choices=("vi", "en"), default="vi",
                   help="language (default vi; F8 switches)")
    add_device_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Start the admin app."""
    from motcua.device_options import apply_device_options, client_options
    from motcua.tui import quiet_terminal_logging

    from .app import AdminApp

    apply_device_options(args)
    app = AdminApp(args.url, args.token, device=args.device, language=args.lang, tab=args.tab,
                   client_options=client_options(args))
    with quiet_terminal_logging():
        app.run()
    if app.client is not None and app.client.auth_error is not None:
        import sys

        err = app.client.auth_error.error
        print(f"{err.message} / {err.message_en}", file=sys.stderr)
        return 2
    return 0
