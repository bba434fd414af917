"""A small client of the gateway's API, as a user's script would use it."""

import asyncio
from pathlib import Path

import aiohttp

FINISHED = ("Success", "Failure")


class UploaderClient:
    def __init__(self, session: aiohttp.ClientSession, base_url: str, token: str) -> None:
        self._session = session
        self.base_url = base_url
        self.headers = {"Authorization": f"Bearer {token}"}

    async def upload(self, archive: Path, *, candid="", pscid="", visit_label="", is_phantom=False, overwrite=False,
                     file_name: str | None = None, headers: dict[str, str] | None = None) -> aiohttp.ClientResponse:
        form = aiohttp.FormData()
        for name, value in (("candid", candid), ("pscid", pscid), ("visit_label", visit_label)):
            if value:
                form.add_field(name, value)
        form.add_field("is_phantom", str(is_phantom).lower())
        form.add_field("overwrite", str(overwrite).lower())
        with open(archive, "rb") as handle:
            form.add_field("file", handle, filename=file_name or archive.name, content_type="application/octet-stream")
            return await self._request("POST", "/api/v1/uploads", data=form, headers=headers)

    async def check(self, *, file_name: str, file_size: int, candid=None, pscid=None, visit_label=None,
                    is_phantom=False, overwrite=False) -> aiohttp.ClientResponse:
        """The pre-flight: would this upload be accepted?"""
        body = {"candid": candid, "pscid": pscid, "visit_label": visit_label, "is_phantom": is_phantom,
                "overwrite": overwrite, "file_name": file_name, "file_size": file_size}
        return await self._request("POST", "/api/v1/uploads/check", json=body)

    async def get(self, path: str, **params) -> aiohttp.ClientResponse:
        return await self._request("GET", path, params=params)

    async def post(self, path: str) -> aiohttp.ClientResponse:
        return await self._request("POST", path)

    async def launch(self, upload_id: int) -> aiohttp.ClientResponse:
        return await self._request("POST", f"/api/v1/uploads/{upload_id}/launch")

    async def upload_summary(self, upload_id: int) -> dict:
        return await (await self.get(f"/api/v1/uploads/{upload_id}")).json()

    async def log(self, upload_id: int, mode: str = "summary", **params) -> dict:
        answer = await self.get(f"/api/v1/uploads/{upload_id}/log", mode=mode, **params)
        assert answer.status == 200, await answer.text()
        return await answer.json()

    async def wait_for_progress(self, upload_id: int, wanted=FINISHED, timeout: float = 60) -> dict:
        async with asyncio.timeout(timeout):
            while True:
                answer = await self.get(f"/api/v1/uploads/{upload_id}")
                if answer.status == 200:
                    summary = await answer.json()
                    if summary["progress"] in wanted:
                        return summary
                await asyncio.sleep(0.1)

    async def _request(self, method: str, path: str, headers: dict[str, str] | None = None,
                       **kwargs) -> aiohttp.ClientResponse:
        answer = await self._session.request(method, self.base_url + path, headers={**self.headers, **(headers or {})},
                                             **kwargs)
        await answer.read()
        return answer
