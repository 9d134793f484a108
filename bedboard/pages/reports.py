"""The reports pages: ``/reports`` (the figures a role may open) and ``/reports/{figure}``
(its filters as a GET form, so a link can be shared; a chart; the same numbers as a
table; CSV with ``?format=csv``). The chart is server-side SVG drawn by pygal from the
same rows as the table (one query per view), embedded as a ``data:`` image: an image
runs no script (pygal's config script never runs) and loads nothing from elsewhere, and
the page's policy allows ``img-src data:``."""

from __future__ import annotations

import base64
import calendar
import math
from datetime import date
from typing import Any

import pygal  # type: ignore[import-untyped]
from aiohttp import web
from pydantic import ValidationError
from pygal.style import Style  # type: ignore[import-untyped]

from bedboard import courts, facilities, regions, reports
from bedboard.access import Action
from bedboard.auth import Principal, Role
from bedboard.context import POOL, SETTINGS, authorize
from bedboard.database import acquire
from bedboard.pages import field_errors, labels, render, require_role
from bedboard.pages.help import anchor
from bedboard.placements import order_types
from bedboard.placements.models import DECLINE_LABELS, DeclineReason
from bedboard.placements.waiting import PLACE_LABELS, Place
from bedboard.reports import Figure, Filters, Report

# The form's labels, by query name (the page's fields and its error sentences use them).
FILTER_LABELS = {
    "from": "From",
    "to": "To",
    "county": "County",
    "region": "Region",
    "court_id": "Court",
    "facility_id": "Facility",
    "order_type": "Order type",
    "population": "Age group",
    "needs": "Needs",
}
FAMILIES = ("Placements", "No bed found", "Referrals", "Capacity")

_MONTHS = tuple(calendar.month_name)[1:]

CHART_STYLE = Style(
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#1f2933",
    foreground_strong="#1f2933",
    foreground_subtle="#d9e2ec",
    font_family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
    label_font_size=13,
    major_label_font_size=13,
    legend_font_size=13,
    title_font_size=15,
    colors=("#1d4ed8", "#c2410c", "#15803d", "#7e22ce", "#b91c1c", "#0f766e", "#a16207"),
)


def cell(value: Any, kind: str, key: str = "") -> str:
    """A value as the table shows it (``key``: the column, for coded values)."""
    if value is None:
        return "—"
    if kind == "hours":
        return f"{value:,.1f}\u00a0h"
    if kind == "mean":
        return f"{value:,.1f}"
    if kind == "rate":
        return f"{value * 100:.1f}\u00a0%"
    if kind == "month":
        year, month = str(value).split("-")
        return f"{_MONTHS[int(month) - 1]} {year}"
    if kind == "day":
        day = date.fromisoformat(str(value))
        return f"{_MONTHS[day.month - 1][:3]} {day.day}, {day.year}"
    if kind in ("int", "beds"):
        return f"{value:,}"
    if key == "reason":
        return DECLINE_LABELS.get(DeclineReason(value), str(value))
    if key == "population":
        return labels.label(value, "population")
    if key == "place":
        return PLACE_LABELS[Place(value)] if value in set(Place) else str(value)
    if key == "needs":  # a needs profile: its codes, comma-separated, or none
        if value == "none":
            return "None recorded"
        return ", ".join(labels.label(v, "specialty") for v in str(value).split(", "))
    return str(value)


def _visible_figures(principal: Principal) -> dict[str, list[Figure]]:
    grouped: dict[str, list[Figure]] = {family: [] for family in FAMILIES}
    for figure in reports.visible(principal):
        grouped.setdefault(figure.family, []).append(figure)
    return {family: figures for family, figures in grouped.items() if figures}


async def index(request: web.Request) -> web.StreamResponse:
    principal = require_role(request)
    return render(request, "reports/index.html", families=_visible_figures(principal))


def _raw_filters(request: web.Request) -> dict[str, str]:
    """The query's filter values (blank ones left out), as the form gave them."""
    return {k: v.strip() for k, v in request.query.items() if k in FILTER_LABELS and v.strip()}


async def _choices(conn: Any, figure: Figure, principal: Principal) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if "county" in figure.filters:
        options["county"] = [("", "All counties")] + [
            (c.fips, labels.county(c.name)) for c in await facilities.list_counties(conn)
        ]
    if "region" in figure.filters:
        defined = await regions.list_regions(conn)
        if defined:  # offered only once an administrator has defined a region
            options["region"] = [("", "All regions")] + [(str(r.id), r.name) for r in defined]
    if "court_id" in figure.filters and principal.role is not Role.COURT:
        options["court_id"] = [("", "All courts")] + [
            (str(c.id), c.name) for c in await courts.list_courts(conn)
        ]
    if "facility_id" in figure.filters:
        options["facility_id"] = [("", "All facilities")] + [
            (str(f.id), f.name) for f in await facilities.list_facilities(conn)
        ]
    if "order_type" in figure.filters:
        options["order_type"] = [("", "All order types")] + [
            (o.code, o.label) for o in await order_types(conn)
        ]
    if "population" in figure.filters:
        options["population"] = [("", "All age groups")] + [
            (p.value, labels.label(p.value, "population")) for p in facilities.Population
        ]
    if "needs" in figure.filters:
        options["needs"] = [
            ("", "Any needs"),
            *labels.choices(facilities.SPECIALTIES, "specialty"),
        ]
    return options


