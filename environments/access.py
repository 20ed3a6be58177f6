"""Who may do what in an environment: every lookup of an object goes through here.

Owners may do everything. Viewers may see; members may also deploy (and run
commands); admins may also change variables and members and delete. A deleted
environment stays readable to its owner only, and nobody deploys into it.
"""

from django.db.models import Q, QuerySet

from environments.models import Environment, Membership

VIEW = "view"
DEPLOY = "deploy"
ADMIN = "admin"


def environments_for(user, need: str = VIEW) -> QuerySet[Environment]:
    if not user.is_authenticated:
        return Environment.objects.none()
    if need == ADMIN:
        shared = Q(memberships__user=user, memberships__role=Membership.Role.ADMIN)
    elif need == DEPLOY:  # viewers read, nothing more
        deployers = (Membership.Role.MEMBER, Membership.Role.ADMIN)
        shared = Q(memberships__user=user, memberships__role__in=deployers)
    else:
        shared = Q(memberships__user=user)
    live = Q(deleted_at__isnull=True) & (Q(owner=user) | shared)
    if need == VIEW:
        return Environment.objects.filter(live | Q(owner=user)).distinct()
    return Environment.objects.filter(live).distinct()


def role_of(user, environment: Environment) -> str | None:
    """'owner', 'admin', 'member', 'viewer' or None."""
    if environment.owner_id == user.pk:
        return "owner"
    membership = environment.memberships.filter(user=user).first()
    return membership.role if membership else None


def can(user, environment: Environment, need: str) -> bool:
    return environments_for(user, need).filter(pk=environment.pk).exists()
