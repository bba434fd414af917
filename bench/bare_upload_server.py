"""The baseline: a bare aiohttp handler that streams the request body to disk,
as it comes (no parsing, no checks, no fsync, no record).

python bench/bare_upload_server.py PORT DIRECTORY
"""

import sys
import uuid
from pathlib import Path

from aiohttp import web

CHUNK_BYTES = 1024**2


async def upload(request: web.Request) -> web.Response:
    target = Path(request.app["directory"]) / uuid.uuid4().hex
    size = 0
    with open(target, "wb") as handle:
        async for chunk in request.content.iter_chunked(CHUNK_BYTES):
            handle.write(chunk)
            size += len(chunk)
    return web.json_response({"bytes": size}, status=201)


def main() -> None:
    port, directory = int(sys.argv[1]), sys.argv[2]
    app = web.Application()
    app["directory"] = directory
    app.router.add_post("/upload", upload)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main()
