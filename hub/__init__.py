"""The province hub: every site's event log, figures and live state in one
PostgreSQL database, while every site keeps working on its own SQLite file.

* :mod:`.schema` — the SQL contract: versioned migrations, roles, row-level
  security, site credentials.
* :mod:`.fold` — report facts derived from events as they are shipped
  (pure; the same definitions as a site's report).
* :mod:`.shipper` — the site's background task (``motcua serve --hub URL``).
* :mod:`.report` — ``motcua report --hub URL``: KPIs computed in PostgreSQL.
* :mod:`.live` and :mod:`.province` — ``motcua province``: the live view.
* :mod:`.embedded` — a real PostgreSQL from the ``pgserver`` wheel.
"""
