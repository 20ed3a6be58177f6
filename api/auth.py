"""`Authorization: Bearer <token>` for the API, with a schema entry for drf-spectacular."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from api import tokens
from api.throttles import charge_failed_token


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != self.keyword.lower():
            return None
        raw = raw.strip()
        if not raw or " " in raw:
            raise exceptions.AuthenticationFailed("The Authorization header should be 'Bearer <token>'.")
        user = tokens.user_for(raw)
        if user is None:
            charge_failed_token(request)
            raise exceptions.AuthenticationFailed(
                "This token is not valid: it was revoked, it has expired or it never existed. "
                "Create a new one on the Tokens page."
            )
        return user, None

    def authenticate_header(self, request) -> str:
        # A value here makes DRF answer 401 (not 403) when no credentials came.
        return 'Bearer realm="api"'


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "api.auth.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A personal access token (m3o_...)."}
