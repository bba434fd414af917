"""Load the demo candidate registry (idempotent): python -m services.validator.demo_registry"""

import asyncio

import asyncpg

from services.common.db import open_pool
from services.common.migrations import apply_migrations
from services.common.settings import ValidatorSettings

SITES = [("Montreal", "MTL"), ("Ottawa", "OTT")]
# candid, pscid, site alias, active, {visit label: active}
CANDIDATES = [
    ("300001", "MTL0001", "MTL", True, {"V1": True, "V2": False}),
    ("300002", "MTL0002", "MTL", False, {"V1": True}),
    ("400001", "OTT0001", "OTT", True, {"V1": True}),
]


async def load_demo_registry(conn: asyncpg.Connection) -> None:
    async with conn.transaction():
        for name, alias in SITES:
            await conn.execute(
                "INSERT INTO validator.sites (name, alias) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET alias = $2",
                name,
                alias,
            )
        for candid, pscid, alias, active, visits in CANDIDATES:
            await conn.execute(
                """INSERT INTO validator.candidates (candid, pscid, site_id, active)
                   VALUES ($1, $2, (SELECT site_id FROM validator.sites WHERE alias = $3), $4)
                   ON CONFLICT (candid) DO UPDATE SET pscid = $2, site_id = EXCLUDED.site_id, active = $4""",
                candid,
                pscid,
                alias,
                active,
            )
            for visit_label, visit_active in visits.items():
                await conn.execute(
                    """INSERT INTO validator.sessions (candid, visit_label, active) VALUES ($1, $2, $3)
                       ON CONFLICT (candid, visit_label) DO UPDATE SET active = $3""",
                    candid,
                    visit_label,
                    visit_active,
                )


async def main() -> None:
    pool = await open_pool(ValidatorSettings().database_url)
    try:
        await apply_migrations(pool)
        async with pool.acquire() as conn:
            await load_demo_registry(conn)
    finally:
        await pool.close()
    print(f"demo registry loaded: {len(SITES)} sites, {len(CANDIDATES)} candidates")


if __name__ == "__main__":
    asyncio.run(main())
