"""The baseline of the pre-flight benchmark: a bare aiohttp handler that reads
the JSON body and answers a fixed JSON, with no checks, no broker and no
database.

python bench/bare_json_server.py PORT
"""

import json
import sys

from aiohttp import web

ANSWER = json.dumps({"ok": True, "errors": [], "existing": None, "max_upload_bytes": 53687091200}).encode()


async def check(request: web.Request) -> web.Response:
    await request.json()
    return web.Response(body=ANSWER, content_type="application/json")


def main() -> None:
    app = web.Application()
    app.router.add_post("/api/v1/uploads/check", check)
    app.router.add_get("/healthz", lambda request: web.json_response({"status": "ok"}))
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
