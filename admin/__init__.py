"""motcua admin: the manager's app — devices, officers, departments and
counters, the notice, today's actions — changing the center live."""
