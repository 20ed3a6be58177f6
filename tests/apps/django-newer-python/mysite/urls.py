import sys

from django.http import HttpResponse
from django.urls import path


def index(request):
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    return HttpResponse(f"hello from django-newer-python on Python {version}", content_type="text/plain")


urlpatterns = [path("", index)]
