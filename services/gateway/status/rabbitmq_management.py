"""RabbitMQ's management API, asked for what only it knows: how fast messages
go into and out of each queue (it samples them every few seconds).

It answers for the vhost of UPLOADER_AMQP_URL, with that URL's user and
password unless UPLOADER_RABBITMQ_MANAGEMENT_URL names its own. When it
cannot answer, the caller is told why in one sentence (ManagementUnavailable),
never with a stack trace, and never with the password.
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import quote, unquote

import aiohttp
from aiohttp import web
from yarl import URL

TIMEOUT = aiohttp.ClientTimeout(total=3)
COLUMNS = "name,message_stats.publish_details.rate,message_stats.deliver_get_details.rate"


class ManagementUnavailable(Exception):
    """The management API gave no usable answer; the message says where and why."""


@dataclass(frozen=True)
class QueueRates:
    publish: float  # messages per second
    deliver: float


class ManagementApi:
    def __init__(self, session: aiohttp.ClientSession, management_url: str, amqp_url: str) -> None:
        given, amqp = URL(management_url), URL(amqp_url)
        own_credentials = given.user is not None
        self._session = session
        self._user = (given.user if own_credentials else amqp.user) or "guest"
        password = (given.password if own_credentials else amqp.password) or "guest"
        self._headers = {"Authorization": aiohttp.encode_basic_auth(self._user, password)}
        self.where = str(given.with_user(None)).rstrip("/")
        vhost = unquote(amqp.raw_path.removeprefix("/")) or "/"
        self._queues_url = URL(f"{self.where}/api/queues/{quote(vhost, safe='')}", encoded=True).with_query(
            columns=COLUMNS)

    async def rates(self) -> dict[str, QueueRates]:
        """Each queue's rates, by queue name; 0 for a queue that has seen no message in a while."""
        try:
            async with self._session.get(self._queues_url, headers=self._headers, timeout=TIMEOUT) as answer:
                if answer.status == 401:
                    raise ManagementUnavailable(f"RabbitMQ management API at {self.where} refused the user "
                                                f"{self._user!r} (401)")
                if answer.status != 200:
                    raise ManagementUnavailable(f"RabbitMQ management API at {self.where} answered {answer.status} "
                                                f"for {self._queues_url.path}")
                queues = await answer.json()
        except TimeoutError:
            raise ManagementUnavailable(f"RabbitMQ management API unreachable at {self.where}: no answer within "
                                        f"{TIMEOUT.total:g} s") from None
        except (aiohttp.ClientError, ValueError) as error:
            raise ManagementUnavailable(f"RabbitMQ management API unreachable at {self.where}: {error}") from None
        if not isinstance(queues, list):
            raise ManagementUnavailable(f"RabbitMQ management API at {self.where} answered something else than a "
                                        "list of queues")
        return {queue["name"]: _rates(queue) for queue in queues if isinstance(queue, dict) and "name" in queue}


def _rates(queue: dict) -> QueueRates:
    stats = queue.get("message_stats") or {}
    return QueueRates(publish=_rate(stats, "publish_details"), deliver=_rate(stats, "deliver_get_details"))


def _rate(stats: dict, name: str) -> float:
    return float((stats.get(name) or {}).get("rate") or 0.0)


MANAGEMENT = web.AppKey("rabbitmq_management", ManagementApi)


def with_rabbitmq_management(app: web.Application, management_url: str, amqp_url: str) -> None:
    async def client_ctx(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession() as session:
            app[MANAGEMENT] = ManagementApi(session, management_url, amqp_url)
            yield

    app.cleanup_ctx.append(client_ctx)
