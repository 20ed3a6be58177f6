"""How a Python app without a start command of its own is served.

Heroku's and Railway's conventions: Django through gunicorn and the WSGI
module its settings name, a Flask (or other WSGI) app through gunicorn, a
FastAPI/Starlette (or other ASGI) app through uvicorn, else `python main.py`.
The server each needs is installed when the app's requirements lack it.
"""

import re
from dataclasses import dataclass

from deployments.versions import Reader

APP_FILES = ("app.py", "wsgi.py", "main.py", "asgi.py", "server.py")
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_SETTINGS = re.compile(r"""DJANGO_SETTINGS_MODULE["']\s*,\s*["']([^"']+)["']""")
_WSGI_APPLICATION = re.compile(r"""^WSGI_APPLICATION\s*=\s*["']([^"']+)["']""", re.MULTILINE)
_WSGI_APP = re.compile(
    r"^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(?:flask\.)?(Flask|Bottle|Falcon|falcon\.App)\(", re.MULTILINE
)
_ASGI_APP = re.compile(
    r"^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(?:fastapi\.|starlette\.applications\.)?(FastAPI|Starlette|Quart|Litestar)\(",
    re.MULTILINE,
)
_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)", re.MULTILINE)


@dataclass(frozen=True)
class Detected:
    framework: str  # "django", "flask", "fastapi", ... or "" for a plain script
    command: str
    server: str = ""  # the package that serves it (gunicorn, uvicorn)
    settings_module: str = ""  # Django's, for collectstatic during the build

    @property
    def rule(self) -> str:
        if not self.framework:
            return f"no framework found, so the script: {self.command}"
        return f"detected a {self.framework} app, served by {self.server}"


def _requirements(read: Reader) -> set[str]:
    names = set()
    for name in ("requirements.txt", "pyproject.toml", "Pipfile"):
        text = read(name) or ""
        names |= {m.lower().replace("_", "-") for m in _REQUIREMENT_NAME.findall(text)}
        # pyproject/Pipfile list names inside quotes: "gunicorn>=21"
        names |= {m.lower() for m in re.findall(r"""["']([A-Za-z0-9][A-Za-z0-9._-]*)""", text)}
    return names


def _django(read: Reader) -> Detected | None:
    manage = read("manage.py")
    if manage is None:
        return None
    found = _SETTINGS.search(manage)
    if not found or not _MODULE.match(found.group(1)):
        return None
    settings_module = found.group(1)
    wsgi = settings_module.rsplit(".", 1)[0] + ".wsgi" if "." in settings_module else "wsgi"
    settings_text = read(settings_module.replace(".", "/") + ".py") or ""
    named = _WSGI_APPLICATION.search(settings_text)
    if named and _MODULE.match(named.group(1)) and "." in named.group(1):
        module, _, attribute = named.group(1).rpartition(".")
        wsgi = f"{module}:{attribute}"
    return Detected(
        "Django", f"gunicorn --bind 0.0.0.0:$PORT {wsgi}", "gunicorn", settings_module=settings_module
    )


def _app_object(read: Reader) -> Detected | None:
    for name in APP_FILES:
        text = read(name)
        if text is None:
            continue
        module = name.removesuffix(".py")
        asgi = _ASGI_APP.search(text)
        if asgi:
            target = f"{module}:{asgi.group(1)}"
            return Detected(asgi.group(2), f"uvicorn {target} --host 0.0.0.0 --port $PORT", "uvicorn")
        wsgi = _WSGI_APP.search(text)
        if wsgi:
            target = f"{module}:{wsgi.group(1)}"
            return Detected(wsgi.group(2), f"gunicorn --bind 0.0.0.0:$PORT {target}", "gunicorn")
    return None


def detect_python(read: Reader) -> Detected | None:
    """The framework's start command, a script's, or None when there is nothing to run."""
    found = _django(read) or _app_object(read)
    if found:
        return found
    for name in ("main.py", "app.py"):
        if read(name) is not None:
            return Detected("", f"python {name}")
    return None


def missing_server(read: Reader, detected: Detected) -> str:
    """The server package to install because the requirements do not name it, or ''."""
    if not detected.server or detected.server in _requirements(read):
        return ""
    return detected.server
