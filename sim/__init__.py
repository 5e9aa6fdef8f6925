"""Day simulator: realistic, seeded days on the pure core or a live server.

* :func:`sim.run.simulate_day` / :func:`sim.run.simulate_days` — on the pure
  queue core with a simulated clock (optionally writing the server's event
  log with :class:`sim.run.SqliteSink`);
* :func:`sim.server_driver.drive_server` — the same behaviour against a
  running server over websockets, at a chosen speed (for demos);
* :func:`sim.erlang.erlang_c_wait` and :func:`sim.erlang.erlang_check` —
  the M/M/c check against queueing theory.
"""
