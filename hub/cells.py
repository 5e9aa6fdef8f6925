"""Report cells: the facts pre-aggregated per site, period and group, kept
current by PostgreSQL itself (schema version 3).

A year of a province is ~3 M facts; a report that scans and sorts them all
takes 12–16 s. A report only needs, per group, counts, sums and a few order
statistics (median, P90), so the hub keeps **cells**: for each site, each
day (and, once a month or a year is over for that site, each month and
year), each *family* of groupings and each key of it (with the department
as a sub-key, so that "within target" can be judged by each department's
own target at report time) a row with

* the count of each kind of fact, the sums of waits and service times;
* the wait and service times themselves as **sorted** ``float8[]`` arrays —
  ``width_bucket(x, array)`` is then a binary search that counts the values
  ≤ x, and a slice of the array is the values in any interval. A group's
  exact k-th smallest value is found by counting at a few pivots over its
  cells and sorting only the values of the last narrow interval
  (:mod:`hub.report`);
* the ratings per level.

Nothing in a cell depends on the site's configuration (targets and
satisfied levels are applied at report time), so a changed target or
rating scale re-judges the whole history for free.

Cells are maintained by statement triggers on ``hub.facts``, in the
transaction that writes the facts: whatever writes facts (the shipper, an
older shipper, the admin), the cells follow, exactly once. An insert adds a
*fragment* per (day, family, key, department); when a site's newest day
moves on, its earlier days' fragments are merged into one row each and its
month cell is built again from the days (it holds the days before the
newest); when its newest month moves on, its year cell is built again from
the months (it holds the months before the newest day's). A late event
in a built month or year builds it again. A voided no-show
subtracts a count; any other change to a fact builds its days again from
``hub.facts``, the source of truth. The functions run as the schema's owner
(``SECURITY DEFINER``): sites cannot write cells; like the facts, a site
reads only its own (row-level security), readers all.

Families: 1 department (also the site, the day and the total), 2 procedure,
3 counter, 4 officer, 5 hour. Grains: 1 day, 2 month, 3 year.
"""

from __future__ import annotations

#: Grouping → the cell family that holds it.
FAMILY = {None: 1, "department": 1, "site": 1, "day": 1, "procedure": 2, "counter": 3,
          "officer": 4, "hour": 5}
DAY, MONTH, YEAR = 1, 2, 3

# Count columns: (cell column, fact kind) — reports.facts' kinds.
COUNTS = [("issued", 1), ("transferred_in", 9), ("served", 3), ("transferred", 4),
          ("no_show", 5), ("cancelled", 6), ("expired", 7)]
#: Kinds that carry no value: a change to one is a ± count.
COUNT_ONLY = "(1, 5, 6, 7, 9)"

COLUMNS = ("site_id, grain, start, fam, key, dept, "
           + ", ".join(c for c, _ in COUNTS)
           + ", wait_sum, wait_v, svc_sum, svc_v, rate_l, rate_n")


_CG_COUNTS = ", ".join("cg." + c for c, _ in COUNTS)


def fragments(source: str) -> str:
    """SELECT of day cells from facts ``source`` (facts' columns plus ``sgn``,
    +1 to add a fact, -1 to take a count-only fact away)."""
    counts = ",\n        ".join(
        f"coalesce(sum(f.sgn) FILTER (WHERE f.kind = {k}), 0)::int AS {c}" for c, k in COUNTS)
    return f"""
SELECT cg.site_id, 1::smallint, cg.day, cg.fam, cg.key, cg.dept, {_CG_COUNTS},
    cg.wait_sum, cg.wait_v, cg.svc_sum, cg.svc_v, cr.l, cr.n
FROM (
    SELECT f.site_id, f.day, cd.fam,
        CASE cd.fam WHEN 1 THEN NULL WHEN 2 THEN f.proc WHEN 3 THEN f.counter::text
            WHEN 4 THEN f.officer ELSE f.hour::text END AS key,
        f.dept,
        {counts},
        sum(f.value) FILTER (WHERE f.kind = 2 AND f.sgn > 0) AS wait_sum,
        array_agg(f.value ORDER BY f.value)
            FILTER (WHERE f.kind = 2 AND f.sgn > 0 AND f.value IS NOT NULL) AS wait_v,
        sum(f.value) FILTER (WHERE f.kind IN (3, 4) AND f.sgn > 0
                             AND f.value <> 'NaN'::float8) AS svc_sum,
        array_agg(f.value ORDER BY f.value) FILTER (WHERE f.kind IN (3, 4) AND f.sgn > 0
            AND f.value IS NOT NULL AND f.value <> 'NaN'::float8) AS svc_v,
        array_agg(f.value::int ORDER BY f.value) FILTER (WHERE f.kind = 8 AND f.sgn > 0) AS rates
    FROM {source} f
    CROSS JOIN (VALUES (1::smallint), (2::smallint), (3::smallint), (4::smallint),
                       (5::smallint)) AS cd(fam)
    GROUP BY 1, 2, 3, 4, 5
) cg LEFT JOIN LATERAL hub.tally(cg.rates) cr ON true"""


