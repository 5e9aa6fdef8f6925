"""The installed distribution puts one top-level package, ``motcua``, into
site-packages: its parts (server, kiosk, …) are subpackages, so no common
name collides with another distribution's."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("server", "kiosk", "counter", "display", "printer", "reports", "sim", "monitor", "web",
         "hub")


def test_an_installed_wheel_has_only_the_motcua_package(tmp_path):
    # Built from a copy: pip builds in the source tree and would leave build/ there.
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", "venv", "build", "dist", "*.egg-info", "__pycache__", "*.db*"))
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "-w", str(wheels), str(src)],
                   check=True, capture_output=True, cwd=tmp_path)
    [wheel] = wheels.glob("motcua-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    tops = {n.split("/", 1)[0] for n in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"motcua"}
    for data in ("motcua/server/sample_center.toml", "motcua/kiosk/kiosk.tcss",
                 "motcua/display/display.tcss", "motcua/counter/counter.tcss",
                 "motcua/counter/rating.tcss", "motcua/monitor/monitor.tcss",
                 "motcua/web/ticket.js", "motcua/web/ticket.css",
                 "motcua/web/templates/app_index.html", "motcua/hub/province.tcss"):
        assert data in names

    # Install it into a folder of its own and import every part from there,
    # away from the checkout: nothing outside `motcua` may be needed.
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--target", str(target), str(wheel)], check=True, capture_output=True)
    code = (
        "import importlib, sys\n"
        f"parts = {PARTS!r}\n"
        "for p in parts:\n"
        "    m = importlib.import_module('motcua.' + p)\n"
        f"    assert m.__file__.startswith({str(target)!r}), m.__file__\n"
        "import motcua.server.app, motcua.kiosk.app, motcua.cli, motcua.web.serve\n"
        "motcua.cli.build_parser()\n"
        "for p in parts:\n"
        "    try:\n"
        "        importlib.import_module(p)\n"
        "    except ModuleNotFoundError:\n"
        "        continue\n"
        "    sys.exit('top-level ' + p + ' importable')\n"
        "from motcua.server.config import load_config\n"
        "print(load_config(None).name)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip()
