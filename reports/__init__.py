"""KPI reports computed from the event log.

:mod:`reports.facts` defines every figure (one fold over a day's events);
:mod:`reports.engine` keeps a fact cache and answers for any period and
grouping; :mod:`reports.render` lays a report out as text, CSV or Excel.
"""
