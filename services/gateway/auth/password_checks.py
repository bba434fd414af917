"""Password checks, bounded. Sign-in is open to anyone, and each check is an
argon2id hash of 64 MiB and about a tenth of a second of CPU (a LORIS user's
bcrypt: some tens of milliseconds): unbounded, a flood of sign-ins would take
the gateway's memory and CPU from its uploads.

At most `at_once` sign-ins are checked at a time in a gateway; one more is
refused at once (SignInBusy: 503 with Retry-After), without hashing. The
checks run on threads of their own, not in asyncio's default pool (where the
uploads' fsyncs run), at a lower CPU priority than the rest of the gateway:
on a busy machine an upload goes first."""

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from services.common import metrics
from services.gateway.auth.passwords import verify_password
from services.gateway.auth.sign_in_refusals import SignInBusy

log = logging.getLogger(__name__)

# The lowest priority (0 is the usual): on a busy CPU the hashing threads (and argon2's own threads, which
# inherit it) get a small share, yet still a share. At 10, a flood of sign-ins left an upload beside it less than
# half its speed now and then on 2 cores (argon2 runs 4 threads of its own per hash).
HASHING_NICENESS = 19


class PasswordChecks:
    def __init__(self, at_once: int) -> None:
        self._at_once = at_once
        self._in_progress = 0
        self._executor = ThreadPoolExecutor(at_once, thread_name_prefix="password-check", initializer=_lower_priority)

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        """Hold one of the `at_once` places for a sign-in; raises SignInBusy when none is free."""
        if self._in_progress >= self._at_once:
            metrics.SIGN_INS_REFUSED.labels("busy").inc()
            raise SignInBusy()
        self._in_progress += 1
        try:
            yield
        finally:
            self._in_progress -= 1

    async def verify(self, password_hash: str | None, password: str,
                     verifier: Callable[[str | None, str], bool] = verify_password) -> bool:
        """Whether the password matches the hash, by `verifier` (argon2 by default; LORIS's bcrypt in LORIS site
        mode)."""
        matches = await asyncio.get_running_loop().run_in_executor(self._executor, verifier, password_hash, password)
        metrics.PASSWORD_CHECKS.labels("match" if matches else "mismatch").inc()
        return matches

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _lower_priority() -> None:
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASHING_NICENESS)  # this thread only (Linux)
    except OSError as error:
        log.warning("could not lower the priority of a password-check thread", extra={"error": repr(error)})


PASSWORD_CHECKS = web.AppKey("password_checks", PasswordChecks)


def with_password_checks(app: web.Application, at_once: int) -> None:
    async def checks_ctx(app: web.Application) -> AsyncIterator[None]:
        app[PASSWORD_CHECKS] = PasswordChecks(at_once)
        yield
        app[PASSWORD_CHECKS].close()

    app.cleanup_ctx.append(checks_ctx)
