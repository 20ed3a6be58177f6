from django.contrib import admin
from django.urls import include, path

from deployments import webhook_views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("accounts/", include("allauth.urls")),
    path("hooks/github/", webhook_views.github, name="github-webhook"),
    path("", include("deployments.urls")),
]
