"""Create the demo user with every uploader permission (idempotent):
UPLOADER_DEMO_TOKEN=... python -m services.gateway.load_demo"""

import asyncio
import os
import sys

from services.common.db import open_pool
from services.common.migrations import apply_migrations
from services.common.settings import GatewaySettings
from services.gateway.users import UPLOADER_PERMISSIONS, save_user

DEMO_USERNAME = "demo"
TOKEN_VARIABLE = "UPLOADER_DEMO_TOKEN"


async def main() -> None:
    token = os.environ.get(TOKEN_VARIABLE, "").strip()
    if not token:
        sys.exit(f"{TOKEN_VARIABLE} is not set: it is the demo user's API token.")
    pool = await open_pool(GatewaySettings().database_url)
    try:
        await apply_migrations(pool)
        async with pool.acquire() as conn:
            await save_user(conn, DEMO_USERNAME, sorted(UPLOADER_PERMISSIONS), token)
    finally:
        await pool.close()
    print(f"demo user '{DEMO_USERNAME}' ready, with the token from {TOKEN_VARIABLE}")


if __name__ == "__main__":
    asyncio.run(main())
