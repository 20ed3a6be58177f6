"""Request rates of the API: per person for those signed in (a token or the session),
per client address for everyone else. Over the rate an answer is 429 with Retry-After.

DRF makes a throttle per request, so the rates are read from the settings each time
(API_RATE_LIMIT, API_ANON_RATE_LIMIT); they count in the cache (Redis), shared by
every web process.
"""

from django.conf import settings
from rest_framework import exceptions
from rest_framework.throttling import SimpleRateThrottle

from portal.client_address import address


class PersonRateThrottle(SimpleRateThrottle):
    scope = "person"

    def get_rate(self) -> str:
        return settings.API_RATE_LIMIT

    def get_cache_key(self, request, view) -> str | None:
        if not request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


class AddressRateThrottle(SimpleRateThrottle):
    """Calls from one client address without a valid token share one budget."""

    scope = "anonymous"

    def get_rate(self) -> str:
        return settings.API_ANON_RATE_LIMIT

    def get_cache_key(self, request, view) -> str | None:
        return self.cache_format % {"scope": self.scope, "ident": address(request)}


class AnonymousRateThrottle(AddressRateThrottle):
    def get_cache_key(self, request, view) -> str | None:
        return None if request.user.is_authenticated else super().get_cache_key(request, view)


def charge_failed_token(request) -> None:
    """A token that is not valid costs its address like an anonymous call.

    DRF checks throttles after authentication, so without this a client could
    try tokens as fast as it likes and only ever hear 401.
    """
    throttle = AddressRateThrottle()
    if not throttle.allow_request(request, None):
        raise exceptions.Throttled(throttle.wait())
