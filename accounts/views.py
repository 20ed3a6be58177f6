from allauth.socialaccount.models import SocialAccount
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from deployments.forms import DeployForm


@login_required
def onboarding(request):
    context = {
        "form": DeployForm(),
        "github_configured": bool(settings.GITHUB_CLIENT_ID),
        "github_connected": SocialAccount.objects.filter(user=request.user, provider="github").exists(),
    }
    return render(request, "accounts/onboarding.html", context)
