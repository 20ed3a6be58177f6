"""The audit log: one append-only record per change, written by the action making it.

Actions call `record` inside their transaction, so a change and its record commit
or roll back together. Who made the change comes from the action's caller; the
address it came from is set for the whole request by `AddressMiddleware` (tasks,
webhooks' deploys by the platform and commands have none). A secret's value is
never recorded: `changes` holds HIDDEN in its place.
"""

from contextvars import ContextVar

from django.db.models import Q, QuerySet

from environments.models import Environment, Event, Membership
from portal.client_address import address as client_address

HIDDEN = "(secret)"  # what the log keeps of a secret value
_address: ContextVar[str | None] = ContextVar("audit_address", default=None)


class AddressMiddleware:
    """Remembers the client's address for the records this request's actions write."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _address.set(client_address(request) or None)
        try:
            return self.get_response(request)
        finally:
            _address.reset(token)


def record(
    environment: Environment | None, user, action: str, detail: str = "", *,
    changes: dict | None = None, account=None,
) -> Event:  # fmt: skip
    actor = user if getattr(user, "is_authenticated", False) else None
    return Event.objects.create(
        environment=environment,
        account=account if account is not None else (None if environment is not None else actor),
        user=actor,
        user_email=actor.email if actor is not None else "",
        environment_name=environment.name if environment is not None else "",
        action=action,
        detail=detail[:300],
        address=_address.get(),
        changes=changes or {},
    )


def events_for(user, environment: Environment | None = None) -> QuerySet[Event]:
    """What `user` may read: the events of environments they own or administer, and of
    their own account. Members who are not admins see none of an environment's."""
    if not user.is_authenticated:
        return Event.objects.none()
    administered = Q(environment__owner=user) | Q(
        environment__memberships__user=user, environment__memberships__role=Membership.Role.ADMIN
    )
    events = Event.objects.filter(administered | Q(environment__isnull=True, account=user))
    if environment is not None:
        events = events.filter(environment=environment)
    return events.distinct()


def changes_of(before: dict | None, after, fields: tuple[str, ...]) -> dict:
    """{field: [old, new]} for each of `fields` that `after` (an object) changes from `before` (a row)."""
    if before is None:
        return {}
    return {f: [before[f], getattr(after, f)] for f in fields if before[f] != getattr(after, f)}
