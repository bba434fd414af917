"""The LORIS REST API v0.0.4-dev, served under /api/v0.0.4-dev/ so that the
upload scripts LORIS sites already use work unchanged.

A thin second HTTP layer: each route parses LORIS's request, checks what
LORIS itself checks (the URL against the request body, flags that must be
booleans), then calls the same operation as /api/v1 (upload, launch, the
logstore's records) with the same permissions, and shapes the answer and
every error (`{"error": "<sentence>"}`) as LORIS does.
"""
