"""The RabbitMQ settings docker-compose.yml mounts are read by RabbitMQ itself: a consumer that holds its
message through a long database outage is not timed out after RabbitMQ's default 30 minutes."""

from tests.support.private_servers import PrivateRabbitMQ
from tests.support.stack import REPO_ROOT

SEVEN_DAYS_MS = 7 * 24 * 3600 * 1000


def test_the_shipped_rabbitmq_configuration_raises_the_consumer_timeout_to_seven_days():
    shipped = (REPO_ROOT / "deploy/rabbitmq/uploader.conf").read_text()
    with PrivateRabbitMQ(extra_config=shipped) as node:
        answer = node.ctl("eval", "application:get_env(rabbit, consumer_timeout).")
    assert answer.strip() == f"{{ok,{SEVEN_DAYS_MS}}}"
