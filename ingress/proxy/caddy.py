"""Caddy serves the custom domains over HTTPS (automatic certificates), driven through its admin API.

apply() hands Caddy a whole new configuration in one POST /load, which Caddy
swaps in atomically: listeners stay open across the swap, requests in flight
finish on the old configuration, new ones take the new routes.
"""

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import requests
from django.conf import settings

from deployments.errors import PlatformError
from ingress.proxy import pages
from ingress.proxy.site import Site

# Caddy names access loggers http.log.access.<name>; ours are one per service.
ACCESS_LOGGER = "http.log.access"


def apply(state: Path, sites: list[Site], access_log: Callable[[Site], Path]) -> None:
    """Replace Caddy's whole configuration; PlatformError when it refuses or is away."""
    try:
        response = _session().post(
            _admin_url("/load"),
            json=build_config(state, sites, access_log),
            # Loading waits for the old servers to finish their requests, up to the grace period.
            timeout=settings.INGRESS_TIMEOUT + settings.INGRESS_GRACE_SECONDS,
        )
    except requests.RequestException as exc:
        address = settings.INGRESS_ADMIN_ADDRESS
        raise PlatformError(f"The proxy's admin API at {address} is unreachable: {exc}") from exc
    if response.status_code != 200:
        raise PlatformError(f"The proxy refused its new configuration: {response.text[:500]}")


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


# --- the configuration ------------------------------------------------------


def _static(status: int | str, body: str) -> dict:
    return {
        "handler": "static_response",
        "status_code": str(status),
        "headers": {"Content-Type": ["text/html; charset=utf-8"], "Cache-Control": ["no-store"]},
        "body": body,
    }


def _handler(site: Site) -> dict:
    if site.upstreams:
        return {
            "handler": "reverse_proxy",
            "upstreams": [{"dial": upstream} for upstream in site.upstreams],
            # Round-robin over the web replicas; a replica that refuses the connection (stopping,
            # restarting) is tried no more for that request: the next one gets it.
            "load_balancing": {"selection_policy": {"policy": "round_robin"}, "try_duration": "2s"},
        }
    if site.down:
        return _static(502, pages.not_answering())
    if site.unhealthy:
        return _static(503, pages.unhealthy())
    return _static(503, pages.not_running())


def _server(listen: str, routes: list[dict], logger_names: dict[str, str]) -> dict:
    return {
        "listen": [listen],
        "routes": [*routes, {"handle": [_static(404, pages.no_such_service())]}],
        # Errors inside the proxy (an upstream that refuses or resets: a stopped
        # or crashing container) get the platform's page, not an empty 502.
        "errors": {"routes": [{"handle": [_static("{http.error.status_code}", pages.not_answering())]}]},
        "logs": {"logger_names": logger_names, "skip_unmapped_hosts": True},
    }


def _access_logs(sites: list[Site], access_log: Callable[[Site], Path]) -> dict:
    logs = {"default": {"exclude": [ACCESS_LOGGER]}}
    for site in sites:
        if not site.domains:
            continue
        logs[site.key] = {
            "writer": {
                "output": "file",
                "filename": str(access_log(site)),
                "roll_size_mb": 10,
                "roll_keep": 1,
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


def build_config(state: Path, sites: list[Site], access_log: Callable[[Site], Path]) -> dict:
    routes, loggers, all_domains = [], {}, []
    port = settings.INGRESS_HTTPS_PORT
    for site in sites:
        if site.domains:
            all_domains += site.domains
            routes.append({"match": [{"host": site.domains}], "handle": [_handler(site)], "terminal": True})
            # Caddy 2.6 looks the Host header up as it came, with the port when it is not the default.
            loggers.update({name: site.key for host in site.domains for name in (host, f"{host}:{port}")})
    # The plain-HTTP port is nginx's; Caddy's own, internal one answers the ACME HTTP-01
    # challenges that nginx passes on (every Caddy server handles them before its routes).
    challenges = _server(f"127.0.0.1:{settings.INGRESS_CHALLENGE_PORT}", [], {})
    challenges["automatic_https"] = {"disable": True}
    servers = {"challenges": challenges}
    if all_domains:
        servers["domains"] = _server(f"{settings.INGRESS_BIND}:{port}", routes, loggers)
        servers["domains"]["automatic_https"] = {"disable_redirects": True}
    apps = {
        "http": {
            "http_port": settings.INGRESS_CHALLENGE_PORT,
            "https_port": port,
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
        "storage": {"module": "file_system", "root": str(state / "storage")},
        "logging": {"logs": _access_logs(sites, access_log)},
        "apps": apps,
    }


def launch(state: Path, admin_address: str, out) -> subprocess.Popen:
    """Run Caddy (tests, benchmarks): its admin API on admin_address, its files in `state`."""
    state.mkdir(parents=True, exist_ok=True)
    initial = state / "initial.json"
    initial.write_text(f'{{"admin": {{"listen": "{admin_address}"}}}}')
    env = {**os.environ, "XDG_DATA_HOME": str(state / "xdg"), "XDG_CONFIG_HOME": str(state / "xdg")}
    return subprocess.Popen(
        ["caddy", "run", "--config", str(initial)],  # noqa: S607  (caddy from the system's PATH)
        env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
