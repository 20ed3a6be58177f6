"""`m3o login` without a token: approve this computer in the browser (RFC 8628's device grant)."""

from __future__ import annotations

import socket
import time

import click
import requests

from cli import clean
from cli.client import TIMEOUT, VERSION, CliError


def _post(url: str, path: str, data: dict) -> tuple[int, dict]:
    try:
        response = requests.post(
            f"{url}/api/{path}", json=data, timeout=TIMEOUT, headers={"User-Agent": f"m3o/{VERSION}"}
        )
    except requests.RequestException:
        raise CliError(f"Cannot reach the M3O server at {url}.") from None
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    return response.status_code, clean.tree(body)


def browser_login(url: str, open_browser: bool) -> str:
    """Ask the server for a code, let the person approve it, and return the token it gives."""
    status, codes = _post(url, "device/", {"client_name": f"m3o on {socket.gethostname()}"[:100]})
    if status != 200 or "device_code" not in codes:
        raise CliError(codes.get("error_description") or f"The server refused to start a sign-in ({status}).")
    link = codes["verification_uri_complete"]
    click.echo(f"Open {link} in a browser where you are signed in,", err=True)
    click.echo(f"and approve the code {codes['user_code']}.", err=True)
    if open_browser:
        click.launch(link)
    interval = max(1, int(codes.get("interval", 5)))
    deadline = time.monotonic() + int(codes.get("expires_in", 600))
    while time.monotonic() < deadline:
        time.sleep(interval)
        status, answer = _post(url, "device/token/", {"device_code": codes["device_code"]})
        if status == 200 and answer.get("access_token"):
            return answer["access_token"]
        error = answer.get("error")
        if error == "authorization_pending":
            continue
        if error == "slow_down":
            interval += 5  # what RFC 8628 3.5 asks of a client told to slow down
            continue
        raise CliError(answer.get("error_description") or f"The sign-in failed ({status}).")
    raise CliError("The code expired before it was approved; run `m3o login` again.")
