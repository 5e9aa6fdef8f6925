"""A report as a table, and that table as terminal text, CSV or Excel."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable

from motcua.i18n import Catalogue, format_number, format_percent
from motcua.server.config import CenterConfig

from .kpi import Kpis, Report
from .strings import EN, VI

#: Columns in order: (key, kind) — kind is count | minutes | share.
FLOW = [("issued", "count"), ("transferred_in", "count"), ("served", "count"), ("no_show", "count"),
        ("transferred", "count"), ("cancelled", "count"), ("expired", "count"),
        ("wait_mean", "minutes"), ("wait_median", "minutes"), ("wait_p90", "minutes"),
        ("within", "share"), ("service_mean", "minutes"), ("service_median", "minutes"),
        ("service_p90", "minutes")]
TAIL = [("rated", "count"), ("satisfaction", "share")]


def catalogue(language: str = "vi") -> Catalogue:
    """The report strings in ``language``."""
    return Catalogue(VI, EN, language)


@dataclass
class Column:
    key: str
    title: str
    short: str
    kind: str  # text | count | minutes | share


@dataclass
class Table:
    """Headings and cells of a report (numbers raw: minutes as floats,
    shares as fractions 0–1, missing figures as None)."""

    title: str
    subtitle: str
    columns: list[Column]
    rows: list[list[Any]]
    total: list[Any]
    legend: str
    definitions: str
    labels: dict[str, str]
    language: str = "vi"


def _value(k: Kpis, key: str) -> Any:
    if key == "within":
        return k.within_share
    if key == "satisfaction":
        return k.satisfaction
    if key.startswith("level_"):
        return k.ratings.get(int(key[6:]), 0)
    v = getattr(k, key)
    if key.startswith(("wait_", "service_")):
        return None if v is None else v / 60
    return v


def group_label(config: CenterConfig, by: str | None, key: Any, t: Catalogue) -> str:
    """How a group key reads to a manager."""
    if key is None:
        return t(f"none_{by}") if by else t("total")
    if by == "department":
        d = config.department(key)
        return f"{key} – {t.pick({'vi': d.vi, 'en': d.en})}" if d else str(key)
    if by == "procedure":
        p = config.procedure(key)
        return f"{key} – {t.pick({'vi': p.vi, 'en': p.en})}" if p else str(key)
    if by == "counter":
        c = config.counter(int(key))
        return c.name if c else f"{t('group_counter')} {key}"
    if by == "officer":
        o = config.officer(key)
        return f"{key} – {o.name}" if o else str(key)
    if by == "hour":
        return f"{int(key):02d}:00–{int(key) + 1:02d}:00"
    if by == "day":
        return _vn_date(key) if t.language == "vi" else str(key)
    return str(key)


def _code(key: Any) -> Any:
    # A key made of parts (a site and a counter) reads "XA01 · 3".
    return " · ".join(str(k) for k in key) if isinstance(key, tuple) else key


def default_filename(first: str, last: str, by: str | None, language: str = "vi",
                     prefix: str = "file_report", ext: str = "xlsx") -> str:
    """The exported file's default name, in the report's language (no
    diacritics, so it survives every file system and e-mail client):
    ``bao-cao_theo-linh-vuc_2026-11-23.xlsx`` / ``report_by-department_…``."""
    t = catalogue(language)
    period = first if first == last else f"{first}_{last}"
    grouping = t(f"file_by_{by or 'none'}")
    return f"{t(prefix)}_{grouping}_{period}.{ext}"


def _vn_date(day: str) -> str:
    d = date.fromisoformat(day)
    return f"{d:%d/%m/%Y}"


Labeler = Callable[[str | None, Any, Catalogue], str]


def build_table(report: Report, config: CenterConfig, language: str = "vi",
                generated: datetime | None = None, *, heading: dict[str, str] | None = None,
                label: Labeler | None = None, scope: str | None = None,
                levels: list[Any] | None = None) -> Table:
    """Lay a report out as a table in ``language``.

    A report over several centers (the province hub) passes ``heading`` (vi/en
    name for the title), ``label`` (how a group key reads), ``scope`` (the subtitle for
    the whole scope, e.g. the sites covered) and the rating ``levels``;
    a center's own report takes them all from ``config``."""
    t = catalogue(language)
    by = report.by
    fmt = _vn_date if language == "vi" else (lambda d: d)
    if report.first_day == report.last_day:
        period = t("period_day", day=fmt(report.first_day))
    else:
        period = t("period_range", first=fmt(report.first_day), last=fmt(report.last_day))
    sub = [period]
    if scope is not None:
        sub.append(scope)
    sub.append(t("grouped_by", by=t(f"by_{by}")) if by else
               (t("whole_center") if scope is None else t("whole_scope")))
    if generated is not None:
        sub.append(t("generated", at=f"{generated:%H:%M %d/%m/%Y}"))
    cols = [Column("code", t("code"), t("code"), "text"),
            Column("group", t(f"group_{by or 'none'}"), t(f"group_{by or 'none'}"), "text")]
    for key, kind in FLOW:
        cols.append(Column(key, t(key), t(f"short_{key}"), kind))
    levels = sorted(config.rating_levels if levels is None else levels,
                    key=lambda lv: -lv.value)
    for lv in levels:
        name = t.pick({"vi": lv.vi, "en": lv.en})
        cols.append(Column(f"level_{lv.value}", name, name, "count"))
    # Ratings on values no longer in the configuration still count.
    extra = sorted({v for k in [*report.rows, report.total] for v in k.ratings}
                   - {lv.value for lv in levels}, reverse=True)
    for v in extra:
        cols.append(Column(f"level_{v}", f"{v}", f"{v}", "count"))
    for key, kind in TAIL:
        cols.append(Column(key, t(key), t(f"short_{key}"), kind))

    def cells(k: Kpis, code: Any, label: str) -> list[Any]:
        return [code, label, *(_value(k, c.key) for c in cols[2:])]

    labeler = label or (lambda by_, key, t_: group_label(config, by_, key, t_))
    rows = [cells(k, "" if k.key is None else _code(k.key), labeler(by, k.key, t))
            for k in report.rows]
    total = cells(report.total, "", t("total"))
    title = heading or {"vi": config.name, "en": config.name_en}
    return Table(f"{t('title')} — {t.pick(title)}",
                 " · ".join(sub), cols, rows, total, t("legend"), t("definitions"),
                 {"empty": t("empty"), "flow": t("section_flow"), "page": t("page_footer"),
                  "ratings": t("section_ratings"), "sheet_report": t("sheet_report"),
                  "sheet_definitions": t("sheet_definitions")}, language)