def merged(source: str, grain: str, start: str) -> str:
    """SELECT of cells merging the cells ``source`` (alias cm) per
    (site, ``start``, family, key, department)."""
    counts = ", ".join(f"sum(cm.{c})::int" for c, _ in COUNTS)
    return f"""
SELECT cg.site_id, {grain}::smallint, cg.start, cg.fam, cg.key, cg.dept, {_CG_COUNTS},
    cg.wait_sum, cg.wait_v, cg.svc_sum, cg.svc_v, cr.l, cr.n
FROM (
    SELECT cm.site_id, {start} AS start, cm.fam, cm.key, cm.dept, {counts},
        sum(cm.wait_sum) AS wait_sum, hub.sorted(hub.cat(cm.wait_v)) AS wait_v,
        sum(cm.svc_sum) AS svc_sum, hub.sorted(hub.cat(cm.svc_v)) AS svc_v,
        hub.cat(cm.rate_l) AS rl, hub.cat(cm.rate_n) AS rn
    FROM {source} cm
    GROUP BY cm.site_id, 2, cm.fam, cm.key, cm.dept
) cg({", ".join(["site_id", "start", "fam", "key", "dept"] + [c for c, _ in COUNTS])},
    wait_sum, wait_v, svc_sum, svc_v, rl, rn)
LEFT JOIN LATERAL hub.merge_levels(cg.rl, cg.rn) cr ON true"""


_SAME_FACT = ("(o.day, o.kind, o.dept, o.proc, o.counter, o.officer, o.hour, o.value) "
              "IS NOT DISTINCT FROM (n.day, n.kind, n.dept, n.proc, n.counter, n.officer, "
              "n.hour, n.value)")
_PAIRS = "old_facts o JOIN new_facts n USING (site_id, event_id, seq)"
_FULL = ("old_facts o FULL JOIN new_facts n ON o.site_id = n.site_id "
         "AND o.event_id = n.event_id AND o.seq = n.seq")
_CHANGED = (f"NOT {_SAME_FACT} OR ((o.voided_by IS NULL) <> (n.voided_by IS NULL) "
            f"AND o.kind NOT IN {COUNT_ONLY})")

