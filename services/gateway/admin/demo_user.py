"""Create the demo user with every uploader permission (the status page's too) and both demo sites (idempotent):
UPLOADER_DEMO_TOKEN=... UPLOADER_DEMO_PASSWORD=... python -m services.gateway.admin.demo_user"""

import asyncio
import sys

from pydantic import ValidationError

from services.common.db import open_pool
from services.common.migrations import apply_migrations
from services.common.scope import ALL_PERMISSIONS
from services.common.settings import DemoUserSettings, GatewaySettings
from services.gateway.auth.users import save_user, set_password

DEMO_USERNAME = "demo"
DEMO_SITES = ["MTL", "OTT"]
TOKEN_VARIABLE = "UPLOADER_DEMO_TOKEN"
PASSWORD_VARIABLE = "UPLOADER_DEMO_PASSWORD"


def demo_user_settings() -> DemoUserSettings:
    """The settings, or the program's end naming the first one missing or blank."""
    try:
        return DemoUserSettings()
    except ValidationError as invalid:
        field = str(invalid.errors()[0]["loc"][0])
        meaning = DemoUserSettings.model_fields[field].description
        sys.exit(f"{DemoUserSettings.model_config['env_prefix']}{field.upper()} is not set: it is {meaning}.")


async def main() -> None:
    demo = demo_user_settings()
    token, password = demo.token, demo.password
    pool = await open_pool(GatewaySettings().database_url)
    try:
        await apply_migrations(pool)
        async with pool.acquire() as conn, conn.transaction():
            await save_user(conn, DEMO_USERNAME, sorted(ALL_PERMISSIONS), token, sites=DEMO_SITES)
            await set_password(conn, DEMO_USERNAME, password)
    finally:
        await pool.close()
    print(
        f"demo user '{DEMO_USERNAME}' ready, with sites {', '.join(DEMO_SITES)},"
        f" the token from {TOKEN_VARIABLE} and the password from {PASSWORD_VARIABLE}"
    )


if __name__ == "__main__":
    asyncio.run(main())
