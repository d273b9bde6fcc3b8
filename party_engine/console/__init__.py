"""The host console: a static web page served by the engine at `/`.

It uses only the public HTTP API and `/ws`, like any other client. The page itself is at `/`;
its scripts, styles and images are under `/console/`. The assets are not mounted at `/`, where
they would shadow the API and the WebSocket route.
"""

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"
ASSETS_PREFIX = "/console"

# The page loads nothing from elsewhere; listing images are the one exception (sellers' URLs).
_CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "img-src 'self' https: http: data:",
        "connect-src 'self' ws: wss:",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)

router = APIRouter(include_in_schema=False)


@router.get("/")
async def console_page() -> FileResponse:
    return FileResponse(
        STATIC_DIR / "index.html",
        headers={
            "Content-Security-Policy": _CONTENT_SECURITY_POLICY,
            "Cache-Control": "no-cache",
        },
    )


def install(app: FastAPI) -> None:
    """Serve the console page at `/` and its assets under `/console/`."""
    app.include_router(router)
    app.mount(ASSETS_PREFIX, StaticFiles(directory=STATIC_DIR), name="console")
