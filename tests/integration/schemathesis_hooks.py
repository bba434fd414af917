"""Loaded by schemathesis in tests/integration/test_api_schema.py (SCHEMATHESIS_HOOKS): tus's PATCH bodies,
application/offset+octet-stream, are sent as it sends application/octet-stream."""

import schemathesis

schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")
