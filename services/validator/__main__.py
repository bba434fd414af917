"""Validator: checks each received upload against the candidate registry
and announces upload.validated or upload.rejected with every failed rule."""

from aiohttp import web

from services.common.runner import run_service, service_app, with_consumer, with_outbox_relay
from services.common.settings import ValidatorSettings
from services.common.topology import VALIDATOR_QUEUE
from services.validator.decide import SCHEMA, decide_on_upload


def build_app(settings: ValidatorSettings) -> web.Application:
    app = service_app("validator", settings)
    with_outbox_relay(app, SCHEMA)
    with_consumer(app, VALIDATOR_QUEUE, SCHEMA, decide_on_upload)
    return app


if __name__ == "__main__":
    run_service(build_app(ValidatorSettings()))
