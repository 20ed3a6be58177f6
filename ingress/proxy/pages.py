"""The platform's own pages, served by the proxy when there is no service to answer."""

import html

from django.conf import settings


def _page(title: str, text: str) -> str:
    title, text, platform = html.escape(title), html.escape(text), html.escape(settings.PLATFORM_NAME)
    style = "body{font:16px system-ui,sans-serif;margin:15vh auto;max-width:36em;color:#222}small{color:#777}"
    page = (
        f"<!doctype html><html><head><meta charset=utf-8><title>{title}</title><style>{style}</style>"
        f"</head><body><h1>{title}</h1><p>{text}</p>"
        f"<p><small>{platform}</small></p></body></html>"
    )
    # nginx reads `$` in a string as a variable, and has no escape for it.
    return page.replace("$", "&#36;")


def not_running() -> str:
    return _page(
        "This service is not running",
        "Nothing is deployed here right now. If it is yours, deploy it or start it from the dashboard.",
    )


def not_answering() -> str:
    return _page(
        "This service is not answering",
        "The service is restarting, stopped or crashing. Try again in a moment; if it is yours, "
        "its runtime logs in the dashboard say why.",
    )


def unhealthy() -> str:
    return _page(
        "This service is failing its health checks",
        "It is being restarted and gets requests again once its health check passes. Try again in "
        "a moment; if it is yours, its history and runtime logs in the dashboard say more.",
    )


def no_such_service() -> str:
    return _page("No service here", "No service answers at this address.")
