"""Settings helpers refuse nonsense instead of quietly taking a default."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from portal.env import envbool, envint, envlist, envpath, envsecret


def test_envbool(monkeypatch):
    monkeypatch.setenv("FLAG", "yes")
    assert envbool("FLAG") is True
    monkeypatch.setenv("FLAG", "off")
    assert envbool("FLAG", True) is False
    monkeypatch.setenv("FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="FLAG must be true or false"):
        envbool("FLAG")


def test_envint(monkeypatch):
    monkeypatch.delenv("N", raising=False)
    assert envint("N", 7) == 7
    monkeypatch.setenv("N", "12")
    assert envint("N", 7) == 12
    monkeypatch.setenv("N", "twelve")
    with pytest.raises(ImproperlyConfigured, match="whole number"):
        envint("N", 7)
    monkeypatch.setenv("N", "0")
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        envint("N", 7, minimum=1)


def test_envsecret_reads_a_file(monkeypatch, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    monkeypatch.delenv("TOKEN", raising=False)
    monkeypatch.setenv("TOKEN_FILE", str(secret))
    assert envsecret("TOKEN") == "s3cret"
    monkeypatch.setenv("TOKEN_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="cannot be read"):
        envsecret("TOKEN")


def test_envlist_and_envpath(monkeypatch, tmp_path):
    monkeypatch.setenv("HOSTS", "a.example, b.example,,")
    assert envlist("HOSTS") == ["a.example", "b.example"]
    monkeypatch.setenv("BUNDLE", str(tmp_path / "nope.pem"))
    with pytest.raises(ImproperlyConfigured, match="not a readable file"):
        envpath("BUNDLE", must_exist=True)
