"""Which address a sign-in is counted against: the peer's, or, from a trusted proxy, the client it names."""

from aiohttp.test_utils import make_mocked_request

from services.gateway.auth.client_address import client_address, trusted_networks

PROXIES = trusted_networks(["10.0.0.0/8", "192.0.2.7"])


def request_from(peer: str, forwarded_for: str | None = None):
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for is not None else {}
    request = make_mocked_request("POST", "/api/v1/session", headers=headers)
    return request.clone(remote=peer)


def test_a_direct_client_is_its_own_address_whatever_its_header_says():
    assert client_address(request_from("198.51.100.4", "203.0.113.9"), PROXIES) == "198.51.100.4"


def test_without_trusted_proxies_the_header_is_never_believed():
    assert client_address(request_from("10.1.2.3", "203.0.113.9"), ()) == "10.1.2.3"


def test_behind_a_trusted_proxy_the_client_is_the_address_it_names():
    assert client_address(request_from("10.1.2.3", "203.0.113.9"), PROXIES) == "203.0.113.9"


def test_an_address_the_client_wrote_in_front_of_the_proxy_s_is_not_believed():
    forwarded = "198.51.100.66, 203.0.113.9, 192.0.2.7"

    assert client_address(request_from("10.1.2.3", forwarded), PROXIES) == "203.0.113.9"


def test_a_trusted_proxy_without_the_header_is_the_address():
    assert client_address(request_from("10.1.2.3"), PROXIES) == "10.1.2.3"
