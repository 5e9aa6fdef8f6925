"""motcua: a queue-and-kiosk system for Vietnam's one-stop public service centers.

Installed, every part is a subpackage of ``motcua`` (``motcua.server``,
``motcua.kiosk``, …). In the repository the parts are top-level folders
beside this one; so that code run straight from a checkout (``python -m
pytest``, a script in ``bench/``) finds them under the same names, the
checkout's root joins this package's search path. An installed copy has no
``pyproject.toml`` beside it and is left alone.
"""

from pathlib import Path as _Path

_root = _Path(__file__).resolve().parent.parent
if (_root / "pyproject.toml").is_file() and (_root / "server" / "core.py").is_file():
    __path__.append(str(_root))  # type: ignore[name-defined]  # noqa: F821
del _Path, _root
