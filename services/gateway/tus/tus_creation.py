"""Creating a tus upload (POST /api/v1/tus/): the pre-flight of an upload. Every rule and permission is judged
here as POST /api/v1/uploads judges them before reading its file; a refused creation stores nothing."""

import secrets

from aiohttp import web

from services.common.app_keys import POOL, SETTINGS
from services.gateway.auth.users import User
from services.gateway.tus import tus_rows
from services.gateway.tus.tus_headers import metadata, upload_length
from services.gateway.uploads.upload_rules import UploadRefused, judge, scan_fields

ID_BYTES = 24  # an unguessable id: 32 characters of base64url


async def create_upload(request: web.Request, user: User) -> tus_rows.TusUpload:
    app = request.app
    length = upload_length(request)
    form, file_name = metadata(request)
    fields = scan_fields(form)
    verdict = await judge(app, fields, file_name, length, user)
    if not verdict.ok:
        raise UploadRefused(verdict.failures)
    async with app[POOL].acquire() as conn:
        return await tus_rows.create_row(conn, secrets.token_urlsafe(ID_BYTES), user.username, fields, file_name,
                                         length, app[SETTINGS].tus_expiry_hours)
