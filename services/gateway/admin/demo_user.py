"""Create the demo user with every uploader permission (the status page's too) and both demo sites (idempotent):
UPLOADER_DEMO_TOKEN=... UPLOADER_DEMO_PASSWORD=... python -m services.gateway.admin.demo_user

In LORIS site mode it gives LORIS's demo user the demo token only: no password, no permissions (LORIS's)."""

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
    settings = GatewaySettings()
    pool = await open_pool(settings.database_url)
    try:
        await apply_migrations(pool)
        async with pool.acquire() as conn, conn.transaction():
            if settings.loris_database_url:
                # LORIS site mode: the demo user is LORIS's (python -m loris_standin.demo), with its password and
                # permissions there; only the token's digest and the username are kept here.
                await save_user(conn, DEMO_USERNAME, [], token)
            else:
                await save_user(conn, DEMO_USERNAME, sorted(ALL_PERMISSIONS), token, sites=DEMO_SITES)
                await set_password(conn, DEMO_USERNAME, password)
    finally:
        await pool.close()
    if settings.loris_database_url:
        print(f"demo user '{DEMO_USERNAME}' (of LORIS) ready, with the token from {TOKEN_VARIABLE}")
    else:
        print(
            f"demo user '{DEMO_USERNAME}' ready, with sites {', '.join(DEMO_SITES)},"
            f" the token from {TOKEN_VARIABLE} and the password from {PASSWORD_VARIABLE}"
        )


if __name__ == "__main__":
    asyncio.run(main())
