"""The shipper in a child process of the server, so that shipping — above
all a large backlog — never competes with the queue for the server's
interpreter (its GIL and its event loop).

The server starts :class:`ShipperProcess`, which runs
``python -m motcua.hub.process``: a :class:`~motcua.hub.shipper.Shipper`
that reads the site's SQLite file read-only (as it always did) and talks to
PostgreSQL; the server only starts and stops it, pokes it after each commit,
answers its requests for the heartbeat (the server's own snapshot) and
mirrors its figures for ``/metrics``. Exactly-once is the shipper's and the
hub's business and does not change: the child holds no state the hub
cannot rebuild, so a child that dies is simply started again.

The pipe, one JSON object a line each way:

* server → child: ``{"init": …}`` first (the database path, the URL — on
  the pipe, not the command line, since it holds the site's password — and
  the configuration), then ``{"poke": 1}``, ``{"heartbeat": state}``,
  ``{"set": {setting: value}}`` and ``{"stop": 1}``; end of input (the
  server died) stops the child too;
* child → server: ``{"figures": …}`` whenever they change (with the lag
  samples taken since the last), ``{"want": "heartbeat"}``.

The child runs at a lower CPU priority (``nice`` +5): when both want the
processor, the queue goes first.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import pickle
import sys
import time
from pathlib import Path
from typing import Any, Callable

from .shipper import Figures, Shipper

log = logging.getLogger("motcua.hub.process")

#: How much lower the child's CPU priority is than the server's.
NICE = 5
#: How often the child looks whether its figures changed (seconds).
FIGURES_EVERY = 0.1
_MIRRORED = ("state", "site_id", "hwm", "known_mark", "local_max", "shipped", "batches",
             "failures", "heartbeats", "last_error", "last_shipped_at", "code")
_COUNTERS = ("shipped", "batches", "failures", "heartbeats")
#: Settings of the shipper that can be changed while it runs.
TUNABLE = ("heartbeat_every", "poll", "catchup_duty")


class ShipperProcess(Figures):
    """The server's side: starts, supervises and stops the child; its
    attributes are the child's figures (as :class:`Shipper` has them)."""

    def __init__(self, db_path: str | Path, url: str, config: Any, *,
                 code: str | None = None, name: str | None = None,
                 heartbeat: Callable[[], dict[str, Any]] | None = None,
                 **options: Any) -> None:
        self.db_path = Path(db_path)
        self.url = url
        self.config = config
        self.code = code
        self.name = name
        self.heartbeat_source = heartbeat
        self.options = options
        self._init_figures()
        #: The child's process id while it runs.
        self.pid: int | None = None
        #: Children started (1 + restarts).
        self.starts = 0
        self._proc: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task | None = None
        self._stopping = False
        self._poke_pending = False
        # Counters of children that ended, added to the running child's.
        self._base = dict.fromkeys(_COUNTERS, 0)

    @property
    def heartbeat_every(self) -> float:
        return float(self.options.get("heartbeat_every", 5.0))

    @heartbeat_every.setter
    def heartbeat_every(self, seconds: float) -> None:
        self.tune(heartbeat_every=seconds)

    def tune(self, **settings: Any) -> None:
        """Change settings of the running shipper (and of any restarted one)."""
        unknown = set(settings) - set(TUNABLE)
        if unknown:
            raise ValueError(f"not tunable: {', '.join(sorted(unknown))}")
        self.options.update(settings)
        self._send({"set": settings})

    # --- lifecycle ------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.create_task(self._supervise(), name="motcua-hub-shipper-process")

    async def stop(self) -> None:
        self._stopping = True
        proc = self._proc
        if proc is not None and proc.returncode is None:
            self._send({"stop": 1})
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None
        self.state = "stopped"
        self.pid = None

    def poke(self) -> None:
        """New events were committed (one message per loop turn at most)."""
        if self._poke_pending or self._proc is None:
            return
        self._poke_pending = True
        asyncio.get_running_loop().call_soon(self._flush_poke)

    def _flush_poke(self) -> None:
        self._poke_pending = False
        stdin = self._proc.stdin if self._proc is not None else None
        # A child that does not read gets no more pokes piled up for it.
        if stdin is not None and stdin.transport.get_write_buffer_size() < 4096:
            self._send({"poke": 1})

    def _send(self, message: dict[str, Any]) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None or proc.stdin.is_closing():
            return
        try:
            proc.stdin.write(json.dumps(message, ensure_ascii=False).encode() + b"\n")
        except (ConnectionError, RuntimeError):
            pass

    async def _supervise(self) -> None:
        delay = 1.0
        while not self._stopping:
            began = time.monotonic()
            try:
                code = await self._run_child()
                reason = f"the shipper process ended (exit code {code})"
            except asyncio.CancelledError:
                raise
            except Exception as e:  # could not start it: keep the site running
                log.exception("hub shipper process failed")
                reason = f"the shipper process failed: {type(e).__name__}: {e}"
            if self._stopping:
                break
            log.warning("%s; starting it again in %.0f s", reason, delay)
            for name in _COUNTERS:
                self._base[name] = getattr(self, name)
            self.failures += 1
            self._base["failures"] += 1
            self.state = "down"
            self.last_error = reason
            self.hwm = None
            self.pid = None
            if time.monotonic() - began > 60:
                delay = 1.0
            await asyncio.sleep(delay)
            delay = min(30.0, delay * 2)

    async def _run_child(self) -> int:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "motcua.hub.process", stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, limit=2 ** 24)
        self._proc = proc
        self.pid = proc.pid
        self.starts += 1
        try:
            self._send({"init": {
                "db": str(self.db_path), "url": self.url, "code": self.code, "name": self.name,
                "options": self.options, "log_level": logging.getLogger().getEffectiveLevel(),
                "config": base64.b64encode(pickle.dumps(self.config)).decode()}})
            assert proc.stdout is not None
            while True:
                line = await proc.stdout.readline()
                if not line:
                    break
                try:
                    message = json.loads(line)
                except ValueError:
                    continue
                if "figures" in message:
                    self._mirror(message["figures"])
                elif message.get("want") == "heartbeat":
                    self._send({"heartbeat": self._heartbeat()})
            return await proc.wait()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            self._proc = None

    def _heartbeat(self) -> dict[str, Any]:
        if self.heartbeat_source is None:
            return {}
        try:
            return self.heartbeat_source()
        except Exception:  # the site's own view failed: still say we are alive
            log.exception("heartbeat source failed")
            return {}

    def _mirror(self, figures: dict[str, Any]) -> None:
        for name in _MIRRORED:
            if name in figures:
                value = figures[name]
                if name in _COUNTERS:
                    value += self._base[name]
                elif name == "known_mark" and value is None:
                    continue  # a new child knows no mark before it connects
                setattr(self, name, value)
        lags = figures.get("lags") or ()
        self.lags.extend(lags)
        self.lag_count += len(lags)


