"""The web page: plain HTML, CSS and JavaScript from services/gateway/web/,
served as they are (no build step, nothing from the internet).

Every page response says where its scripts and styles may come from (this
gateway only) and may not be framed; files are revalidated on each load so
that a new version is seen at once after an upgrade.
"""

from pathlib import Path

from aiohttp import web

WEB_ROOT = Path(__file__).parent
STATIC_PREFIX = "/static/"
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                               "form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}


def setup_web_page(app: web.Application) -> None:
    app.router.add_get("/", index_page)
    app.router.add_static(STATIC_PREFIX, WEB_ROOT / "static")
    app.on_response_prepare.append(_page_headers)


async def index_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(WEB_ROOT / "index.html")


async def _page_headers(request: web.Request, response: web.StreamResponse) -> None:
    if request.path == "/" or request.path.startswith(STATIC_PREFIX):
        response.headers.update(PAGE_HEADERS)
