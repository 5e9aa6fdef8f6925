"""A real PostgreSQL for the hub's embedded default and the tests.

The binaries come from the ``pgserver`` wheel (PostgreSQL 16, no system
install needed). Unlike ``pgserver``'s own launcher, which listens on a Unix
socket only and trusts everybody, this one listens on TCP (127.0.0.1 by
default, any port) with password authentication (SCRAM), as a production
server would: sites then connect exactly as they will to the province's
real PostgreSQL, with their own role and password.

PostgreSQL refuses to run as root; as root the cluster runs as the system
user ``pgserver`` (created if missing, as ``pgserver`` itself does).
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

log = logging.getLogger("motcua.hub.embedded")

SYSTEM_USER = "pgserver"
SUPERUSER = "postgres"
PASSWORD_FILE = "motcua-superuser-password"


def bin_dir() -> Path:
    """Where the bundled PostgreSQL programs are (raises if pgserver is missing)."""
    import importlib.util

    # Located, not imported: importing pgserver sets up its own launcher
    # (lock files, runtime folders) that we don't use.
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded hub needs the pgserver package "
                           "(pip install pgserver), or use a real PostgreSQL URL")
    path = Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"
    if not (path / "postgres").exists():
        raise RuntimeError(f"pgserver has no PostgreSQL programs at {path}")
    return path


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class EmbeddedPostgres:
    """One PostgreSQL cluster in ``datadir``, listening on ``host:port``.

    ``start()`` initialises the cluster on first use (superuser ``postgres``
    with a random password kept in the data folder, readable by its owner
    only) and starts it; ``stop()`` shuts it down cleanly; ``kill()`` kills
    the server processes outright (a crash, for tests)."""

    def __init__(self, datadir: str | Path, port: int = 0, host: str = "127.0.0.1",
                 max_connections: int = 400, shared_buffers: str = "256MB") -> None:
        self.datadir = Path(datadir).resolve()
        self.max_connections = max_connections
        self.shared_buffers = shared_buffers
        self.host = host
        self.port = port
        self._user: str | None = None
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            self._user = SYSTEM_USER

    # --- urls -----------------------------------------------------------

    @property
    def password(self) -> str:
        return (self.datadir / PASSWORD_FILE).read_text().strip()

    def url(self, database: str = "postgres", user: str = SUPERUSER,
            password: str | None = None) -> str:
        """A connection URL (the superuser's by default)."""
        pw = self.password if password is None and user == SUPERUSER else password
        auth = quote(user, safe="") + (f":{quote(pw, safe='')}" if pw else "")
        return f"postgresql://{auth}@{self.host}:{self.port}/{database}"

    # --- lifecycle ------------------------------------------------------

    def _run(self, program: str, *args: str, timeout: float = 60) -> str:
        cmd = [str(bin_dir() / program), *args]
        ids: dict = {}
        if self._user is not None:
            # Its own group too, not root's: root's group would get the
            # group bits of root-owned folders (often none) instead of other's.
            import pwd

            entry = pwd.getpwnam(self._user)
            ids = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd="/",
                             **ids)
        if res.returncode != 0:
            raise RuntimeError(f"{program} failed ({res.returncode}): {res.stderr.strip()}")
        return res.stdout

    def _prepare_dirs(self) -> None:
        self.datadir.mkdir(parents=True, exist_ok=True)
        if self._user is None:
            return
        import pwd

        try:
            entry = pwd.getpwnam(self._user)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin",
                            self._user], check=True, capture_output=True)
            entry = pwd.getpwnam(self._user)
        os.chown(self.datadir, entry.pw_uid, entry.pw_gid)
        # The server's user must be able to reach its folder (traverse only).
        for parent in self.datadir.parents:
            mode = parent.stat().st_mode
            if not mode & stat.S_IXOTH:
                log.warning("letting other users traverse %s (for the PostgreSQL user)", parent)
                parent.chmod(mode | stat.S_IXOTH)

    def initialised(self) -> bool:
        return (self.datadir / "PG_VERSION").exists()

    def init(self) -> None:
        """Create the cluster (once)."""
        self._prepare_dirs()
        if self.initialised():
            return
        pwfile = self.datadir.parent / f".{self.datadir.name}.pw"
        password = secrets.token_urlsafe(18)
        pwfile.write_text(password + "\n")
        try:
            if self._user is not None:
                shutil.chown(pwfile, self._user)
            pwfile.chmod(0o600)
            self._run("initdb", "-D", str(self.datadir), "-U", SUPERUSER,
                      f"--pwfile={pwfile}", "--auth-local=scram-sha-256",
                      "--auth-host=scram-sha-256", "--encoding=UTF8", "--locale=C.UTF-8",
                      "--no-instructions", timeout=120)
        finally:
            pwfile.unlink(missing_ok=True)
        path = self.datadir / PASSWORD_FILE
        path.write_text(password + "\n")
        path.chmod(0o600)
        if self._user is not None:
            shutil.chown(path, self._user)

    def start(self) -> "EmbeddedPostgres":
        """Initialise if needed and start the server (waits until it accepts
        connections)."""
        self.init()
        if self.running():
            self.port = self._port_from_pid() or self.port
            return self
        if not self.port:
            self.port = free_port(self.host)
        # Every site holds one connection (a province: 100+ sites), plus
        # readers and the dashboard: PostgreSQL's default of 100 is too few.
        opts = (f"-c listen_addresses={self.host} -p {self.port} "
                f"-c unix_socket_directories='' -c fsync=on -c max_connections={self.max_connections} "
                f"-c shared_buffers={self.shared_buffers}")
        self._run("pg_ctl", "-D", str(self.datadir), "-w", "-t", "60", "-o", opts,
                  "-l", str(self.datadir / "server.log"), "start", timeout=90)
        return self

    def _pidfile(self) -> list[str] | None:
        try:
            return (self.datadir / "postmaster.pid").read_text().splitlines()
        except OSError:
            return None

    def _port_from_pid(self) -> int | None:
        lines = self._pidfile()
        try:
            return int(lines[3]) if lines else None
        except (IndexError, ValueError):
            return None

    def pid(self) -> int | None:
        lines = self._pidfile()
        try:
            return int(lines[0]) if lines else None
        except ValueError:
            return None

    def running(self) -> bool:
        pid = self.pid()
        return pid is not None and _alive(pid)

    def stop(self, mode: str = "fast") -> None:
        """Shut the server down (``fast``: roll back open transactions)."""
        if self.running():
            self._run("pg_ctl", "-D", str(self.datadir), "-w", "-t", "60", "-m", mode, "stop",
                      timeout=90)

    def kill(self) -> None:
        """Kill the server at once (SIGKILL to the postmaster and its
        children): what a power cut or an OOM kill does to a database."""
        pid = self.pid()
        if pid is None:
            return
        children = _children(pid)
        for p in [pid, *children]:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_exists(p) for p in [pid, *children]):
            time.sleep(0.02)


def _exists(pid: int) -> bool:
    """Whether the process is still there at all (zombies included: the
    server may not start again until the old postmaster is reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(entry.name))
    return out
