"""An environment's history page: its audit log, for its owner and admins."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.shortcuts import get_object_or_404, render

from environments.access import ADMIN, environments_for
from environments.audit import events_for
from environments.models import Environment


@login_required
def history(request, environment_id: int):
    # The owner keeps a deleted environment's history; admins read live ones.
    administered = environments_for(request.user, ADMIN).values("pk")
    readable = Environment.objects.filter(Q(pk__in=administered) | Q(owner=request.user))
    environment = get_object_or_404(readable, pk=environment_id)
    events = events_for(request.user, environment).order_by("-id")
    page = Paginator(events, 100).get_page(request.GET.get("page"))
    return render(request, "environments/history.html", {"environment": environment, "page": page})