# --- plain text ---------------------------------------------------------------

def _text(v: Any, kind: str, language: str = "vi") -> str:
    # The shared number format: Vietnamese 1.234,5 and 93,7%; English 1,234.5.
    if v is None:
        return "–"
    if kind == "count":
        return format_number(v, 0, language) if isinstance(v, int) else str(v)
    if kind == "minutes":
        return format_number(v, 1, language)
    if kind == "share":
        return format_percent(v, 1, language)
    return str(v)


def to_text(table: Table, width: int = 38) -> str:
    """The report for a terminal: two blocks (volumes and times; ratings),
    each with the group name and a total line."""
    out = [table.title, table.subtitle, ""]
    if not table.rows and not any(isinstance(v, (int, float)) and v for v in table.total[2:]):
        out.append(table.labels["empty"])
        return "\n".join(out) + "\n"
    idx = {c.key: i for i, c in enumerate(table.columns)}
    flow = [c for c in table.columns if c.key in dict(FLOW)]
    ratings = [c for c in table.columns if c.key.startswith("level_") or c.key in dict(TAIL)]
    for name, block in (("flow", flow), ("ratings", ratings)):
        out.append(table.labels[name])
        head = [table.columns[1].short] + [c.short for c in block]
        lines = []
        for row in [*table.rows, None, table.total] if table.rows else [table.total]:
            if row is None:
                lines.append(None)
                continue
            label = str(row[1])
            if len(label) > width:
                label = label[: width - 1] + "…"
            lines.append([label] + [_text(row[idx[c.key]], c.kind, table.language)
                                   for c in block])
        widths = [max(len(head[i]), *(len(r[i]) for r in lines if r)) for i in range(len(head))]
        widths[0] = min(widths[0], width)

        def fmt(parts: list[str]) -> str:
            first = parts[0].ljust(widths[0])
            rest = [p.rjust(w) for p, w in zip(parts[1:], widths[1:])]
            return "  ".join([first, *rest]).rstrip()

        out.append(fmt(head))
        out.append("─" * len(fmt(head)))
        for r in lines:
            out.append("─" * len(fmt(head)) if r is None else fmt(r))
        out.append("")
    out.append(table.legend)
    return "\n".join(out) + "\n"


# --- CSV ---------------------------------------------------------------------------

def _csv_value(v: Any, kind: str) -> Any:
    if v is None:
        return ""
    if kind == "minutes":
        return f"{v:.2f}"
    if kind == "share":
        return f"{v * 100:.1f}"
    return v


