"""The hub's SQL contract: schema, migrations, roles and row-level security.

Everything lives in the schema ``hub`` of one PostgreSQL database. Roles are
cluster-wide in PostgreSQL, so their names start with a prefix chosen at
``init`` (the database's name by default) and kept in ``hub.meta``:

* ``<prefix>_sites`` — group role of every site. Each site logs in as its
  own member role ``<prefix>_site_<code>``; row-level security lets it read
  and write only rows whose ``site_id`` is its own (:func:`my_site`), so a
  stolen site credential cannot touch another site's figures. Sites may
  insert events (never update or delete them), insert facts and void their
  own no-show facts, and upsert their own configuration and heartbeat.
* ``<prefix>_readers`` — group role of the province's report and dashboard
  users: read everything, write nothing.

The role that runs ``init`` (the database owner, or a superuser) owns the
tables; it needs CREATEROLE to add sites.

Each entry of :data:`MIGRATIONS` takes the schema from version i to i+1, in
one transaction; a landed migration is never edited, a new one is added.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from .cells import MIGRATION as CELLS_MIGRATION

#: Each migration is SQL with ``{sites}`` / ``{readers}`` standing for the
#: quoted group role names.
MIGRATIONS: list[str] = [
    # 1: sites, their append-only event logs, the facts derived from them,
    # their public configuration; row-level security on every site's rows.
    """
    CREATE TABLE hub.sites (
        id smallint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        code text NOT NULL UNIQUE,
        name text NOT NULL,
        role name NOT NULL UNIQUE,
        created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE FUNCTION hub.my_site() RETURNS smallint LANGUAGE sql STABLE
        SET search_path = pg_catalog, pg_temp
        AS $$ SELECT id FROM hub.sites WHERE role = current_user $$;

    -- A site's event log, exactly as its SQLite file has it, keyed by
    -- (site, the site's own event id): a re-sent event cannot land twice.
    CREATE TABLE hub.events (
        site_id smallint NOT NULL,
        id bigint NOT NULL,
        at double precision NOT NULL,
        day date NOT NULL,
        type text NOT NULL,
        ticket_id bigint,
        counter integer,
        officer text,
        device text,
        -- json, not jsonb: kept as the site wrote it, and parsed at ingest
        -- only to be validated (jsonb's conversion costs 2.5× the ingest).
        data json NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (site_id, id)
    );
    -- Report facts (see motcua.reports.facts), derived from the events as
    -- they are shipped, in the same transaction, keyed by the event that
    -- made each. A no-show fact is voided by the event that undid it.
    CREATE TABLE hub.facts (
        site_id smallint NOT NULL,
        event_id bigint NOT NULL,
        seq smallint NOT NULL,
        day date NOT NULL,
        kind smallint NOT NULL,
        dept text,
        proc text,
        counter integer,
        officer text,
        hour smallint NOT NULL,
        value double precision,
        -- For a wait: within its department's target (NULL: no target);
        -- for a rating: on a level the site counts as satisfied. Set from
        -- the site's configuration, and set again when that changes.
        ok boolean,
        voided_by bigint,
        PRIMARY KEY (site_id, event_id, seq)
    );
    CREATE INDEX facts_day ON hub.facts (day, site_id);
    -- What a site's clients may see of its configuration (no tokens, no PINs).
    CREATE TABLE hub.site_config (
        site_id smallint PRIMARY KEY,
        name text NOT NULL,
        config jsonb NOT NULL,
        digest text NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
    );

    GRANT USAGE ON SCHEMA hub TO {sites}, {readers};
    GRANT SELECT ON hub.sites, hub.meta TO {sites}, {readers};
    GRANT EXECUTE ON FUNCTION hub.my_site() TO {sites};
    GRANT SELECT, INSERT ON hub.events TO {sites};
    GRANT SELECT, INSERT ON hub.facts TO {sites};
    GRANT UPDATE (voided_by, ok) ON hub.facts TO {sites};
    GRANT SELECT, INSERT, UPDATE ON hub.site_config TO {sites};
    GRANT SELECT ON hub.events, hub.facts, hub.site_config TO {readers};

    ALTER TABLE hub.events ENABLE ROW LEVEL SECURITY;
    ALTER TABLE hub.facts ENABLE ROW LEVEL SECURITY;
    ALTER TABLE hub.site_config ENABLE ROW LEVEL SECURITY;
    -- (SELECT hub.my_site()) is evaluated once per statement, not per row.
    CREATE POLICY own_rows ON hub.events TO {sites}
        USING (site_id = (SELECT hub.my_site())) WITH CHECK (site_id = (SELECT hub.my_site()));
    CREATE POLICY own_rows ON hub.facts TO {sites}
        USING (site_id = (SELECT hub.my_site())) WITH CHECK (site_id = (SELECT hub.my_site()));
    CREATE POLICY own_rows ON hub.site_config TO {sites}
        USING (site_id = (SELECT hub.my_site())) WITH CHECK (site_id = (SELECT hub.my_site()));
    CREATE POLICY read_all ON hub.events FOR SELECT TO {readers} USING (true);
    CREATE POLICY read_all ON hub.facts FOR SELECT TO {readers} USING (true);
    CREATE POLICY read_all ON hub.site_config FOR SELECT TO {readers} USING (true);
    """,
    # 2: the live heartbeat (queues, counters, printers every few seconds)
    # and the shipper's own figures, for the province dashboard.
    """
    CREATE TABLE hub.site_live (
        site_id smallint PRIMARY KEY,
        heard_at timestamptz NOT NULL DEFAULT now(),
        site_time double precision NOT NULL,
        day date,
        state jsonb NOT NULL,
        shipping jsonb NOT NULL DEFAULT '{{}}'
    );
    GRANT SELECT, INSERT, UPDATE ON hub.site_live TO {sites};
    GRANT SELECT ON hub.site_live TO {readers};
    ALTER TABLE hub.site_live ENABLE ROW LEVEL SECURITY;
    CREATE POLICY own_rows ON hub.site_live TO {sites}
        USING (site_id = (SELECT hub.my_site())) WITH CHECK (site_id = (SELECT hub.my_site()));
    CREATE POLICY read_all ON hub.site_live FOR SELECT TO {readers} USING (true);
    """,
    # 3: report cells, kept by triggers on hub.facts (see hub/cells.py), and
    # filled from the facts already there.
    CELLS_MIGRATION,
]
SCHEMA_VERSION = len(MIGRATIONS)

#: Site codes: short, printable, safe in a role name once lowercased.
CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
_PREFIX_RE = re.compile(r"^[a-z][a-z0-9_]{0,30}$")
#: Serialises concurrent `init` runs (pg_advisory_xact_lock key).
_INIT_LOCK = 0x6D6F7463  # "motc"


class HubError(Exception):
    """A hub operation refused, with a message for the operator."""


def quote_ident(name: str) -> str:
    """A PostgreSQL identifier, quoted."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """A PostgreSQL string literal (standard_conforming_strings is on since 9.1)."""
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class Roles:
    prefix: str

    @property
    def sites(self) -> str:
        return f"{self.prefix}_sites"

    @property
    def readers(self) -> str:
        return f"{self.prefix}_readers"

    def site(self, code: str) -> str:
        return f"{self.prefix}_site_{code.lower().replace('-', '_')}"

    def reader(self, name: str) -> str:
        return f"{self.prefix}_reader_{name.lower().replace('-', '_')}"


def _migration_sql(i: int, roles: Roles) -> str:
    return MIGRATIONS[i].format(sites=quote_ident(roles.sites), readers=quote_ident(roles.readers))


def statements(script: str) -> list[str]:
    """Split a migration into statements (``$$`` bodies may hold ';')."""
    out, buf, in_body = [], [], False
    for line in script.strip().splitlines():
        if line.strip().startswith("--") and not in_body:
            continue
        buf.append(line)
        in_body ^= line.count("$$") % 2 == 1
        if not in_body and line.rstrip().endswith(";"):
            out.append("\n".join(buf).strip())
            buf = []
    if "\n".join(buf).strip():
        out.append("\n".join(buf).strip())
    return out


async def schema_version(conn: Any) -> int:
    """The hub schema version of the database (0: no hub schema)."""
    exists = await conn.fetchval("SELECT to_regclass('hub.meta') IS NOT NULL")
    if not exists:
        return 0
    value = await conn.fetchval("SELECT value FROM hub.meta WHERE key = 'schema_version'")
    return int(value or 0)


async def roles_of(conn: Any) -> Roles:
    prefix = await conn.fetchval("SELECT value FROM hub.meta WHERE key = 'role_prefix'")
    if not prefix:
        raise HubError("this database has no hub schema; run `motcua hub init` first")
    return Roles(prefix)


async def migrate(conn: Any, prefix: str | None = None, name: str | None = None,
                  target: int = SCHEMA_VERSION) -> tuple[int, int]:
    """Create or upgrade the hub schema up to ``target``; return (from, to).

    ``prefix`` names the roles on first init (default: the database's name).
    Safe to run again and from several places at once."""
    if not 0 < target <= SCHEMA_VERSION:
        raise HubError(f"schema version {target} does not exist (1–{SCHEMA_VERSION})")
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _INIT_LOCK)
        await conn.execute("CREATE SCHEMA IF NOT EXISTS hub")
        await conn.execute("CREATE TABLE IF NOT EXISTS hub.meta "
                           "(key text PRIMARY KEY, value text NOT NULL)")
        version = await schema_version(conn)
        if version > SCHEMA_VERSION:
            raise HubError(f"the hub's schema is version {version}, newer than this motcua "
                           f"({SCHEMA_VERSION}): upgrade motcua")
        stored = await conn.fetchval("SELECT value FROM hub.meta WHERE key = 'role_prefix'")
        if stored is None:
            db = await conn.fetchval("SELECT current_database()")
            stored = prefix or re.sub(r"[^a-z0-9_]", "_", db.lower())[:30]
            if not _PREFIX_RE.match(stored):
                raise HubError(f"role prefix {stored!r} must be lowercase letters, digits, _")
            await conn.execute("INSERT INTO hub.meta VALUES ('role_prefix', $1)", stored)
        elif prefix and prefix != stored:
            raise HubError(f"this hub's roles are named {stored}_…, not {prefix}_…")
        if name:
            await conn.execute("INSERT INTO hub.meta VALUES ('name', $1) ON CONFLICT (key) "
                               "DO UPDATE SET value = excluded.value", name)
        roles = Roles(stored)
        for group in (roles.sites, roles.readers):
            exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", group)
            if not exists:
                await conn.execute(f"CREATE ROLE {quote_ident(group)} NOLOGIN")
    start = version
    for i in range(version, target):
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _INIT_LOCK)
            if await schema_version(conn) != i:
                continue  # someone else ran it meanwhile
            for stmt in statements(_migration_sql(i, roles)):
                await conn.execute(stmt)
            await conn.execute(
                "INSERT INTO hub.meta VALUES ('schema_version', $1) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value", str(i + 1))
    return start, max(start, target)


def site_url(admin_url: str, role: str, password: str) -> str:
    """The admin's URL with a site's (or reader's) role and password instead."""
    parts = urlsplit(admin_url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{quote(role, safe='')}:{quote(password, safe='')}@{host}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _password() -> str:
    # URL-safe alphabet: the password goes into a connection URL unchanged.
    return secrets.token_urlsafe(24)


async def add_site(conn: Any, code: str, name: str | None = None,
                   rotate: bool = False) -> tuple[str, str]:
    """Create a site and its login role (or, with ``rotate``, give an
    existing site a new password). Returns (role, password)."""
    if not CODE_RE.match(code):
        raise HubError(f"site code {code!r}: use 1–32 letters, digits, - or _")
    roles = await roles_of(conn)
    role = roles.site(code)
    password = _password()
    async with conn.transaction():
        row = await conn.fetchrow("SELECT code, role FROM hub.sites WHERE lower(code) = lower($1)",
                                  code)
        if row is not None and not rotate:
            raise HubError(f"site {row['code']} already exists "
                           "(use --rotate for a new password)")
        if row is None and rotate:
            raise HubError(f"no site {code}")
        exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
        # A site needs a couple of connections (shipping, heartbeat); the
        # limit keeps a stolen credential from exhausting the server.
        options = (f"LOGIN PASSWORD {quote_literal(password)} CONNECTION LIMIT 4 "
                   "NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT")
        if exists:
            await conn.execute(f"ALTER ROLE {quote_ident(role)} {options}")
        else:
            await conn.execute(f"CREATE ROLE {quote_ident(role)} {options}")
        await conn.execute(f"GRANT {quote_ident(roles.sites)} TO {quote_ident(role)}")
        await conn.execute(f"ALTER ROLE {quote_ident(role)} SET statement_timeout = '120s'")
        if row is None:
            await conn.execute("INSERT INTO hub.sites (code, name, role) VALUES ($1, $2, $3)",
                               code, name or code, role)
        elif name:
            await conn.execute("UPDATE hub.sites SET name = $2 WHERE code = $1", row["code"], name)
    return role, password


async def add_reader(conn: Any, name: str, rotate: bool = False) -> tuple[str, str]:
    """A login role for the province's report/dashboard users (read-only)."""
    if not CODE_RE.match(name):
        raise HubError(f"reader name {name!r}: use 1–32 letters, digits, - or _")
    roles = await roles_of(conn)
    role = roles.reader(name)
    password = _password()
    exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
    if exists and not rotate:
        raise HubError(f"reader {name} already exists (use --rotate for a new password)")
    verb = "ALTER" if exists else "CREATE"
    await conn.execute(f"{verb} ROLE {quote_ident(role)} LOGIN PASSWORD "
                       f"{quote_literal(password)} NOSUPERUSER NOCREATEDB NOCREATEROLE "
                       "CONNECTION LIMIT 8")
    await conn.execute(f"GRANT {quote_ident(roles.readers)} TO {quote_ident(role)}")
    await conn.execute(f"ALTER ROLE {quote_ident(role)} SET default_transaction_read_only = on")
    return role, password


async def ensure_database(admin_url: str) -> bool:
    """Create the URL's database if it does not exist (connecting to the
    ``postgres`` database of the same server). True if it was created."""
    import asyncpg

    try:
        conn = await asyncpg.connect(admin_url)
    except asyncpg.InvalidCatalogNameError:
        pass
    else:
        await conn.close()
        return False
    parts = urlsplit(admin_url)
    db = parts.path.lstrip("/")
    other = urlunsplit((parts.scheme, parts.netloc, "/postgres", parts.query, parts.fragment))
    conn = await asyncpg.connect(other)
    try:
        await conn.execute(f"CREATE DATABASE {quote_ident(db)} ENCODING 'UTF8' TEMPLATE template0")
    finally:
        await conn.close()
    return True
