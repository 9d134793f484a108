"""Program reports as JSON (and CSV): ``GET /api/v1/reports`` and ``/api/v1/reports/{figure}``."""

from __future__ import annotations

from aiohttp import web

from bedboard import reports
from bedboard.access import Action
from bedboard.api.registry import route
from bedboard.context import POOL, SETTINGS, authorize, require_principal
from bedboard.database import acquire
from bedboard.reports import FigureInfo, FigureList, Filters, Report


@route("GET", "/api/v1/reports", summary="The report figures you may read", tag="reports")
async def list_reports(request: web.Request) -> FigureList:
    principal = require_principal(request)
    return FigureList(
        figures=[
            FigureInfo(
                slug=f.slug,
                title=f.title,
                family=f.family,
                summary=f.summary,
                filters=sorted(["from", "to", *f.filters]),
            )
            for f in reports.visible(principal)
        ]
    )


@route(
    "GET",
    "/api/v1/reports/{figure}",
    summary="One report figure, filtered; format=csv for RFC 4180 CSV",
    tag="reports",
    responses={404: "No such figure"},
    model=Report,
)
async def get_report(request: web.Request, query: Filters) -> Report | web.Response:
    """Every figure is defined in docs/reports.md. Days and months are local
    (America/Chicago); without `from`/`to` the last twelve months up to today."""
    slug = request.match_info["figure"]
    reports.figure_named(slug)  # 404 before authorizing an unknown name
    async with acquire(request.app[POOL]) as conn:
        principal = authorize(request, Action.REPORT_READ, reports.report_resource(slug))
        report = await reports.run(
            conn, slug, query, principal, zone_name=request.app[SETTINGS].timezone
        )
    if query.format == "csv":
        return web.Response(
            body=reports.to_csv(report),
            content_type="text/csv",
            charset="utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{reports.csv_filename(report)}"'
            },
        )
    return report
