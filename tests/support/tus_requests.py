"""Raw tus 1.0.0 requests to the gateway, as any tus client sends them, for the protocol's edges."""

import base64

import aiohttp

TUS = {"Tus-Resumable": "1.0.0"}
CHUNK = {"Content-Type": "application/offset+octet-stream"}


def upload_metadata(file_name: str, **fields) -> str:
    """Upload-Metadata: `key base64(value)` pairs; booleans as true/false."""
    values = {"filename": file_name, **{key: str(value).lower() if isinstance(value, bool) else str(value)
                                        for key, value in fields.items()}}
    return ",".join(f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in values.items())


class TusRequests:
    def __init__(self, http: aiohttp.ClientSession, base_url: str, token: str) -> None:
        self._http = http
        self.base_url = base_url
        self.headers = {"Authorization": f"Bearer {token}", **TUS}

    async def create(self, file_name: str, length: int, *, body: bytes | None = None, headers=None,
                     **fields) -> aiohttp.ClientResponse:
        sent = {**self.headers, "Upload-Length": str(length), "Upload-Metadata": upload_metadata(file_name, **fields),
                **(CHUNK if body is not None else {}), **(headers or {})}
        return await self._request("POST", "/api/v1/tus/", headers=sent, data=body)

    async def patch(self, location: str, offset: int, data, headers=None) -> aiohttp.ClientResponse:
        sent = {**self.headers, **CHUNK, "Upload-Offset": str(offset), **(headers or {})}
        return await self._request("PATCH", location, headers=sent, data=data)

    async def head(self, location: str) -> aiohttp.ClientResponse:
        return await self._request("HEAD", location, headers=self.headers)

    async def delete(self, location: str) -> aiohttp.ClientResponse:
        return await self._request("DELETE", location, headers=self.headers)

    async def options(self) -> aiohttp.ClientResponse:
        return await self._request("OPTIONS", "/api/v1/tus/", headers=self.headers)

    async def _request(self, method: str, path: str, **kwargs) -> aiohttp.ClientResponse:
        answer = await self._http.request(method, self.base_url + path, **kwargs)
        await answer.read()
        return answer