# --- the child ------------------------------------------------------------------

class _ChildShipper(Shipper):
    """A shipper whose heartbeat comes from the server over the pipe."""

    def __init__(self, *args: Any, ask: Callable[[], Any], **kwargs: Any) -> None:
        self._state: dict[str, Any] = {}
        self._ask = ask
        super().__init__(*args, heartbeat=lambda: self._state, **kwargs)

    async def _send_heartbeat(self) -> None:
        try:
            self._state = await asyncio.wait_for(self._ask(), 5)
        except TimeoutError:
            pass  # the server is busy: the state it gave last
        await super()._send_heartbeat()


async def _child() -> int:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2 ** 24)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin,
                                                        sys.stdout)
    writer = asyncio.StreamWriter(transport, protocol, None, loop)

    def send(message: dict[str, Any]) -> None:
        writer.write(json.dumps(message, ensure_ascii=False).encode() + b"\n")

    first = await reader.readline()
    if not first:
        return 0
    init = json.loads(first)["init"]
    # As the server logs (motcua serve -v), to the same stderr.
    logging.basicConfig(level=init.get("log_level", logging.WARNING), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = pickle.loads(base64.b64decode(init["config"]))
    waiting: list[asyncio.Future] = []

    async def ask() -> dict[str, Any]:
        future = loop.create_future()
        waiting.append(future)
        send({"want": "heartbeat"})
        return await future

    shipper = _ChildShipper(init["db"], init["url"], config, code=init["code"],
                            name=init["name"], ask=ask, **init["options"])
    sent: dict[str, Any] = {}
    lag_sent = 0

    def report() -> None:
        nonlocal lag_sent
        now = {name: getattr(shipper, name) for name in _MIRRORED}
        new = min(shipper.lag_count - lag_sent, len(shipper.lags))
        if now == sent and not new:
            return
        figures = {k: v for k, v in now.items() if sent.get(k, object()) != v}
        if new:
            figures["lags"] = [round(x, 4) for x in list(shipper.lags)[-new:]]
            lag_sent = shipper.lag_count
        sent.update(now)
        send({"figures": figures})

    async def reporting() -> None:
        while True:
            report()
            await writer.drain()
            await asyncio.sleep(FIGURES_EVERY)

    await shipper.start()
    reporter = asyncio.create_task(reporting())
    try:
        while True:
            line = await reader.readline()
            if not line:
                break  # the server is gone
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if "poke" in message:
                shipper.poke()
            elif "heartbeat" in message:
                while waiting:
                    future = waiting.pop(0)
                    if not future.done():
                        future.set_result(message["heartbeat"])
            elif "set" in message:
                for name, value in message["set"].items():
                    if name in TUNABLE:
                        setattr(shipper, name, value)
                shipper._next_heartbeat = 0.0
                shipper.poke()
            elif "stop" in message:
                break
    finally:
        reporter.cancel()
        await shipper.stop()
        report()
        try:
            await writer.drain()
        except ConnectionError:
            pass
    return 0


def child_main() -> int:
    try:
        os.nice(NICE)
    except OSError:
        pass
    try:
        return asyncio.run(_child())
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(child_main())
