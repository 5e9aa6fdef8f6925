"""A loopback TCP "thermal printer" for tests (printer and kiosk tests).

It listens on 127.0.0.1 (port chosen by the OS), records every byte it receives
and answers ESC/POS real-time status queries (DLE EOT n) the way a real printer
does, according to ``mode``:

- ``"ok"``        online, paper present
- ``"paper_low"`` online, paper near-end sensor set
- ``"paper_out"`` paper end (and therefore offline, as real printers report)
- ``"offline"``   offline (cover open), paper present
- ``"silent"``    accepts and records data but never answers status queries
  (many cheap printers, and bridges that pass data one way only)
- ``"online_only"`` answers DLE EOT 1 (online) but not DLE EOT 4 (no paper sensor)

Usage::

    fake = FakePrinter("paper_out").start()
    try:
        result = print_ticket(slip, fake.spec)
    finally:
        fake.stop()

``mode`` may be changed while running (e.g. paper runs out between tickets).
With ``asb=True`` the fake also imitates Automatic Status Back: it sends an
unsolicited 4-byte status block after every chunk it receives, as printers with
ASB enabled do; a client that closes without reading those bytes makes the
kernel reset the connection and the end of the ticket is lost.
"""

from __future__ import annotations

import socket
import threading
import time

DLE, EOT = 0x10, 0x04

# Answers to DLE EOT n (n = 1 printer, 2 offline cause, 3 error cause, 4 paper).
# Bits 1 and 4 are always set in a status byte (0x12).
_ANSWERS: dict[str, dict[int, int]] = {
    "ok": {1: 0x12, 2: 0x12, 3: 0x12, 4: 0x12},
    "paper_low": {1: 0x12, 2: 0x12, 3: 0x12, 4: 0x12 | 0x0C},
    "paper_out": {1: 0x12 | 0x08, 2: 0x12 | 0x20, 3: 0x12, 4: 0x12 | 0x60},
    "offline": {1: 0x12 | 0x08, 2: 0x12 | 0x04, 3: 0x12, 4: 0x12},
    "silent": {},
    "online_only": {1: 0x12},
}
MODES = tuple(_ANSWERS)
# An Automatic Status Back block: 4 bytes, "online, paper present".
ASB_STATUS = bytes([0x14, 0x00, 0x00, 0x0F])


class FakePrinter:
    """Threaded TCP server imitating a network ESC/POS printer on port 9100."""

    def __init__(self, mode: str = "ok", host: str = "127.0.0.1", *, asb: bool = False) -> None:
        if mode not in _ANSWERS:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        self.mode = mode
        self.asb = asb
        self.host = host
        self.port = 0
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._clients: list[socket.socket] = []
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._data = bytearray()
        #: (order of arrival, bytes) of each finished connection: connections
        #: end on their own threads, so they may finish out of order.
        self._jobs: list[tuple[int, bytes]] = []
        self._accepted = 0
        self._queries: list[int] = []      # n of every DLE EOT n seen
        # Per connection: (time.perf_counter() at arrival, bytes so far).
        self._arrivals: list[list[tuple[float, int]]] = []
        self._live: list[bytearray] = []
        self._stopping = threading.Event()

    # ------------------------------------------------------------------ control
    def start(self) -> "FakePrinter":
        """Start listening; returns self so ``fake = FakePrinter().start()`` works."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, 0))
        listener.listen(8)
        listener.settimeout(0.1)  # lets the accept loop notice stop()
        self._listener = listener
        self.port = listener.getsockname()[1]
        t = threading.Thread(target=self._accept_loop, name="fake-printer-accept", daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def stop(self) -> None:
        """Stop listening, drop open connections and wait for the threads."""
        self._stopping.set()
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            clients = list(self._clients)
        for c in clients:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self._threads:
            t.join(timeout=5)

    def __enter__(self) -> "FakePrinter":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ inspection
    @property
    def spec(self) -> str:
        """Printer spec string for motcua: ``tcp:127.0.0.1:PORT``."""
        return f"tcp:{self.host}:{self.port}"

    @property
    def received(self) -> bytes:
        """Every byte received so far, over all connections."""
        with self._lock:
            return bytes(self._data)

    @property
    def jobs(self) -> list[bytes]:
        """Bytes of each connection that has been closed by the client, in
        the order the connections arrived."""
        with self._lock:
            return [job for _, job in sorted(self._jobs)]

    @property
    def status_queries(self) -> list[int]:
        """The n of every DLE EOT n status query received."""
        with self._lock:
            return list(self._queries)

    def clear(self) -> None:
        """Forget what was received (e.g. between two tickets of one test)."""
        with self._lock:
            self._data.clear()
            self._jobs.clear()
            self._queries.clear()
            self._arrivals.clear()
            self._live.clear()

    @property
    def connections(self) -> int:
        """How many connections were accepted (since the last :meth:`clear`)."""
        with self._lock:
            return len(self._arrivals)

    def arrival_time(self, connection: int, offset: int) -> float | None:
        """``time.perf_counter()`` when byte ``offset`` of the ``connection``-th
        connection (in order of acceptance) arrived; None if it has not."""
        with self._lock:
            if connection >= len(self._arrivals):
                return None
            for at, total in self._arrivals[connection]:
                if total > offset:
                    return at
        return None

    def connection_bytes(self, connection: int) -> bytes:
        """Bytes received so far on the ``connection``-th connection, finished or not."""
        with self._lock:
            return bytes(self._live[connection]) if connection < len(self._live) else b""

    def wait_for_jobs(self, count: int = 1, timeout: float = 5.0) -> bool:
        """Wait until ``count`` connections have finished; True if they did in time."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self._jobs) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return True

    # ------------------------------------------------------------------ server
    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                break  # listener closed by stop()
            arrivals: list[tuple[float, int]] = []
            job = bytearray()
            with self._lock:
                self._clients.append(conn)
                self._arrivals.append(arrivals)
                self._live.append(job)
            self._accepted += 1
            t = threading.Thread(target=self._serve, args=(conn, arrivals, job, self._accepted),
                                 name="fake-printer-conn", daemon=True)
            t.start()
            self._threads.append(t)

    def _serve(self, conn: socket.socket, arrivals: list, job: bytearray, seq: int) -> None:
        state = 0  # 0: normal, 1: after DLE, 2: after DLE EOT
        try:
            while True:
                try:
                    chunk = conn.recv(65536)
                except OSError:
                    break
                if not chunk:
                    break
                at = time.perf_counter()
                replies = bytearray()
                with self._changed:
                    self._data += chunk
                    job += chunk
                    arrivals.append((at, len(job)))
                    for b in chunk:
                        if state == 2:
                            self._queries.append(b)
                            answer = _ANSWERS[self.mode].get(b)
                            if answer is not None:
                                replies.append(answer)
                            state = 0
                        elif state == 1:
                            state = 2 if b == EOT else (1 if b == DLE else 0)
                        elif b == DLE:
                            state = 1
                    self._changed.notify_all()
                if self.asb:
                    replies += ASB_STATUS
                if replies:
                    try:
                        conn.sendall(bytes(replies))
                    except OSError:
                        break
        finally:
            try:
                conn.close()
            except OSError:
                pass
            with self._changed:
                self._jobs.append((seq, bytes(job)))
                if conn in self._clients:
                    self._clients.remove(conn)
                self._changed.notify_all()
