"""The gateway remembers whose a token is for a few seconds, and no longer."""

from services.gateway.auth.token_cache import TokenCache
from services.gateway.auth.users import User

ALICE = User(1, "alice", frozenset({"imaging_uploader_allsites"}))


class Tokens:
    """The database's answer, changed at will, and how often it was asked."""

    def __init__(self) -> None:
        self.users: dict[str, User] = {}
        self.lookups = 0

    async def lookup(self, pool, token: str) -> User | None:
        self.lookups += 1
        return self.users.get(token)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def cache_of(tokens: Tokens, clock: Clock, **options) -> TokenCache:
    return TokenCache(ttl=5, lookup=tokens.lookup, clock=clock, **options)


async def test_a_valid_token_is_looked_up_once_within_the_ttl():
    tokens, clock = Tokens(), Clock()
    tokens.users["t"] = ALICE
    cache = cache_of(tokens, clock)

    answers = [await cache.user(None, "t") for _ in range(3)]
    clock.now += 4.9
    answers.append(await cache.user(None, "t"))

    assert answers == [ALICE] * 4
    assert tokens.lookups == 1


async def test_a_revoked_token_stops_working_once_the_ttl_has_passed():
    tokens, clock = Tokens(), Clock()
    tokens.users["t"] = ALICE
    cache = cache_of(tokens, clock)
    assert await cache.user(None, "t") == ALICE

    del tokens.users["t"]
    clock.now += 5

    assert await cache.user(None, "t") is None
    assert await cache.user(None, "t") is None
    assert tokens.lookups == 3


async def test_a_changed_permission_is_seen_once_the_ttl_has_passed():
    tokens, clock = Tokens(), Clock()
    tokens.users["t"] = ALICE
    cache = cache_of(tokens, clock)
    await cache.user(None, "t")

    viewer = User(1, "alice", frozenset({"data_entry"}))
    tokens.users["t"] = viewer
    clock.now += 5

    assert await cache.user(None, "t") == viewer


async def test_an_invalid_token_is_not_remembered_so_a_new_token_works_at_once():
    tokens, clock = Tokens(), Clock()
    cache = cache_of(tokens, clock)
    assert await cache.user(None, "t") is None

    tokens.users["t"] = ALICE

    assert await cache.user(None, "t") == ALICE


async def test_the_cache_holds_at_most_max_tokens():
    tokens, clock = Tokens(), Clock()
    for n in range(10):
        tokens.users[f"t{n}"] = ALICE
    cache = cache_of(tokens, clock, max_tokens=4)

    for n in range(10):
        assert await cache.user(None, f"t{n}") == ALICE

    assert len(cache._users) <= 4
