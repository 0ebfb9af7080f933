"""F10 (issue 17, finding 7): three anonymous password resets for one address sent three emails;
nothing limited it (a way to flood staff with email). Now resets are limited per client address and
per email address, counted whether or not an account has that email, with the same answer either way."""

import pytest
from django.core import mail

from portal.views_signin import RESETS_PER_ADDRESS, RESETS_PER_EMAIL

pytestmark = pytest.mark.django_db


def test_resets_for_one_email_are_limited_and_the_answer_does_not_say_whether_it_exists(client, technician):
    technician.email = "tech@northwind.example"
    technician.save()
    answers = {}
    for email in ("tech@northwind.example", "nobody@northwind.example"):
        codes = [client.post("/accounts/password-reset/", {"email": email}, REMOTE_ADDR=f"198.51.100.{i}").status_code
                 for i in range(RESETS_PER_EMAIL + 2)]
        answers[email] = codes
    assert answers["tech@northwind.example"] == answers["nobody@northwind.example"] == [302] * RESETS_PER_EMAIL + [429, 429]
    assert len(mail.outbox) == RESETS_PER_EMAIL  # three emails to the real account, then none
    # the same address in other letters is the same account
    assert client.post("/accounts/password-reset/", {"email": "TECH@northwind.example"}, REMOTE_ADDR="198.51.100.99").status_code == 429


def test_one_address_asking_for_many_emails_is_limited(client):
    codes = [client.post("/accounts/password-reset/", {"email": f"user{i}@example.com"}, REMOTE_ADDR="203.0.113.9").status_code
             for i in range(RESETS_PER_ADDRESS + 1)]
    assert codes == [302] * RESETS_PER_ADDRESS + [429]
    limited = client.post("/accounts/password-reset/", {"email": "x@example.com"}, REMOTE_ADDR="203.0.113.9")
    assert "Too many reset requests" in limited.content.decode()
    assert client.post("/accounts/password-reset/", {"email": "x@example.com"}, REMOTE_ADDR="203.0.113.10").status_code == 302
