from django.contrib import admin
from django.urls import include, path

from deployments import webhook_views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("accounts/", include("allauth.urls")),
    path("hooks/github/", webhook_views.github, name="github-webhook"),
    path("billing/", include("billing.urls")),
    path("stripe/", include("djstripe.urls", namespace="djstripe")),
    path("environments/", include("environments.urls")),
    path("api/", include("api.urls")),
    path("", include("ingress.urls")),
    path("", include("deployments.urls")),
]
