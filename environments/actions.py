"""Every change to environments and their members goes through here."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from environments.audit import record
from environments.models import Environment, Membership, slug_validator

DEFAULT_ENVIRONMENT = "production"


class EnvironmentError(Exception):
    """A request about environments that cannot be carried out, in plain words."""


def get_or_create_environment(user, name: str = DEFAULT_ENVIRONMENT) -> Environment:
    kind = Environment.Kind.PRODUCTION if name == DEFAULT_ENVIRONMENT else Environment.Kind.PERSONAL
    environment, created = Environment.objects.get_or_create(
        owner=user, name=name, deleted_at__isnull=True, defaults={"kind": kind}
    )
    if created:
        record(environment, user, "create", name)
    return environment


def create_environment(
    user, *, name: str, kind: str = Environment.Kind.PERSONAL, description: str = "",
    copy_from: Environment | None = None, ttl_hours: int | None = None,
) -> Environment:  # fmt: skip
    """Create an environment; with `copy_from`, copy its services and deploy them."""
    from deployments import actions as deploy_actions

    try:
        slug_validator(name)
    except ValidationError:
        raise EnvironmentError(
            f"{name!r} is not a valid name: use 1 to 30 lowercase letters, digits and dashes, "
            "starting with a letter."
        ) from None
    if kind not in Environment.Kind.values:
        raise EnvironmentError(f"{kind!r} is not a kind of environment.")
    if ttl_hours is not None and not 1 <= ttl_hours <= 24 * 90:
        raise EnvironmentError("The time to live must be between 1 hour and 90 days.")
    expires_at = timezone.now() + timedelta(hours=ttl_hours) if ttl_hours else None
    try:
        with transaction.atomic():
            environment = Environment.objects.create(
                owner=user, name=name, kind=kind, description=description[:300], expires_at=expires_at
            )
            copied = deploy_actions.copy_services(copy_from, environment, user) if copy_from else []
            copy_note = f" as a copy of {copy_from.name} ({len(copied)} services)" if copy_from else ""
            record(environment, user, "create", name + copy_note)
    except IntegrityError:
        raise EnvironmentError(f"You already have an environment called {name}.") from None
    return environment


def delete_environment(environment: Environment, user) -> None:
    """Stop every service, remove the containers and the network; keep the history."""
    from deployments import actions as deploy_actions

    with transaction.atomic():
        moved = Environment.objects.filter(pk=environment.pk, deleted_at__isnull=True).update(
            deleted_at=timezone.now()
        )
        if not moved:
            raise EnvironmentError(f"{environment.name} was already deleted.")
        record(environment, user, "delete", environment.name)
    deploy_actions.retire_environment(environment)


def delete_expired_environments() -> list[int]:
    expired = Environment.objects.filter(deleted_at__isnull=True, expires_at__lt=timezone.now())
    deleted = []
    for environment in expired:
        try:
            delete_environment(environment, None)
        except EnvironmentError:
            continue
        deleted.append(environment.pk)
    return deleted


def add_member(environment: Environment, email: str, role: str, by) -> Membership:
    if role not in Membership.Role.values:
        raise EnvironmentError(f"{role!r} is not a role.")
    user = get_user_model().objects.filter(email__iexact=email.strip()).first()
    if user is None:
        raise EnvironmentError(f"Nobody with the email address {email} has an account here yet.")
    if user.pk == environment.owner_id:
        raise EnvironmentError("The owner is already in the environment.")
    with transaction.atomic():
        before = Membership.objects.filter(environment=environment, user=user).values_list("role", flat=True)
        before = before.first()
        membership, _ = Membership.objects.update_or_create(
            environment=environment, user=user, defaults={"role": role}
        )
        record(environment, by, "member", f"{user.email} as {role}", changes={"role": [before, role]})
    return membership


def remove_member(environment: Environment, membership_id: int, by) -> None:
    with transaction.atomic():
        members = Membership.objects.select_related("user").filter(environment=environment)
        membership = members.filter(pk=membership_id).first()
        if membership is None:
            raise EnvironmentError("That person is not a member.")
        membership.delete()
        record(
            environment, by, "member", f"removed {membership.user.email}",
            changes={"role": [membership.role, None]},
        )  # fmt: skip