# Braces are doubled: the migration is formatted with the role names.
MIGRATION = f"""
SET LOCAL work_mem = '256MB';
CREATE TABLE hub.cells (
    site_id smallint NOT NULL,
    grain smallint NOT NULL,
    start date NOT NULL,
    fam smallint NOT NULL,
    key text,
    dept text,
    {", ".join(f"{c} integer NOT NULL DEFAULT 0" for c, _ in COUNTS)},
    wait_sum double precision,
    wait_v double precision[],
    svc_sum double precision,
    svc_v double precision[],
    rate_l integer[],
    rate_n integer[]
);
ALTER TABLE hub.cells ALTER COLUMN wait_v SET STORAGE EXTERNAL;
ALTER TABLE hub.cells ALTER COLUMN svc_v SET STORAGE EXTERNAL;
-- Per site: the newest day it has facts of, where its unmerged fragments
-- begin; its month cells hold its days before `built`, its year cells its
-- days before `built_y` (the 1st of the newest day's month).
CREATE TABLE hub.cell_state (
    site_id smallint PRIMARY KEY,
    newest date,
    dirty date,
    built date,
    built_y date
);
CREATE INDEX facts_voided ON hub.facts (site_id, voided_by) WHERE voided_by IS NOT NULL;

CREATE FUNCTION hub.sorted(double precision[]) RETURNS double precision[]
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp
    AS $$ SELECT array_agg(x ORDER BY x) FROM unnest($1) AS x $$;
CREATE AGGREGATE hub.cat(anycompatiblearray) (SFUNC = array_cat, STYPE = anycompatiblearray);
CREATE FUNCTION hub.tally(integer[], OUT l integer[], OUT n integer[])
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp
    AS $$ SELECT array_agg(x ORDER BY x), array_agg(c ORDER BY x)
          FROM (SELECT x, count(*)::int AS c FROM unnest($1) AS x GROUP BY x) z $$;
CREATE FUNCTION hub.merge_levels(integer[], integer[], OUT l integer[], OUT n integer[])
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp
    AS $$ SELECT array_agg(x ORDER BY x), array_agg(c ORDER BY x)
          FROM (SELECT x, sum(c)::int AS c FROM unnest($1, $2) AS u(x, c) GROUP BY x) z $$;

-- Merge a site's day fragments in [a, b) into one row per cell.
CREATE FUNCTION hub.cells_compact(s smallint, a date, b date) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF a IS NULL OR b IS NULL OR a >= b THEN
        RETURN;
    END IF;
    WITH k AS (
        SELECT unnest(array_agg(ctid)) AS t FROM hub.cells
        WHERE site_id = s AND grain = 1 AND start >= a AND start < b
        GROUP BY start, fam, key, dept HAVING count(*) > 1
    ), gone AS (
        DELETE FROM hub.cells WHERE ctid = ANY(ARRAY(SELECT t FROM k)) RETURNING *
    )
    INSERT INTO hub.cells ({COLUMNS}) {merged("gone", "1", "cm.start")};
END
$$;

-- Build a site's month (gr = 2) or year (gr = 3) cells starting at `starts`
-- from its cells of the grain below (days before `until` only).
CREATE FUNCTION hub.cells_build(s smallint, gr smallint, starts date[], until date) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    unit text := CASE gr WHEN 2 THEN 'month' ELSE 'year' END;
    lo date := (SELECT min(x) FROM unnest(starts) x);
    hi date := least(until, (SELECT max(x) FROM unnest(starts) x) + ('1 ' || unit)::interval);
BEGIN
    DELETE FROM hub.cells WHERE site_id = s AND grain = gr AND start = ANY(starts);
    INSERT INTO hub.cells ({COLUMNS}) {merged('''(
        SELECT * FROM hub.cells c WHERE c.site_id = s AND c.grain = gr - 1
            AND c.start >= lo AND c.start < hi
            AND date_trunc(unit, c.start::timestamp)::date = ANY(starts))''',
        "gr", "date_trunc(unit, cm.start::timestamp)::date")};
END
$$;

-- After a site's facts of the days `days` (lo..hi) changed. When its newest
-- day moves on: merge the fragments of the days before it, build its month
-- cells again up to the day before it (the month under way too: month
-- cells cover the days before `built`) and, when its month moves on, its
-- year cells up to that month (`built_y`, a 1st). A change to a day already
-- in a month or year cell builds that cell again.
CREATE FUNCTION hub.cells_settle(s smallint, lo date, hi date, days date[]) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    st hub.cell_state;
    months date[];
    years date[];
    first_day date;
BEGIN
    INSERT INTO hub.cell_state (site_id) VALUES (s) ON CONFLICT DO NOTHING;
    SELECT * INTO st FROM hub.cell_state WHERE site_id = s FOR UPDATE;
    months := ARRAY(SELECT DISTINCT date_trunc('month', d::timestamp)::date FROM unnest(days) d
                    WHERE d < st.built);
    years := ARRAY(SELECT DISTINCT date_trunc('year', d::timestamp)::date FROM unnest(days) d
                   WHERE d < st.built_y);
    st.dirty := least(st.dirty, lo);
    IF st.newest IS NULL OR hi > st.newest THEN
        st.newest := hi;
        PERFORM hub.cells_compact(s, st.dirty, st.newest);
        st.dirty := st.newest;
        first_day := (SELECT min(start) FROM hub.cells WHERE site_id = s AND grain = 1);
        months := months || ARRAY(SELECT generate_series(
            date_trunc('month', coalesce(st.built, first_day)::timestamp),
            date_trunc('month', (hi - 1)::timestamp), interval '1 month')::date);
        st.built := hi;
        -- Year cells: the months before the newest day's (built again once a
        -- month: the year under way too).
        IF st.built_y IS NULL OR date_trunc('month', hi::timestamp)::date > st.built_y THEN
            years := years || ARRAY(SELECT generate_series(
                date_trunc('year', coalesce(st.built_y, first_day)::timestamp),
                date_trunc('year', (date_trunc('month', hi::timestamp) - interval '1 day')),
                interval '1 year')::date);
            st.built_y := date_trunc('month', hi::timestamp)::date;
        END IF;
    END IF;
    IF cardinality(months) > 0 THEN
        PERFORM hub.cells_build(s, 2::smallint, ARRAY(SELECT DISTINCT x FROM unnest(months) x),
                                st.built);
    END IF;
    IF cardinality(years) > 0 THEN
        PERFORM hub.cells_build(s, 3::smallint, ARRAY(SELECT DISTINCT x FROM unnest(years) x),
                                st.built_y);
    END IF;
    UPDATE hub.cell_state SET newest = st.newest, dirty = st.dirty, built = st.built,
        built_y = st.built_y WHERE site_id = s;
END
$$;

-- A site's day cells of `days` built again from hub.facts.
CREATE FUNCTION hub.cells_rebuild(s smallint, days date[]) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    DELETE FROM hub.cells WHERE site_id = s AND grain = 1 AND start = ANY(days);
    INSERT INTO hub.cells ({COLUMNS}) {fragments('''(SELECT f.*, 1 AS sgn FROM hub.facts f
        WHERE f.site_id = s AND f.day = ANY(days) AND f.voided_by IS NULL)''')};
    PERFORM hub.cells_settle(s, (SELECT min(d) FROM unnest(days) d),
                             (SELECT max(d) FROM unnest(days) d), days);
END
$$;

CREATE FUNCTION hub.facts_inserted() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    rec record;
BEGIN
    INSERT INTO hub.cells ({COLUMNS}) {fragments('''(SELECT n.*, 1 AS sgn FROM new_facts n
        WHERE n.voided_by IS NULL)''')};
    FOR rec IN SELECT site_id, min(day) AS lo, max(day) AS hi, array_agg(DISTINCT day) AS days
             FROM new_facts GROUP BY site_id LOOP
        PERFORM hub.cells_settle(rec.site_id, rec.lo, rec.hi, rec.days);
    END LOOP;
    RETURN NULL;
END
$$;

CREATE FUNCTION hub.facts_updated() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    rec record;
BEGIN
    -- A count-only fact voided (or no longer voided): a count less (more).
    INSERT INTO hub.cells ({COLUMNS}) {fragments(f'''(
        SELECT o.*, -1 AS sgn FROM {_PAIRS} WHERE o.voided_by IS NULL
            AND n.voided_by IS NOT NULL AND o.kind IN {COUNT_ONLY} AND {_SAME_FACT}
        UNION ALL
        SELECT n.*, 1 AS sgn FROM {_PAIRS} WHERE o.voided_by IS NOT NULL
            AND n.voided_by IS NULL AND n.kind IN {COUNT_ONLY} AND {_SAME_FACT})''')};
    FOR rec IN SELECT site_id, min(day) AS lo, max(day) AS hi, array_agg(DISTINCT day) AS days
             FROM (SELECT o.site_id, o.day FROM {_PAIRS}
                   WHERE (o.voided_by IS NULL) <> (n.voided_by IS NULL)
                     AND o.kind IN {COUNT_ONLY} AND {_SAME_FACT}) x
             GROUP BY site_id LOOP
        PERFORM hub.cells_settle(rec.site_id, rec.lo, rec.hi, rec.days);
    END LOOP;
    -- Anything else that changed what a fact counts (its key too): its days again.
    FOR rec IN SELECT site_id, array_agg(DISTINCT day) AS days FROM (
                 SELECT o.site_id, o.day FROM {_FULL} WHERE o.site_id IS NOT NULL
                     AND (n.site_id IS NULL OR {_CHANGED})
                 UNION
                 SELECT n.site_id, n.day FROM {_FULL} WHERE n.site_id IS NOT NULL
                     AND (o.site_id IS NULL OR {_CHANGED})) x
             GROUP BY site_id LOOP
        PERFORM hub.cells_rebuild(rec.site_id, rec.days);
    END LOOP;
    RETURN NULL;
END
$$;

CREATE FUNCTION hub.facts_deleted() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    rec record;
BEGIN
    FOR rec IN SELECT site_id, array_agg(DISTINCT day) AS days FROM old_facts GROUP BY site_id LOOP
        PERFORM hub.cells_rebuild(rec.site_id, rec.days);
    END LOOP;
    RETURN NULL;
END
$$;

CREATE FUNCTION hub.facts_truncated() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    TRUNCATE hub.cells, hub.cell_state;
    RETURN NULL;
END
$$;

-- The facts already in the hub.
INSERT INTO hub.cells ({COLUMNS}) {fragments(
    "(SELECT f.*, 1 AS sgn FROM hub.facts f WHERE f.voided_by IS NULL)")};
CREATE INDEX cells_at ON hub.cells (site_id, grain, start, fam);
SELECT hub.cells_settle(site_id, min(start), max(start), ARRAY[]::date[])
    FROM hub.cells WHERE grain = 1 GROUP BY site_id;

CREATE TRIGGER cells_insert AFTER INSERT ON hub.facts REFERENCING NEW TABLE AS new_facts
    FOR EACH STATEMENT EXECUTE FUNCTION hub.facts_inserted();
CREATE TRIGGER cells_update AFTER UPDATE ON hub.facts
    REFERENCING OLD TABLE AS old_facts NEW TABLE AS new_facts
    FOR EACH STATEMENT EXECUTE FUNCTION hub.facts_updated();
CREATE TRIGGER cells_delete AFTER DELETE ON hub.facts REFERENCING OLD TABLE AS old_facts
    FOR EACH STATEMENT EXECUTE FUNCTION hub.facts_deleted();
CREATE TRIGGER cells_truncate AFTER TRUNCATE ON hub.facts
    FOR EACH STATEMENT EXECUTE FUNCTION hub.facts_truncated();

REVOKE ALL ON FUNCTION hub.cells_compact(smallint, date, date),
    hub.cells_build(smallint, smallint, date[], date),
    hub.cells_settle(smallint, date, date, date[]), hub.cells_rebuild(smallint, date[]) FROM PUBLIC;
-- Read like the facts: a site its own cells (its own report), readers all.
GRANT SELECT ON hub.cells, hub.cell_state TO {{sites}}, {{readers}};
ALTER TABLE hub.cells ENABLE ROW LEVEL SECURITY;
ALTER TABLE hub.cell_state ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON hub.cells FOR SELECT TO {{sites}}
    USING (site_id = (SELECT hub.my_site()));
CREATE POLICY own_rows ON hub.cell_state FOR SELECT TO {{sites}}
    USING (site_id = (SELECT hub.my_site()));
CREATE POLICY read_all ON hub.cells FOR SELECT TO {{readers}} USING (true);
CREATE POLICY read_all ON hub.cell_state FOR SELECT TO {{readers}} USING (true);
""".replace("{", "{{").replace("}", "}}") \
    .replace("{{readers}}", "{readers}").replace("{{sites}}", "{sites}")
