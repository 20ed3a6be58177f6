"""The API over HTTP: every failure becomes one plain line, never a traceback."""

from __future__ import annotations

import json
from collections.abc import Iterator

import click
import requests

from cli import clean
from cli.config import Settings

TIMEOUT = 30
VERSION = "0.1.0"


class CliError(click.ClickException):
    def __init__(self, message: str, status: int | None = None, answer: dict | None = None) -> None:
        super().__init__(message)
        # The server's status and JSON answer, for a command that reads more than the message.
        self.status, self.answer = status, answer


class Api:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.session = requests.Session()
        self.session.headers["User-Agent"] = f"m3o/{VERSION}"
        if settings.token:
            self.session.headers["Authorization"] = f"Bearer {settings.token}"

    def _send(self, method: str, path: str, *, stream: bool = False, **kwargs) -> requests.Response:
        if not self.settings.token:
            raise CliError("Not logged in: run `m3o login` (or set M3O_TOKEN).")
        url = f"{self.settings.url}/api/{path.lstrip('/')}"
        try:
            # A stream waits as long as a build takes; everything else gives up in time.
            response = self.session.request(
                method, url, stream=stream, timeout=(10, None) if stream else TIMEOUT, **kwargs
            )
        except requests.ConnectionError:
            raise CliError(f"Cannot reach the M3O server at {self.settings.url}.") from None
        except requests.Timeout:
            raise CliError(f"The M3O server at {self.settings.url} did not answer in time.") from None
        except requests.RequestException as exc:
            raise CliError(f"The request to {self.settings.url} failed: {exc}.") from None
        if response.status_code >= 400:
            raise CliError(self._explain(response), response.status_code, self._answer(response))
        return response

    @staticmethod
    def _answer(response: requests.Response) -> dict | None:
        try:
            answer = response.json()
        except ValueError:
            return None
        return clean.tree(answer) if isinstance(answer, dict) else None

    def _explain(self, response: requests.Response) -> str:
        try:
            message = response.json().get("error") or response.reason
        except (ValueError, AttributeError):
            message = response.reason or "no explanation"
        if response.status_code == 401:
            return f"{clean.text(str(message))} (log in again with `m3o login`)"
        if response.status_code >= 500:
            return f"The server failed ({response.status_code}): {clean.text(str(message))}"
        return clean.text(str(message))

    def get(self, path: str, **params) -> dict:
        return self._json(self._send("GET", path, params=params))

    def post(self, path: str, data: dict | None = None) -> dict:
        return self._json(self._send("POST", path, json=data or {}))

    def patch(self, path: str, data: dict) -> dict:
        return self._json(self._send("PATCH", path, json=data))

    def upload(self, path: str, fields: dict, archive: bytes) -> dict:
        files = {"archive": ("upload.tar.gz", archive, "application/gzip")}
        return self._json(self._send("POST", path, data=fields, files=files))

    def delete(self, path: str) -> None:
        self._send("DELETE", path)

    def all(self, path: str, **params) -> list[dict]:
        """Every item of a paged list."""
        items, page = [], 1
        while True:
            answer = self.get(path, page=page, page_size=200, **params)
            items.extend(answer["results"])
            if not answer.get("next"):
                return items
            page += 1

    def stream(self, path: str, **params) -> Iterator[dict]:
        """The objects of an NDJSON stream, each as soon as its line arrives."""
        response = self._send(
            "GET", path, stream=True, params=params, headers={"Accept": "application/x-ndjson"}
        )
        buffer = b""
        try:
            while True:
                try:
                    # read1: whatever has arrived, instead of waiting for a full buffer.
                    chunk = response.raw.read1(65536)
                except (requests.RequestException, OSError) as exc:
                    raise CliError(f"The connection to the server broke: {exc}") from None
                if not chunk:
                    return
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield clean.tree(json.loads(line))
        finally:
            response.close()

    @staticmethod
    def _json(response: requests.Response) -> dict:
        if response.status_code == 204 or not response.content:
            return {}
        try:
            return clean.tree(response.json())
        except ValueError:
            raise CliError(f"The server answered with something that is not JSON ({response.url}).") from None
