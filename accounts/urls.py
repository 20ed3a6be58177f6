from django.urls import path

from accounts import github_oauth, views

urlpatterns = [
    path("welcome/", views.onboarding, name="onboarding"),
    # Ahead of allauth's own patterns for the same paths (see github_oauth).
    path("github/login/", github_oauth.oauth2_login, name="github_login"),
    path("github/login/callback/", github_oauth.oauth2_callback, name="github_callback"),
    path("github/repositories/", views.github_repositories, name="github_repositories"),
    path(
        "github/repositories/<str:owner>/<str:repo>/",
        views.github_repository,
        name="github_repository",
    ),
]
