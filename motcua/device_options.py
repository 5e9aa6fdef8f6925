"""The options every app takes to prove who it is and whom it talks to.

``--secret`` (or ``--secret-file``) is the device's own secret from its
enrolment (``motcua devices add`` or the admin app); ``--enrol CODE`` gives
address, name, secret, counter and certificate fingerprint in one line (the
enrolment code, also shown as a QR); ``--fingerprint`` pins the server's
certificate on ``wss://``, ``--ca`` trusts the center's CA instead. The old
``--token`` stays for the demo's shared per-role tokens.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any


def add_device_options(p: argparse.ArgumentParser) -> None:
    """Add ``--secret``, ``--secret-file``, ``--enrol``, ``--fingerprint``
    and ``--ca`` to an app's parser."""
    g = p.add_argument_group("thiết bị / device identity")
    g.add_argument("--secret", default=os.environ.get("MOTCUA_SECRET"),
                   help="this device's own secret, from its enrolment (motcua devices add, or "
                        "the admin app); env MOTCUA_SECRET")
    g.add_argument("--secret-file", default=os.environ.get("MOTCUA_SECRET_FILE"), metavar="FILE",
                   help="read the secret from FILE (keeps it out of the process list)")
    g.add_argument("--enrol", default=os.environ.get("MOTCUA_ENROL"), metavar="CODE",
                   help="the enrolment code motcua://… (address, name, secret and "
                        "certificate fingerprint in one); env MOTCUA_ENROL")
    g.add_argument("--fingerprint", default=os.environ.get("MOTCUA_FINGERPRINT"),
                   help="SHA-256 of the server's certificate, for wss:// (given at enrolment)")
    g.add_argument("--ca", default=os.environ.get("MOTCUA_CA"), metavar="FILE",
                   help="trust the center's CA file (motcua tls init) instead of a fingerprint")


def apply_device_options(args: argparse.Namespace) -> argparse.Namespace:
    """Fold the identity options into ``args.url``, ``args.token``,
    ``args.device`` (and ``args.counter`` where the app has one). Raises
    SystemExit with a plain message on a bad code, file or fingerprint."""
    from motcua.tls import normalize_fingerprint

    if getattr(args, "enrol", None):
        from motcua.server.devices import parse_enrolment

        try:
            code = parse_enrolment(args.enrol)
        except ValueError as e:
            raise SystemExit(f"--enrol: {e}") from None
        args.url = code["url"]
        args.token = code["secret"]
        args.device = code["device"]
        if code["counter"] is not None and hasattr(args, "counter") and args.counter is None:
            args.counter = code["counter"]
        if code["fingerprint"] and not args.fingerprint:
            args.fingerprint = code["fingerprint"]
    if getattr(args, "secret_file", None):
        try:
            args.token = Path(args.secret_file).read_text("utf-8").strip()
        except OSError as e:
            raise SystemExit(f"--secret-file: {e.strerror or e}") from None
    elif getattr(args, "secret", None):
        args.token = args.secret
    if getattr(args, "fingerprint", None):
        try:
            args.fingerprint = normalize_fingerprint(args.fingerprint)
        except ValueError as e:
            raise SystemExit(f"--fingerprint: {e}") from None
    return args


def client_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments for :class:`motcua.client.MotcuaClient`."""
    return {"fingerprint": getattr(args, "fingerprint", None), "ca": getattr(args, "ca", None)}
