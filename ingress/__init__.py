"""Ingress: every service's stable address, custom domains with TLS, and access logs.

`ingress.access_log(service, limit)` reads the proxy's access log of a service.
"""

from ingress.access import access_log

__all__ = ["access_log"]
