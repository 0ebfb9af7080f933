"""Sign-in, sign-out, password reset, role home pages and the token API."""

import re

import pytest
from django.core import mail

from tests.factories import UserFactory
from tests.twofa import app_device, code_now, sign_in

pytestmark = pytest.mark.django_db

GENERIC = "Those details did not match an active account"


@pytest.mark.parametrize(
    "persona, home, heading",
    [
        ("rivera", "/prescriber/", "Prescriber home"),
        ("pharmacist", "/pharmacy/", "Pharmacist home"),
        ("technician", "/pharmacy/bench/", "Pharmacy technician home"),
        ("pharmacy_admin", "/pharmacy/admin/", "Pharmacy admin home"),
    ],
)
def test_each_role_lands_on_its_home_after_both_factors(client, request, password, persona, home, heading):
    user = request.getfixturevalue(persona)
    user = getattr(user, "user", user)
    device = app_device(user)
    response = client.post("/accounts/login/", {"username": user.username, "password": password}, follow=True)
    assert response.redirect_chain[-1][0] == "/accounts/two-factor/verify/?next=%2F"
    assert client.get(home).status_code == 302  # a password alone opens nothing
    response = client.post("/accounts/two-factor/verify/", {"code": code_now(device), "next": "/"}, follow=True)
    assert response.redirect_chain[-1][0] == home
    assert heading in response.content.decode()


def test_failed_sign_in_shows_one_generic_message(client, rivera, password):
    wrong_password = client.post("/accounts/login/", {"username": "rivera", "password": "nope"}).content.decode()
    unknown_user = client.post("/accounts/login/", {"username": "nobody", "password": password}).content.decode()
    for page in (wrong_password, unknown_user):
        assert page.count(GENERIC) == 1
        assert "password" not in page.split(GENERIC)[1].split("</p>")[0].lower()
    assert "_auth_user_id" not in client.session


def test_inactive_user_cannot_sign_in(client, password):
    UserFactory(username="gone", is_active=False)
    page = client.post("/accounts/login/", {"username": "gone", "password": password}).content.decode()
    assert GENERIC in page


def test_other_roles_pages_are_forbidden(client, rivera, password):
    sign_in(client, rivera.user, password)
    assert client.get("/prescriber/").status_code == 200
    for url in ("/pharmacy/", "/pharmacy/bench/", "/pharmacy/admin/"):
        assert client.get(url).status_code == 403


def test_pages_need_sign_in(client):
    response = client.get("/prescriber/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_sign_out_ends_the_session(client, rivera, password):
    sign_in(client, rivera.user, password)
    client.post("/accounts/logout/")
    assert client.get("/prescriber/").status_code == 302


def test_password_reset_by_email(client, rivera):
    client.post("/accounts/password-reset/", {"email": rivera.user.email})
    assert len(mail.outbox) == 1
    link = re.search(r"https?://[^/]+(/accounts/reset/\S+)", mail.outbox[0].body).group(1)
    form = client.get(link, follow=True)
    assert "Choose a new password" in form.content.decode()
    set_url = form.redirect_chain[-1][0]
    done = client.post(set_url, {"new_password1": "a-brand-new-pass-42", "new_password2": "a-brand-new-pass-42"}, follow=True)
    assert "Password changed" in done.content.decode()
    assert client.login(username="rivera", password="a-brand-new-pass-42")


def test_password_reset_for_unknown_email_says_the_same_and_sends_nothing(client):
    response = client.post("/accounts/password-reset/", {"email": "nobody@example.test"}, follow=True)
    assert "Check your email" in response.content.decode()
    assert mail.outbox == []


def test_token_exchange_and_use(api_client, rivera, password):
    response = api_client.post("/api/v1/auth/token/", {"username": "rivera", "password": password, "otp": code_now(app_device(rivera.user))},
                               format="json")
    assert response.status_code == 200
    token = response.json()["token"]
    assert len(token) >= 40
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api_client.get("/api/schema/").status_code == 200
    from portal.models import ApiToken

    stored = ApiToken.objects.get(user=rivera.user)
    assert token not in stored.key_hash and stored.prefix == token[:8]  # only a hash is kept


def test_token_exchange_refuses_bad_credentials_generically(api_client, rivera):
    for body in ({"username": "rivera", "password": "wrong"}, {"username": "ghost", "password": "wrong"}):
        response = api_client.post("/api/v1/auth/token/", body, format="json")
        assert response.status_code == 400
        assert response.json()["error"] == {"code": "invalid_credentials", "message": "Unable to sign in with those credentials.", "fields": {}}


def test_token_exchange_reports_missing_fields(api_client):
    response = api_client.post("/api/v1/auth/token/", {"username": "x"}, format="json")
    assert response.status_code == 400
    assert "password" in response.json()["error"]["fields"]


def test_bad_token_is_refused(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = api_client.get("/api/v1/formulary/ingredients/")
    assert response.status_code == 401


def test_token_exchange_needs_the_second_factor_but_platforms_do_not(api_client, rivera, password):
    body = {"username": "rivera", "password": password}
    refused = api_client.post("/api/v1/auth/token/", body, format="json")
    assert refused.status_code == 400 and "two-factor" in refused.json()["error"]["message"]  # no device yet
    device = app_device(rivera.user)
    wrong = api_client.post("/api/v1/auth/token/", {**body, "otp": "000000" if code_now(device) != "000000" else "111111"}, format="json")
    assert wrong.status_code == 400 and wrong.json()["error"]["fields"] == {"otp": ["Wrong or missing code."]}
    UserFactory(username="platform-bot", role="platform")
    assert api_client.post("/api/v1/auth/token/", {"username": "platform-bot", "password": password}, format="json").status_code == 200


def test_api_token_command_issues_a_working_token_once(api_client, rivera):
    import io

    from django.core.management import CommandError, call_command

    out = io.StringIO()
    call_command("api_token", "rivera", "--name", "EHR bridge", stdout=out)
    token = out.getvalue().strip()
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api_client.get("/api/v1/orders/").status_code == 200
    from portal.models import ApiToken

    assert ApiToken.objects.get(name="EHR bridge").key_hash != token
    with pytest.raises(CommandError, match="No active user"):
        call_command("api_token", "nobody")
