"""Repeated failures lock a username from one address (not from everywhere), and an address guessing
many usernames, out of the sign-in page and the token exchange alike."""

import pytest

from portal.lockout import PER_ADDRESS, PER_USERNAME_AND_ADDRESS

pytestmark = pytest.mark.django_db
HOME = "198.51.100.7"
ELSEWHERE = "203.0.113.99"


def test_ten_wrong_passwords_lock_that_username_from_that_address_only(client, rivera, password):
    assert PER_USERNAME_AND_ADDRESS == 10
    for _ in range(10):
        page = client.post("/accounts/login/", {"username": "rivera", "password": "wrong"}, REMOTE_ADDR=HOME).content.decode()
        assert "did not match an active account" in page
    locked = client.post("/accounts/login/", {"username": "rivera", "password": password}, REMOTE_ADDR=HOME).content.decode()
    assert "Too many attempts" in locked and "_auth_user_id" not in client.session
    # the same user, from another address, signs in
    ok = client.post("/accounts/login/", {"username": "rivera", "password": password}, REMOTE_ADDR=ELSEWHERE)
    assert ok.status_code == 302 and "_auth_user_id" in client.session


def test_nine_failures_do_not_lock(client, rivera, password):
    for _ in range(9):
        client.post("/accounts/login/", {"username": "rivera", "password": "wrong"}, REMOTE_ADDR=HOME)
    assert client.post("/accounts/login/", {"username": "rivera", "password": password}, REMOTE_ADDR=HOME).status_code == 302


def test_token_exchange_shares_the_lockout(api_client, rivera, password):
    for _ in range(10):
        assert api_client.post("/api/v1/auth/token/", {"username": "rivera", "password": "nope"}, format="json").status_code == 400
    refused = api_client.post("/api/v1/auth/token/", {"username": "rivera", "password": password}, format="json")
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "too_many_attempts"


def test_one_address_guessing_many_usernames_is_locked(api_client, rivera, password):
    for i in range(PER_ADDRESS):
        api_client.post("/api/v1/auth/token/", {"username": f"guess{i}", "password": "x"}, format="json", REMOTE_ADDR="203.0.113.50")
    refused = api_client.post("/api/v1/auth/token/", {"username": "rivera", "password": password}, format="json", REMOTE_ADDR="203.0.113.50")
    assert refused.status_code == 429
    elsewhere = api_client.post("/api/v1/auth/token/", {"username": "rivera", "password": password}, format="json", REMOTE_ADDR="203.0.113.51")
    assert elsewhere.status_code == 400 and elsewhere.json()["error"]["code"] == "second_factor_required"  # password accepted


def test_a_success_clears_the_count(client, rivera, password):
    for _ in range(9):
        client.post("/accounts/login/", {"username": "rivera", "password": "wrong"})
    assert client.post("/accounts/login/", {"username": "rivera", "password": password}).status_code == 302
    client.logout()
    for _ in range(9):
        client.post("/accounts/login/", {"username": "rivera", "password": "wrong"})
    assert client.post("/accounts/login/", {"username": "rivera", "password": password}).status_code == 302


def test_counts_live_in_redis_when_configured(settings):
    """The suite runs with CACHE_URL on Redis when Redis answers (as production must): every web process counts together."""
    import os

    if os.environ.get("PORTAL_TEST_REDIS") != "1":
        pytest.skip("Redis is not available here")
    assert settings.CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"


@pytest.mark.parametrize("proxies, forwarded, expected", [(0, "1.1.1.1", "10.0.0.9"), (1, "6.6.6.6, 1.1.1.1", "1.1.1.1"),
                                                          (2, "6.6.6.6, 1.1.1.1, 10.0.0.2", "1.1.1.1")])
def test_client_address_behind_proxies(rf, settings, proxies, forwarded, expected):
    from portal.ratelimit import client_address

    settings.TRUSTED_PROXY_COUNT = proxies
    request = rf.get("/", HTTP_X_FORWARDED_FOR=forwarded, REMOTE_ADDR="10.0.0.9")
    assert client_address(request) == expected
