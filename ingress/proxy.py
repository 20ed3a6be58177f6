"""The reverse proxy in front of every service: Caddy, driven through its admin API.

This is the only module that knows the proxy is Caddy. Callers describe what
should be served (a list of Site) and apply() hands Caddy a whole new
configuration in one POST /load, which Caddy swaps in atomically: listeners
stay open across the swap, requests in flight finish on the old configuration,
new ones take the new routes. So switching a route never refuses a connection.
"""

import html
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import requests
from django.conf import settings

from deployments.errors import PlatformError

# Caddy names access loggers http.log.access.<name>; ours are one per service.
ACCESS_LOGGER = "http.log.access"


@dataclass(frozen=True)
class Site:
    """One service as the proxy sees it."""

    key: str  # stable and unique, e.g. "s12": names its access log
    hosts: list[str]  # plain-HTTP names: the service's own address
    domains: list[str] = field(default_factory=list)  # custom domains, served over HTTPS
    upstream: str | None = None  # "127.0.0.1:32768"; None: the service is not running


def state_dir() -> Path:
    return Path(settings.INGRESS_STATE_DIR)


def access_log_path(key: str) -> Path:
    return state_dir() / "access" / f"{key}.log"


def root_certificate() -> Path:
    """The local CA that signs certificates of `.localhost` names (and all, with the internal issuer)."""
    return state_dir() / "storage" / "pki" / "authorities" / "local" / "root.crt"


def apply(sites: list[Site]) -> None:
    """Replace the proxy's whole configuration; PlatformError when the proxy refuses or is away."""
    _post("/load", build_config(sites))


def ping() -> bool:
    try:
        return _session().get(_admin_url("/config/"), timeout=settings.INGRESS_TIMEOUT).ok
    except requests.RequestException:
        return False


def _admin_url(path: str) -> str:
    return f"http://{settings.INGRESS_ADMIN_ADDRESS}{path}"


def _session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # an HTTP_PROXY in the environment must never see the admin API
    return session


def _post(path: str, body: dict) -> None:
    try:
        response = _session().post(
            _admin_url(path),
            json=body,
            # Loading waits for the old servers to finish their requests, up to the grace period.
            timeout=settings.INGRESS_TIMEOUT + settings.INGRESS_GRACE_SECONDS,
        )
    except requests.RequestException as exc:
        address = settings.INGRESS_ADMIN_ADDRESS
        raise PlatformError(f"The proxy's admin API at {address} is unreachable: {exc}") from exc
    if response.status_code != 200:
        raise PlatformError(f"The proxy refused its new configuration: {response.text[:500]}")


# --- the configuration ------------------------------------------------------


def _page(title: str, text: str) -> str:
    title, text, platform = html.escape(title), html.escape(text), html.escape(settings.PLATFORM_NAME)
    style = "body{font:16px system-ui,sans-serif;margin:15vh auto;max-width:36em;color:#222}small{color:#777}"
    return (
        f"<!doctype html><html><head><meta charset=utf-8><title>{title}</title><style>{style}</style>"
        f"</head><body><h1>{title}</h1><p>{text}</p>"
        f"<p><small>{platform}</small></p></body></html>"
    )


def _static(status: int | str, body: str) -> dict:
    return {
        "handler": "static_response",
        "status_code": str(status),
        "headers": {"Content-Type": ["text/html; charset=utf-8"], "Cache-Control": ["no-store"]},
        "body": body,
    }


NOT_RUNNING = _page(
    "This service is not running",
    "Nothing is deployed here right now. If it is yours, deploy it or start it from the dashboard.",
)
NOT_ANSWERING = _page(
    "This service is not answering",
    "The service is restarting, stopped or crashing. Try again in a moment; if it is yours, "
    "its runtime logs in the dashboard say why.",
)
NO_SUCH_SERVICE = _page("No service here", "No service answers at this address.")


def _handler(site: Site) -> dict:
    if site.upstream is None:
        return _static(503, NOT_RUNNING)
    return {"handler": "reverse_proxy", "upstreams": [{"dial": site.upstream}]}


def _https_redirect() -> dict:
    port = settings.INGRESS_HTTPS_PORT
    suffix = "" if port == 443 else f":{port}"
    return {
        "handler": "static_response",
        "status_code": "308",
        "headers": {"Location": [f"https://{{http.request.host}}{suffix}{{http.request.uri}}"]},
    }


def _listen(port: int) -> list[str]:
    return [f"{settings.INGRESS_BIND}:{port}"]


def _server(port: int, routes: list[dict], logger_names: dict[str, str]) -> dict:
    return {
        "listen": _listen(port),
        "routes": [*routes, {"handle": [_static(404, NO_SUCH_SERVICE)]}],
        # Errors inside the proxy (an upstream that refuses or resets: a stopped
        # or crashing container) get the platform's page, not an empty 502.
        "errors": {"routes": [{"handle": [_static("{http.error.status_code}", NOT_ANSWERING)]}]},
        "logs": {"logger_names": logger_names, "skip_unmapped_hosts": True},
    }


