"""Validator: checks each received upload against the candidate registry and
the uploader's site scope, and announces upload.validated or upload.rejected
with every failed rule. It answers the same checks on request, before a byte
of an upload is sent."""

from aiohttp import web

from services.common.loris_connections import with_loris_connections
from services.common.runner import run_service, service_app, with_consumer, with_outbox_relay, with_request_answerer
from services.common.settings import ValidatorSettings
from services.common.topology import RULE_CHECK_QUEUE, VALIDATOR_QUEUE
from services.validator.decide import upload_decider
from services.validator.rule_checks import answer_rule_checks
from services.validator.schema import SCHEMA


def build_app(settings: ValidatorSettings) -> web.Application:
    app = service_app("validator", settings)
    with_loris_connections(app, settings.loris_database_url)  # before the consumer and the answerer, which read the registry there
    with_outbox_relay(app, SCHEMA)
    with_consumer(app, VALIDATOR_QUEUE, SCHEMA, upload_decider(app))
    with_request_answerer(app, RULE_CHECK_QUEUE, answer_rule_checks)
    return app


if __name__ == "__main__":
    run_service(build_app(ValidatorSettings()))
