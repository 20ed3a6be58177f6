"""allauth's GitHub login, with the web and API base URLs taken from our settings.

allauth derives the API URL from GITHUB_URL as GitHub Enterprise lays it out
(`<url>/api/v3`) and fixes both when it is imported. We read GITHUB_URL and
GITHUB_API_URL separately, at request time, so a local stand-in works in tests.
"""

from allauth.socialaccount.providers.github.views import GitHubOAuth2Adapter
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView, OAuth2LoginView
from django.conf import settings


class GitHubAdapter(GitHubOAuth2Adapter):
    @property
    def access_token_url(self) -> str:
        return f"{settings.GITHUB_URL}/login/oauth/access_token"

    @property
    def authorize_url(self) -> str:
        return f"{settings.GITHUB_URL}/login/oauth/authorize"

    @property
    def profile_url(self) -> str:
        return f"{settings.GITHUB_API_URL}/user"

    @property
    def emails_url(self) -> str:
        return f"{settings.GITHUB_API_URL}/user/emails"


class GitHubLoginView(OAuth2LoginView):
    def get_provider(self):
        # The provider builds the authorize redirect with its own adapter class,
        # whose URLs were fixed at import; hand it ours.
        provider = super().get_provider()
        provider.oauth2_adapter_class = GitHubAdapter
        return provider


oauth2_login = GitHubLoginView.adapter_view(GitHubAdapter)
oauth2_callback = OAuth2CallbackView.adapter_view(GitHubAdapter)