async def _report(
    request: web.Request, figure: Figure, principal: Principal, filters: Filters
) -> Report:
    async with acquire(request.app[POOL]) as conn:
        return await reports.run(
            conn, figure.slug, filters, principal, zone_name=request.app[SETTINGS].timezone
        )


def _figure_for(request: web.Request) -> tuple[Figure, Principal]:
    principal = require_role(request)
    figure = reports.figure_named(request.match_info["figure"])
    authorize(request, Action.REPORT_READ, reports.report_resource(figure.slug))
    return figure, principal


async def figure_page(request: web.Request) -> web.StreamResponse:
    figure, principal = _figure_for(request)
    raw = _raw_filters(request)
    wants_csv = request.query.get("format") == "csv"
    errors: dict[str, str] = {}
    report: Report | None = None
    try:
        filters = Filters.model_validate(raw)
    except ValidationError as exc:
        errors = {
            ("from" if k == "from_" else k): v
            for k, v in field_errors(exc, {**FILTER_LABELS, "from_": "From"}).items()
        }
    else:
        report = await _report(request, figure, principal, filters)
        if wants_csv:
            return web.Response(
                body=reports.to_csv(report),
                content_type="text/csv",
                charset="utf-8",
                headers={
                    "Content-Disposition": f'attachment; filename="{reports.csv_filename(report)}"'
                },
            )
    if wants_csv and errors:
        message = "; ".join(errors.values())
        return web.Response(status=422, text=f"These filters cannot be used: {message}\n")
    async with acquire(request.app[POOL]) as conn:
        choices = await _choices(conn, figure, principal)
    query = "&".join(f"{k}={v}" for k, v in (report.filters if report else {}).items())
    return render(
        request,
        "reports/figure.html",
        status=422 if errors else 200,
        figure=figure,
        report=report,
        values=raw,
        errors=errors,
        choices=choices,
        query=query,
        cell=cell,
        labels=FILTER_LABELS,
        chart_series=[c for c in figure.columns if c.key in figure.chart.series],
        chart=_data_uri(chart_svg(figure, report)) if report and report.rows else "",
        narrow_chart=(
            _data_uri(chart_svg(figure, report, narrow=True)) if report and report.rows else ""
        ),
        definition=f"/help/reports#{anchor(figure.title)}",
    )


def _data_uri(svg: bytes) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")


def chart_svg(figure: Figure, report: Report, *, narrow: bool = False) -> bytes:
    """The figure's chart as SVG (pygal); ``narrow`` for a phone's width, where the same
    drawing scaled down would have unreadable labels."""
    chart_class = {
        "line": pygal.Line,
        "bar": pygal.Bar,
        "stacked": pygal.StackedBar,
    }[figure.chart.kind]
    labels_column = next(c for c in figure.columns if c.key == figure.chart.x)
    horizontal = labels_column.kind == "text" and figure.chart.kind != "line"
    if horizontal:
        chart_class = {"bar": pygal.HorizontalBar, "stacked": pygal.HorizontalStackedBar}.get(
            figure.chart.kind, chart_class
        )
    rows = report.rows
    legend_columns = 1 if narrow else 3  # a phone's legend: one series a line
    chart = chart_class(
        js=[],
        style=CHART_STYLE,
        width=420 if narrow else 960,
        # room for the legend's lines under the chart
        height=(max(360, 28 * len(rows) + 120) if horizontal else (380 if narrow else 420))
        + 24 * math.ceil(len(figure.chart.series) / legend_columns),
        show_legend=True,
        legend_at_bottom=True,
        legend_at_bottom_columns=legend_columns,
        x_label_rotation=0 if horizontal else 30,
        truncate_label=18 if narrow else 40,
        show_minor_x_labels=len(rows) <= 40,
        x_labels_major_count=12,
        y_title=figure.chart.y_title,
        print_values=False,
        no_data_text="Nothing to show for these filters",
        margin=16,
    )
    if horizontal:
        # Horizontal bars list the first row at the bottom; read top to bottom instead.
        rows = list(reversed(rows))
    chart.x_labels = [cell(r[figure.chart.x], labels_column.kind, figure.chart.x) for r in rows]
    if figure.chart.major_every:
        chart.x_labels_major_count = None
        chart.x_labels_major_every = figure.chart.major_every
    plotted = [c for c in figure.columns if c.key in figure.chart.series]
    for column in plotted:
        values = [r[column.key] for r in rows]
        if column.kind == "rate":
            values = [None if v is None else round(float(v) * 100, 1) for v in values]
        chart.add(column.label, values)
    if all(c.kind in ("int", "beds") for c in plotted):
        # Counts: whole-number ticks (pygal would put 0.2, 0.4, … under a bar of 2).
        totals = [
            sum(int(r[c.key] or 0) for c in plotted)
            if figure.chart.kind == "stacked"
            else max((int(r[c.key] or 0) for c in plotted), default=0)
            for r in rows
        ]
        top = max(totals, default=0)
        if top <= 50:
            step = max(1, math.ceil(top / (4 if narrow else 8)))
            chart.y_labels = list(range(0, top + step, step))
    rendered: bytes = chart.render()
    return rendered


def setup(app: web.Application) -> None:
    app.router.add_get("/reports", index)
    app.router.add_get("/reports/{figure}", figure_page)
