"""Browse's total is summed from logstore.upload_counts, which triggers keep
in the transaction that changes an upload: it must always be exactly the
count of the rows, for every scope and filter."""

import itertools
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import asyncpg
import pytest

from services.common.api_models import UploadListQuery
from services.common.messages import UserScope
from services.logstore import queries

SCOPES = (
    UserScope(username="everyone", all_sites=True),
    UserScope(username="mo", own_sites=("MTL",)),
    UserScope(username="pat", no_session=True),
    UserScope(username="both", own_sites=("MTL", "OTT"), no_session=True),
    UserScope(username="nobody"),
)
FILTERS = (
    {}, {"site": "MTL"}, {"site": "OTT"}, {"progress": "Failure"}, {"progress": "Not Started"},
    {"is_phantom": True}, {"is_phantom": False}, {"site": "MTL", "progress": "Success"}, {"site": "QC"},
)


class Rollback(Exception):
    """Leaves the test's rows out of the run's database."""


async def insert(conn: asyncpg.Connection, upload_id: int, *, site, is_phantom, progress, uploaded_by) -> None:
    await conn.execute(
        """INSERT INTO logstore.uploads (upload_id, file_name, is_phantom, uploaded_by, attempt, state_rank, progress,
                                         site, uploaded_at)
           VALUES ($1, $2, $3, $4, 1, 0, $5, $6, $7)""",
        upload_id, f"counted_{upload_id}.tgz", is_phantom, uploaded_by, progress, site,
        datetime.now(timezone.utc) - timedelta(seconds=upload_id % 1000),
    )


async def assert_counts_match_rows(conn: asyncpg.Connection) -> None:
    kept = await conn.fetch("""SELECT site, is_phantom, progress, uploaded_by, uploads FROM logstore.upload_counts
                               WHERE uploads <> 0 ORDER BY 1, 2, 3, 4""")
    counted = await conn.fetch("""SELECT site, is_phantom, progress, uploaded_by, count(*) AS uploads
                                  FROM logstore.uploads GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4""")
    assert [tuple(r) for r in kept] == [tuple(r) for r in counted]
    for scope, filters in itertools.product(SCOPES, FILTERS):
        query = UploadListQuery.model_validate({**filters, "page_size": 1})
        count_sql, _, args = queries.browse_statements(query, scope)
        assert "upload_counts" in count_sql
        page = await queries.list_uploads(conn, query, scope, Path("/incoming"))
        where, where_args = queries._conditions(query, scope)
        rows = await conn.fetchval(f"SELECT count(*) FROM logstore.uploads WHERE {where}", *where_args)
        assert page["total"] == rows, (scope, filters)


async def test_the_counts_follow_every_insert_update_delete_and_truncate(pool):
    base = uuid.uuid4().int % 10**9 + 2 * 10**9
    with pytest.raises(Rollback):
        async with pool.acquire() as conn, conn.transaction():
            await assert_counts_match_rows(conn)
            await insert(conn, base + 1, site="MTL", is_phantom=False, progress="Not Started", uploaded_by="mo")
            await insert(conn, base + 2, site="OTT", is_phantom=False, progress="Not Started", uploaded_by="mo")
            await insert(conn, base + 3, site=None, is_phantom=True, progress="Not Started", uploaded_by="pat")
            await insert(conn, base + 4, site="MTL", is_phantom=False, progress="Not Started", uploaded_by="sam")
            # an event that arrives before the upload's facts leaves its columns unknown (null)
            await conn.execute("""INSERT INTO logstore.uploads (upload_id, attempt, state_rank, progress)
                                  VALUES ($1, 1, 40, 'In Progress')""", base + 5)
            await assert_counts_match_rows(conn)

            await conn.execute("UPDATE logstore.uploads SET progress = 'Failure' WHERE upload_id = $1", base + 1)
            await conn.execute("UPDATE logstore.uploads SET site = 'MTL' WHERE upload_id = $1", base + 2)
            await conn.execute("""UPDATE logstore.uploads SET site = 'OTT', is_phantom = false, uploaded_by = 'mo'
                                  WHERE upload_id = $1""", base + 5)
            await conn.execute("UPDATE logstore.uploads SET tarchive = 'x', site = site WHERE upload_id = $1", base + 4)
            await assert_counts_match_rows(conn)

            await conn.execute("DELETE FROM logstore.uploads WHERE upload_id = ANY($1::bigint[])", [base + 3, base + 4])
            await assert_counts_match_rows(conn)

            await conn.execute("TRUNCATE logstore.uploads")
            assert await conn.fetchval("SELECT coalesce(sum(uploads), 0) FROM logstore.upload_counts") == 0
            await insert(conn, base + 6, site="MTL", is_phantom=False, progress="Success", uploaded_by="mo")
            await assert_counts_match_rows(conn)
            raise Rollback


async def test_a_filter_on_candid_pscid_or_visit_counts_the_rows():
    for filters in ({"candid": "300001"}, {"pscid": "MTL0001"}, {"visit_label": "V1", "site": "MTL"}):
        count_sql, _, _ = queries.browse_statements(UploadListQuery.model_validate(filters), SCOPES[0])
        assert "FROM logstore.uploads" in count_sql and "upload_counts" not in count_sql
