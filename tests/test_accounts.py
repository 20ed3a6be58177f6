"""Sign-in protections: rate limits on failed logins, and TOTP two-factor authentication."""

import re
import time

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa import app_settings
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.urls import reverse

from tests.waiting import eventually

pytestmark = pytest.mark.django_db


def attempt(client, password):
    return client.post(reverse("account_login"), {"login": "alice@example.com", "password": password})


def test_a_burst_of_failed_logins_is_refused_even_with_the_right_password(client, alice):
    for _ in range(5):
        response = attempt(client, "wrong password")
        assert response.status_code == 200
        assert b"The email address and/or password you specified are not correct" in response.content
    response = attempt(client, "alice-password-1")
    assert b"Too many failed login attempts" in response.content
    assert "_auth_user_id" not in client.session


def test_the_right_password_works_before_the_limit(client, alice):
    attempt(client, "wrong password")
    response = attempt(client, "alice-password-1")
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(alice.pk)


def current_code(secret: str) -> str:
    """What the user's authenticator app shows now, read early in its 30 s window.

    The platform accepts only the current window's code; a person seeing a code
    about to change waits for the next one, and so does this, so the code is
    still current when the form reaches the server a moment later.
    """
    period = app_settings.TOTP_PERIOD
    eventually(lambda: time.time() % period < period - 5, timeout=period, interval=0.2)
    return format_hotp_value(hotp_value(secret, int(time.time()) // period))


def test_alice_turns_on_totp_and_then_needs_a_code_to_sign_in(client, alice):
    client.force_login(alice)
    page = client.get(reverse("mfa_activate_totp"))
    assert page.url.startswith(reverse("account_reauthenticate"))  # asks for the password first
    client.post(reverse("account_reauthenticate"), {"password": "alice-password-1"})
    page = client.get(reverse("mfa_activate_totp"))
    assert page.status_code == 200
    secret = page.context["form"].secret
    response = client.post(reverse("mfa_activate_totp"), {"code": current_code(secret)})
    assert response.status_code == 302
    assert alice.authenticator_set.filter(type="totp").exists()

    client.logout()
    response = attempt(client, "alice-password-1")
    assert response.status_code == 302
    assert response.url == reverse("mfa_authenticate")
    assert "_auth_user_id" not in client.session
    wrong = "000000" if current_code(secret) != "000000" else "111111"
    client.post(reverse("mfa_authenticate"), {"code": wrong})
    assert "_auth_user_id" not in client.session
    response = client.post(reverse("mfa_authenticate"), {"code": current_code(secret)})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(alice.pk)


def test_a_burst_of_sign_ups_from_one_address_is_refused(client, settings):
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "signup": "3/m/ip"}
    for number in range(3):
        response = client.post(
            reverse("account_signup"),
            {
                "email": f"user{number}@example.com",
                "password1": "a long passphrase 42",
                "password2": "a long passphrase 42",
            },
        )
        assert response.status_code == 302
    response = client.post(
        reverse("account_signup"),
        {
            "email": "user9@example.com",
            "password1": "a long passphrase 42",
            "password2": "a long passphrase 42",
        },
    )
    assert response.status_code == 429
    assert not EmailAddress.objects.filter(email="user9@example.com").exists()


def test_password_reset_mail_leads_to_a_new_password(client, alice, mailoutbox):
    client.post(reverse("account_reset_password"), {"email": "alice@example.com"})
    (message,) = mailoutbox
    link = re.search(r"http://\S+/accounts/password/reset/key/\S+/", message.body).group(0)
    form = client.get(link, follow=True)
    client.post(
        form.redirect_chain[-1][0],
        {"password1": "a new long passphrase", "password2": "a new long passphrase"},
    )
    client.logout()
    assert attempt(client, "alice-password-1").status_code == 200
    response = client.post(
        reverse("account_login"), {"login": "alice@example.com", "password": "a new long passphrase"}
    )
    assert response.status_code == 302


def test_mail_is_in_the_products_name_with_links_to_site_url(client, settings, mailoutbox):
    # allauth named the site after the request's host: "Hello from 127.0.0.1:8000!".
    settings.SITE_URL = "https://cloud.example.org"
    client.post(
        reverse("account_signup"),
        {"email": "dana@example.com", "password1": "a long passphrase 7", "password2": "a long passphrase 7"},
    )
    (message,) = mailoutbox
    assert message.subject == "[M3O] Please Confirm Your Email Address"
    assert message.from_email.startswith("M3O <")
    assert message.body.startswith("Hello from M3O!")
    assert re.search(r"https://cloud\.example\.org/accounts/confirm-email/\S+/", message.body)
    assert message.body.rstrip().endswith("https://cloud.example.org")
    assert "testserver" not in message.body


@pytest.mark.parametrize(
    ("mail", "form", "link"),
    [
        # Nobody has this address: allauth mails a sign-up link ("unknown account").
        ("unknown account", ("account_reset_password", {"email": "zed@example.com"}), "/accounts/signup/"),
        ("password reset", ("account_reset_password", {"email": "alice@example.com"}), "/accounts/password/"),
        # Someone signs up with alice's address: she gets a mail with a reset link.
        (
            "account already exists",
            ("account_signup", {"email": "alice@example.com", "password1": "a long passphrase 7",
                                "password2": "a long passphrase 7"}),
            "/accounts/password/reset/",
        ),
    ],
)  # fmt: skip
def test_a_forged_host_header_never_reaches_a_mails_links(
    client, settings, mailoutbox, alice, mail, form, link
):
    # A server that answers any host name (ALLOWED_HOSTS=*, or a proxy that passes Host on):
    # the forger asks for a mail to alice and hopes its link leads to evil.example.
    settings.ALLOWED_HOSTS = ["*"]
    settings.SITE_URL = "https://cloud.example.org"
    name, data = form
    client.post(reverse(name), data, HTTP_HOST="evil.example")
    (message,) = mailoutbox
    links = re.findall(r"https?://\S+", message.body)
    assert any(found.startswith(f"https://cloud.example.org{link}") for found in links), (mail, message.body)
    assert all(found.startswith("https://cloud.example.org/") or found == "https://cloud.example.org"
               for found in links), message.body  # fmt: skip
    assert "evil.example" not in message.body + message.subject


def test_email_change_needs_the_new_address_verified(client, alice, mailoutbox):
    client.force_login(alice)
    client.post(reverse("account_email"), {"action_add": "", "email": "alice@new.example"})
    address = EmailAddress.objects.get(email="alice@new.example")
    assert not address.verified
    (message,) = mailoutbox
    assert "alice@new.example" in message.to


def test_the_first_admin_of_make_run_can_sign_in(client, settings, tmp_path):
    from django.core.management import call_command

    settings.VAR_DIR = tmp_path
    call_command("ensure_admin")
    password = (tmp_path / "admin-password").read_text().strip()
    response = client.post(reverse("account_login"), {"login": "admin@localhost", "password": password})
    assert response.status_code == 302
    assert client.session["_auth_user_id"]
