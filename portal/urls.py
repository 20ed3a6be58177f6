from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path

from api import cli_views, device_views
from deployments import webhook_views
from portal import views as portal_views

# The admin site signs in through allauth like everyone else: its rate limits and
# the second factor apply, and Django's own admin login form never checks a password.
admin.site.login = secure_admin_login(admin.site.login)

urlpatterns = [
    path("healthz", portal_views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("accounts/", include("allauth.urls")),
    path("hooks/github/", webhook_views.github, name="github-webhook"),
    path("billing/", include("billing.urls")),
    path("stripe/", include("djstripe.urls", namespace="djstripe")),
    path("environments/", include("environments.urls")),
    path("api/", include("api.urls")),
    path("device/", device_views.page, name="device"),
    path("cli/", cli_views.install, name="cli"),
    path("cli/<str:filename>", cli_views.download, name="cli-download"),
    path("", include("ingress.urls")),
    path("", include("jobs.urls")),
    path("", include("deployments.urls")),
]
