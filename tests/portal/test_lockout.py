"""Repeated failures lock the username (and the address) out of the sign-in page and the token exchange."""

import pytest

pytestmark = pytest.mark.django_db


def test_sign_in_page_locks_a_username_after_five_failures(client, rivera, password):
    for _ in range(5):
        page = client.post("/accounts/login/", {"username": "rivera", "password": "wrong"}).content.decode()
        assert "did not match an active account" in page
    locked = client.post("/accounts/login/", {"username": "rivera", "password": password}).content.decode()
    assert "Too many attempts" in locked and "_auth_user_id" not in client.session
    # another user from another address is not affected
    ok = client.post("/accounts/login/", {"username": "chen", "password": password}, REMOTE_ADDR="198.51.100.7")
    assert ok.status_code in (200, 302)


def test_token_exchange_shares_the_lockout(api_client, rivera, password):
    for _ in range(5):
        assert api_client.post("/api/v1/auth/token/", {"username": "rivera", "password": "nope"}, format="json").status_code == 400
    refused = api_client.post("/api/v1/auth/token/", {"username": "rivera", "password": password}, format="json")
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "too_many_attempts"


def test_one_address_guessing_many_usernames_is_locked(api_client, rivera, password):
    for i in range(20):
        api_client.post("/api/v1/auth/token/", {"username": f"guess{i}", "password": "x"}, format="json", REMOTE_ADDR="203.0.113.50")
    refused = api_client.post("/api/v1/auth/token/", {"username": "rivera", "password": password}, format="json", REMOTE_ADDR="203.0.113.50")
    assert refused.status_code == 429
    assert api_client.post("/api/v1/auth/token/", {"username": "rivera", "password": password}, format="json",
                           REMOTE_ADDR="203.0.113.51").status_code == 200


def test_a_success_clears_the_username_count(client, rivera, password):
    for _ in range(4):
        client.post("/accounts/login/", {"username": "rivera", "password": "wrong"})
    assert client.post("/accounts/login/", {"username": "rivera", "password": password}).status_code == 302
    client.logout()
    for _ in range(4):
        client.post("/accounts/login/", {"username": "rivera", "password": "wrong"})
    assert client.post("/accounts/login/", {"username": "rivera", "password": password}).status_code == 302


@pytest.mark.parametrize("proxies, forwarded, expected", [(0, "1.1.1.1", "10.0.0.9"), (1, "6.6.6.6, 1.1.1.1", "1.1.1.1"),
                                                          (2, "6.6.6.6, 1.1.1.1, 10.0.0.2", "1.1.1.1")])
def test_client_address_behind_proxies(rf, settings, proxies, forwarded, expected):
    from portal.ratelimit import client_address

    settings.TRUSTED_PROXY_COUNT = proxies
    request = rf.get("/", HTTP_X_FORWARDED_FOR=forwarded, REMOTE_ADDR="10.0.0.9")
    assert client_address(request) == expected
