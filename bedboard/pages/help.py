"""User guides at /help: the role guides and the glossary, rendered from docs/*.md.

The markdown files ship inside the package (``bedboard.docs``, mapped to docs/ in
pyproject), so an installed wheel serves the same text the repository shows. Raw HTML in
the markdown is not rendered, and links between guides (``glossary.md``) become
``/help/glossary``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from aiohttp import web
from markdown_it import MarkdownIt
from markupsafe import Markup

from bedboard.auth import Role
from bedboard.pages import render, require_role
from bedboard.problems import not_found


@dataclass(frozen=True)
class Guide:
    name: str
    filename: str
    audience: str


GUIDES: tuple[Guide, ...] = (
    Guide("liaison", "guide-liaison.md", "Liaisons"),
    Guide("intake", "guide-intake.md", "Hospital intake staff"),
    Guide("court", "guide-court.md", "Court staff"),
    Guide("glossary", "glossary.md", "Everyone"),
    Guide("reports", "reports.md", "Everyone who reads the program's figures"),
)
_BY_NAME = {g.name: g for g in GUIDES}
_BY_FILE = {g.filename: g for g in GUIDES}

# Where each role's Help link goes. Viewers read the board: the glossary explains it.
HELP_FOR_ROLE: dict[Role, str] = {
    Role.ADMIN: "/help",
    Role.LIAISON: "/help/liaison",
    Role.SUPERVISOR: "/help/liaison#supervisors",
    Role.FACILITY: "/help/intake",
    Role.COURT: "/help/court",
    Role.VIEWER: "/help/glossary",
}

_GUIDE_LINK = re.compile(r"^([a-z0-9-]+\.md)(#[\w-]*)?$")


@dataclass(frozen=True)
class Rendered:
    title: str
    html: Markup


def anchor(text: str) -> str:
    """The id a guide's heading gets: its words, lower case, joined by hyphens."""
    return "-".join(re.findall(r"[a-z0-9]+", text.lower()))


def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False}).enable("table")


@cache
def rendered(name: str) -> Rendered:
    """A guide as HTML (cached: the files are part of the installed package)."""
    guide = _BY_NAME[name]
    text = resources.files("bedboard.docs").joinpath(guide.filename).read_text(encoding="utf-8")
    md = _markdown()
    tokens = md.parse(text)
    title = guide.name
    for i, token in enumerate(tokens):
        if token.type == "heading_open" and token.tag == "h1":
            title = tokens[i + 1].content
            break
    for i, token in enumerate(tokens):
        if token.type == "heading_open" and token.tag in ("h2", "h3"):
            token.attrSet("id", anchor(tokens[i + 1].content))  # so a page can link to it
    for token in tokens:
        for child in token.children or ():
            if child.type != "link_open":
                continue
            href = str(child.attrGet("href") or "")
            match = _GUIDE_LINK.match(href)
            if match and match.group(1) in _BY_FILE:
                child.attrSet(
                    "href", f"/help/{_BY_FILE[match.group(1)].name}{match.group(2) or ''}"
                )
    # The HTML comes from our own packaged markdown with raw HTML disabled.
    return Rendered(title, Markup(md.renderer.render(tokens, md.options, {})))


async def help_index(request: web.Request) -> web.StreamResponse:
    principal = require_role(request)
    guides = [(g, rendered(g.name).title) for g in GUIDES]
    mine = HELP_FOR_ROLE.get(principal.role, "/help")
    return render(request, "help/index.html", guides=guides, mine=mine)


async def help_page(request: web.Request) -> web.StreamResponse:
    require_role(request)
    name = request.match_info["name"]
    if name not in _BY_NAME:
        raise not_found("guide")
    page = rendered(name)
    return render(request, "help/guide.html", guide=_BY_NAME[name], page=page)


def setup(app: web.Application) -> None:
    app.router.add_get("/help", help_index)
    app.router.add_get("/help/{name}", help_page)
