"""Where a LORIS database is, from its mysql://user:password@host:port/database URL (shared by the services and
the reference pipeline, which imports nothing else of the uploader's but the exit codes)."""

from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

DEFAULT_PORT = 3306


@dataclass(frozen=True)
class LorisDatabaseAddress:
    """Where the LORIS database is, from its mysql://user:password@host:port/database URL."""

    user: str
    password: str = field(repr=False)
    host: str
    port: int
    database: str

    @classmethod
    def from_url(cls, url: str) -> "LorisDatabaseAddress":
        parts = urlsplit(url)
        if parts.scheme != "mysql":
            raise ValueError(f"the LORIS database URL must start with mysql://, not {parts.scheme or 'nothing'}://")
        database = unquote(parts.path.lstrip("/"))
        if not parts.hostname or not parts.username or not database:
            raise ValueError("the LORIS database URL needs a user, a host and a database: "
                             "mysql://user:password@host:3306/database")
        return cls(user=unquote(parts.username), password=unquote(parts.password or ""), host=parts.hostname,
                   port=parts.port or DEFAULT_PORT, database=database)
