"""``motcua hub …`` (the province's database) and ``motcua province`` (its live view)."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

ADMIN_ENV = "MOTCUA_HUB_ADMIN"


def _url_ok(url: str | None) -> bool:
    return bool(url) and url.startswith(("postgresql://", "postgres://"))  # type: ignore[union-attr]


def _need_url(url: str | None, what: str) -> str | None:
    if not url:
        print(f"Cần địa chỉ kho dữ liệu tỉnh / {what} needs the hub's URL "
              f"(--hub URL or {ADMIN_ENV})", file=sys.stderr)
        return None
    if not _url_ok(url):
        print(f"Không phải URL PostgreSQL / not a PostgreSQL URL: {url}", file=sys.stderr)
        return None
    return url


def _fail(e: BaseException) -> int:
    import asyncpg

    from .schema import HubError

    if isinstance(e, HubError):
        print(f"Lỗi / error: {e}", file=sys.stderr)
    elif isinstance(e, asyncpg.PostgresError):
        print(f"PostgreSQL từ chối / refused: {e}", file=sys.stderr)
    elif isinstance(e, (OSError, TimeoutError)):
        print(f"Không kết nối được / cannot connect: {type(e).__name__}: {e}", file=sys.stderr)
    else:
        raise e
    return 1


async def _admin(url: str) -> Any:
    import asyncpg

    return await asyncpg.connect(url, timeout=15)


# --- hub init / add-site / add-reader / sites / health ----------------------------

def _init(args: argparse.Namespace) -> int:
    url = _need_url(args.url, "init")
    if url is None:
        return 2

    async def run() -> tuple[bool, int, int]:
        from .schema import ensure_database, migrate

        created = await ensure_database(url)
        conn = await _admin(url)
        try:
            before, after = await migrate(conn, prefix=args.prefix, name=args.name,
                                          target=args.to_version or _latest())
        finally:
            await conn.close()
        return created, before, after

    try:
        created, before, after = asyncio.run(run())
    except Exception as e:
        return _fail(e)
    if created:
        print("đã tạo cơ sở dữ liệu / database created")
    if before == after:
        print(f"lược đồ đã ở phiên bản / schema already at version {after}")
    else:
        print(f"lược đồ / schema: {before} → {after}")
    return 0


def _latest() -> int:
    from .schema import SCHEMA_VERSION

    return SCHEMA_VERSION


def _add_site(args: argparse.Namespace) -> int:
    url = _need_url(args.hub, "add-site")
    if url is None:
        return 2

    async def run() -> tuple[str, str]:
        from .schema import add_site

        conn = await _admin(url)
        try:
            return await add_site(conn, args.code, args.name, rotate=args.rotate)
        finally:
            await conn.close()

    try:
        role, password = asyncio.run(run())
    except Exception as e:
        return _fail(e)
    from .schema import site_url

    site = site_url(url, role, password)
    print(f"# đơn vị / site {args.code}: role {role}", file=sys.stderr)
    print("# đặt vào [hub] url của trung tâm, hoặc motcua serve --hub … /", file=sys.stderr)
    print("# put it in the center's [hub] url, or pass it to motcua serve --hub", file=sys.stderr)
    print(site)
    return 0


def _add_reader(args: argparse.Namespace) -> int:
    url = _need_url(args.hub, "add-reader")
    if url is None:
        return 2

    async def run() -> tuple[str, str]:
        from .schema import add_reader

        conn = await _admin(url)
        try:
            return await add_reader(conn, args.name, rotate=args.rotate)
        finally:
            await conn.close()

    try:
        role, password = asyncio.run(run())
    except Exception as e:
        return _fail(e)
    from .schema import site_url

    print(f"# người đọc / reader {args.name}: role {role} (chỉ đọc / read-only)", file=sys.stderr)
    print(site_url(url, role, password))
    return 0


def _sites(args: argparse.Namespace) -> int:
    url = _need_url(args.hub, "sites")
    if url is None:
        return 2

    async def run() -> list[Any]:
        from .health import site_status

        conn = await _admin(url)
        try:
            return await site_status(conn)
        finally:
            await conn.close()

    try:
        rows = asyncio.run(run())
    except Exception as e:
        return _fail(e)
    print(f"{'code':10} {'events':>10} {'mark':>10} {'heard (s)':>10} {'backlog':>8}  name")
    for r in rows:
        heard = "-" if r["heard_age"] is None else f"{r['heard_age']:.0f}"
        backlog = "-" if r["backlog"] is None else str(r["backlog"])
        print(f"{r['code']:10} {r['events']:>10,} {r['mark']:>10} {heard:>10} {backlog:>8}  "
              f"{r['name']}")
    return 0


def _health(args: argparse.Namespace) -> int:
    url = _need_url(args.hub, "health")
    if url is None:
        return 2
    from .health import serve_metrics, text_metrics

    if args.listen:
        host, _, port = args.listen.rpartition(":")
        try:
            asyncio.run(serve_metrics(url, host or "127.0.0.1", int(port)))
        except KeyboardInterrupt:
            pass
        except Exception as e:
            return _fail(e)
        return 0
    try:
        sys.stdout.write(asyncio.run(text_metrics(url)))
    except Exception as e:
        return _fail(e)
    return 0


# --- hub embedded -----------------------------------------------------------------

def _embedded(args: argparse.Namespace) -> int:
    from .embedded import EmbeddedPostgres
    from .schema import ensure_database, migrate

    folder = Path(args.dir).resolve()
    pg = EmbeddedPostgres(folder / "pgdata", port=args.port, host=args.host)
    try:
        pg.start()
    except Exception as e:
        print(f"Không chạy được PostgreSQL / cannot start PostgreSQL: {e}", file=sys.stderr)
        return 1
    admin = pg.url("motcua")

    async def setup() -> None:
        await ensure_database(admin)
        conn = await _admin(admin)
        try:
            await migrate(conn, name=args.name)
        finally:
            await conn.close()

    try:
        asyncio.run(setup())
        url_file = folder / "admin-url"
        url_file.write_text(admin + "\n")
        url_file.chmod(0o600)
        print("motcua — kho dữ liệu tỉnh / province hub (PostgreSQL 16, embedded)")
        print(f"  dữ liệu / data  : {pg.datadir}")
        print(f"  quản trị / admin: {admin}")
        print(f"                    (also in {url_file}, readable by you only)")
        print("  thêm đơn vị / add a site:")
        print(f"    motcua hub add-site XA01 --name 'UBND xã …' --hub \"$(cat {url_file})\"")
        if args.once:
            return 0
        print("Nhấn Ctrl+C để dừng / press Ctrl+C to stop.", flush=True)
        stop = asyncio.Event()

        async def wait() -> None:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await stop.wait()

        asyncio.run(wait())
    finally:
        if not args.once:
            print("Đang dừng / stopping PostgreSQL…", flush=True)
            pg.stop()
    return 0


def _province(args: argparse.Namespace) -> int:
    url = args.hub
    if not _url_ok(url):
        print("motcua province --hub postgresql://…  (a reader's or the admin's URL)",
              file=sys.stderr)
        return 2
    from motcua.tui import quiet_terminal_logging

    from .province import ProvinceApp

    with quiet_terminal_logging():
        ProvinceApp(url, language=args.lang, silent_after=args.silent_after,
                    every=args.every).run()
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``motcua hub`` and ``motcua province``."""
    p = sub.add_parser("hub", help="kho dữ liệu tỉnh / the province hub (PostgreSQL)",
                       description="Kho dữ liệu tỉnh trên PostgreSQL / the province hub on "
                                   "PostgreSQL: every site's events, figures and live state.")
    hs = p.add_subparsers(dest="hub_command", required=True)
    admin = os.environ.get(ADMIN_ENV)

    c = hs.add_parser("init", help="create or migrate the hub's schema")
    c.add_argument("url", nargs="?", default=admin,
                   help=f"the database's URL as its owner or a superuser (or {ADMIN_ENV}); "
                        "the database is created if missing")
    c.add_argument("--name", help="the province's name for report titles")
    c.add_argument("--prefix", help="prefix of the hub's role names (default: the database's)")
    c.add_argument("--to-version", type=int, help=argparse.SUPPRESS)
    c.set_defaults(func=_init)

    c = hs.add_parser("add-site", help="create a site and print its credential (a URL)")
    c.add_argument("code", help="the site's code, e.g. XA01 (as in its [hub] code)")
    c.add_argument("--name", help="the site's name")
    c.add_argument("--rotate", action="store_true", help="give an existing site a new password")
    c.add_argument("--hub", default=admin, help=f"the admin URL (or {ADMIN_ENV})")
    c.set_defaults(func=_add_site)

    c = hs.add_parser("add-reader", help="a read-only login for reports and the province view")
    c.add_argument("name")
    c.add_argument("--rotate", action="store_true")
    c.add_argument("--hub", default=admin, help=f"the admin URL (or {ADMIN_ENV})")
    c.set_defaults(func=_add_reader)

    c = hs.add_parser("sites", help="every site: events held, high-water mark, last heard")
    c.add_argument("--hub", default=admin, help=f"a reader's or the admin URL (or {ADMIN_ENV})")
    c.set_defaults(func=_sites)

    c = hs.add_parser("health", help="the hub's own figures (Prometheus text)")
    c.add_argument("--hub", default=admin, help=f"a reader's or the admin URL (or {ADMIN_ENV})")
    c.add_argument("--listen", metavar="HOST:PORT", help="serve them at http://HOST:PORT/metrics")
    c.set_defaults(func=_health)

    c = hs.add_parser("embedded", help="run a PostgreSQL 16 for the hub from pip (pgserver)")
    c.add_argument("--dir", default="motcua-hub", help="its data folder (default motcua-hub)")
    c.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (0.0.0.0 to let sites of the network in)")
    c.add_argument("--port", type=int, default=5433, help="TCP port (default 5433)")
    c.add_argument("--name", help="the province's name for report titles")
    c.add_argument("--once", action="store_true",
                   help="start it, set it up and return, leaving it running")
    c.set_defaults(func=_embedded)

    p = sub.add_parser("province", help="tổng hợp toàn tỉnh / the province's live view",
                       description="Mọi đơn vị trên một màn hình / every site on one screen: "
                                   "waiting now, served today, longest wait, satisfaction, "
                                   "alerts, last heard.")
    p.add_argument("--hub", required=False, default=os.environ.get("MOTCUA_HUB_READER"),
                   help="a reader's (or the admin's) URL of the hub")
    p.add_argument("--lang", choices=("vi", "en"), default="vi")
    p.add_argument("--silent-after", type=float, default=60.0, metavar="SECONDS",
                   help="mark a site silent after this long without a heartbeat (default 60)")
    p.add_argument("--every", type=float, default=2.0, metavar="SECONDS",
                   help="refresh interval (default 2)")
    p.set_defaults(func=_province)
