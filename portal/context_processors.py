"""What every page's frame needs to know about this installation."""

from django.conf import settings


def installation(request):
    return {"github_configured": bool(settings.GITHUB_CLIENT_ID)}