def _access_logs(sites: list[Site]) -> dict:
    logs = {"default": {"exclude": [ACCESS_LOGGER]}}
    for site in sites:
        logs[site.key] = {
            "writer": {
                "output": "file",
                "filename": str(access_log_path(site.key)),
                "roll_size_mb": 10,
                "roll_keep": 2,
            },
            # Headers carry cookies and tokens; status, path and duration are what we show.
            "encoder": {
                "format": "filter",
                "wrap": {"format": "json"},
                "fields": {
                    "request>headers": {"filter": "delete"},
                    "request>tls": {"filter": "delete"},
                    "resp_headers": {"filter": "delete"},
                },
            },
            "include": [f"{ACCESS_LOGGER}.{site.key}"],
        }
    return logs


def _tls_policies(domains: list[str]) -> list[dict]:
    local = [d for d in domains if d.endswith(".localhost")]
    public = [d for d in domains if not d.endswith(".localhost")]
    policies = []
    if local:
        policies.append({"subjects": local, "issuers": [{"module": "internal"}]})
    if public:
        if settings.INGRESS_TLS_ISSUER == "internal":
            issuer = {"module": "internal"}
        else:
            issuer = {"module": "acme"}
            if settings.INGRESS_ACME_EMAIL:
                issuer["email"] = settings.INGRESS_ACME_EMAIL
            if settings.INGRESS_ACME_CA:
                issuer["ca"] = settings.INGRESS_ACME_CA
        policies.append({"subjects": public, "issuers": [issuer]})
    return policies


def _logger_names(hosts: list[str], port: int, key: str) -> dict[str, str]:
    # Caddy 2.6 looks the Host header up as it came, with the port when it is not the default.
    return {name: key for host in hosts for name in (host, f"{host}:{port}")}


def build_config(sites: list[Site]) -> dict:
    http_routes, https_routes, http_loggers, https_loggers = [], [], {}, {}
    all_domains = []
    for site in sites:
        handler = _handler(site)
        if site.hosts:
            http_routes.append({"match": [{"host": site.hosts}], "handle": [handler], "terminal": True})
            http_loggers.update(_logger_names(site.hosts, settings.INGRESS_HTTP_PORT, site.key))
        if site.domains:
            all_domains += site.domains
            http_routes.append(
                {"match": [{"host": site.domains}], "handle": [_https_redirect()], "terminal": True}
            )
            https_routes.append({"match": [{"host": site.domains}], "handle": [handler], "terminal": True})
            https_loggers.update(_logger_names(site.domains, settings.INGRESS_HTTPS_PORT, site.key))
            http_loggers.update(_logger_names(site.domains, settings.INGRESS_HTTP_PORT, site.key))
    servers = {"apps": _server(settings.INGRESS_HTTP_PORT, http_routes, http_loggers)}
    # Never certificates for the plain-HTTP names; redirects to HTTPS are ours, above.
    servers["apps"]["automatic_https"] = {"disable": True}
    if all_domains:
        servers["domains"] = _server(settings.INGRESS_HTTPS_PORT, https_routes, https_loggers)
        servers["domains"]["automatic_https"] = {"disable_redirects": True}
    apps = {
        "http": {
            "http_port": settings.INGRESS_HTTP_PORT,
            "https_port": settings.INGRESS_HTTPS_PORT,
            # Old servers finish their requests for this long after a swap, then are closed.
            "grace_period": f"{settings.INGRESS_GRACE_SECONDS}s",
            "servers": servers,
        },
        "pki": {"certificate_authorities": {"local": {"install_trust": False}}},
    }
    if all_domains:
        apps["tls"] = {"automation": {"policies": _tls_policies(all_domains)}}
    return {
        "admin": {"listen": settings.INGRESS_ADMIN_ADDRESS},
        "storage": {"module": "file_system", "root": str(state_dir() / "storage")},
        "logging": {"logs": _access_logs(sites)},
        "apps": apps,
    }


# --- running a proxy (scripts/start-services.sh does the same in shell) -------


def launch(state: Path, admin_address: str, log_path: Path) -> subprocess.Popen:
    """Start a proxy of our own (tests, benchmarks): its admin API on admin_address, its files in state."""
    state.mkdir(parents=True, exist_ok=True)
    initial = state / "initial.json"
    initial.write_text(f'{{"admin": {{"listen": "{admin_address}"}}}}')
    env = {**os.environ, "XDG_DATA_HOME": str(state / "xdg"), "XDG_CONFIG_HOME": str(state / "xdg")}
    with log_path.open("ab") as out:
        return subprocess.Popen(
            ["caddy", "run", "--config", str(initial)],  # noqa: S607  (caddy from the system's PATH)
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