def to_csv(table: Table) -> str:
    """The report as CSV: one heading row, one row per group, the total last.
    Minutes with two decimals, percentages 0–100."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([c.title for c in table.columns])
    for row in [*table.rows, table.total]:
        w.writerow([_csv_value(v, c.kind) for v, c in zip(row, table.columns)])
    return buf.getvalue()


def write_csv(table: Table, path: str | Path) -> None:
    """Write CSV with a UTF-8 byte-order mark, so Excel opens Vietnamese text right."""
    Path(path).write_text(to_csv(table), encoding="utf-8-sig", newline="")


# --- Excel ---------------------------------------------------------------------------

def write_xlsx(table: Table, path: str | Path) -> None:
    """The report as an Excel workbook: the table (numbers stay numbers,
    with formats) and a sheet of definitions."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    ws.title = table.labels["sheet_report"][:31]
    ws["A1"] = table.title
    ws["A1"].font = Font(bold=True, size=14)
    ws["A2"] = table.subtitle
    ws["A2"].font = Font(italic=True)
    head_row = 4
    thin = Side(style="thin", color="999999")
    fill = PatternFill("solid", fgColor="DDEBF7")
    for j, col in enumerate(table.columns, start=1):
        cell = ws.cell(row=head_row, column=j, value=col.title)
        cell.font = Font(bold=True)
        cell.fill = fill
        cell.alignment = Alignment(wrap_text=True, vertical="center", horizontal="center")
        cell.border = Border(bottom=thin, top=thin, left=thin, right=thin)
    formats = {"count": "#,##0", "minutes": "0.0", "share": "0.0%"}
    r = head_row
    for row in [*table.rows, table.total]:
        r += 1
        for j, (v, col) in enumerate(zip(row, table.columns), start=1):
            cell = ws.cell(row=r, column=j, value=v)
            if col.kind in formats and v is not None:
                cell.number_format = formats[col.kind]
    for j in range(1, len(table.columns) + 1):
        ws.cell(row=r, column=j).font = Font(bold=True)
        ws.cell(row=r, column=j).border = Border(top=thin)
    ncols = len(table.columns)
    ws.cell(row=r + 2, column=1, value=table.legend).font = Font(italic=True, size=9)
    # The title lines span the table, so neither the screen nor the printed
    # page cuts them at the first column's edge.
    for row_ in (1, 2):
        ws.merge_cells(start_row=row_, start_column=1, end_row=row_, end_column=ncols)
        ws.cell(row=row_, column=1).alignment = Alignment(horizontal="left", vertical="center")
    ws.merge_cells(start_row=r + 2, start_column=1, end_row=r + 2, end_column=ncols)
    ws.cell(row=r + 2, column=1).alignment = Alignment(wrap_text=True, vertical="top")
    ws.row_dimensions[r + 2].height = 28
    ws.freeze_panes = ws.cell(row=head_row + 1, column=3)
    ws.row_dimensions[head_row].height = 60
    for j, col in enumerate(table.columns, start=1):
        # Narrow figure columns under wrapped headings keep the printed
        # page (fitted to its width) readable.
        if col.key == "group":
            longest = max([len(str(row[j - 1])) for row in [*table.rows, table.total]] + [10])
            width = min(44, longest + 2)
        elif col.key == "code":
            width = 9
        else:
            width = 9.5
        ws.column_dimensions[get_column_letter(j)].width = width
    ws.auto_filter.ref = f"A{head_row}:{get_column_letter(ncols)}{r - 1}"
    _print_setup(ws, table, f"A1:{get_column_letter(ncols)}{r + 2}", landscape=True)
    ws.print_title_rows = f"{head_row}:{head_row}"  # the column headings on every page
    ws.print_title_cols = "A:B"  # and the group's code and name

    ds = wb.create_sheet(table.labels["sheet_definitions"][:31])
    ds.column_dimensions["A"].width = 120
    lines = table.definitions.split("\n")
    for i, line in enumerate(lines, start=1):
        ds.cell(row=i, column=1, value=line).alignment = Alignment(wrap_text=True,
                                                                    vertical="top")
    _print_setup(ds, table, f"A1:A{len(lines)}", landscape=False)
    wb.save(path)


def _print_setup(ws: Any, table: Table, area: str, landscape: bool) -> None:
    """A4, the whole width on one page (as many pages down as needed), the
    report's title in the page header and page numbers in the footer."""
    from openpyxl.worksheet.page import PageMargins

    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = "landscape" if landscape else "portrait"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0  # 0: no limit on the number of pages down
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_area = area
    ws.print_options.horizontalCentered = True
    ws.page_margins = PageMargins(left=0.4, right=0.4, top=0.7, bottom=0.6, header=0.3,
                                  footer=0.3)
    ws.oddHeader.center.text = table.title.replace("&", "&&")
    ws.oddHeader.center.size = 10
    ws.oddHeader.center.font = "-,Bold"
    ws.oddFooter.left.text = table.subtitle.replace("&", "&&")
    ws.oddFooter.left.size = 8
    ws.oddFooter.right.text = table.labels.get("page", "&P / &N")
    ws.oddFooter.right.size = 8
