"""The Textual helpers the apps share (motcua/tui.py)."""

from __future__ import annotations

import logging
import sys

from motcua.tui import quiet_terminal_logging


def test_terminal_logging_is_moved_off_the_screen_and_restored(tmp_path):
    root = logging.getLogger()
    terminal = logging.StreamHandler(sys.stderr)
    root.addHandler(terminal)
    try:
        with quiet_terminal_logging():
            assert terminal not in root.handlers
        assert terminal in root.handlers
        log_file = tmp_path / "kiosk.log"
        with quiet_terminal_logging(str(log_file)):
            assert terminal not in root.handlers
            logging.getLogger("motcua.test").warning("máy in hết giấy")
        assert terminal in root.handlers
        assert "máy in hết giấy" in log_file.read_text("utf-8")
    finally:
        root.removeHandler(terminal)
