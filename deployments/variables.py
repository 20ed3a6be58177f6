"""Variables and secrets of environments and services: set, unset, list, resolve."""

import re
from dataclasses import dataclass

from django.db import transaction

from deployments.models import Service, Variable
from environments.audit import HIDDEN, record
from environments.models import Environment
from portal import crypto

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
RESERVED = {"PORT", "M3O_PROCESS"}  # M3O_PROCESS: the replica, "web.2" (runtime/docker.py)


class InvalidVariable(ValueError):
    def __init__(self, message: str, field: str = "key"):
        super().__init__(message)
        self.field = field  # which of the name or the value is wrong, for a form to show it there


@dataclass(frozen=True)
class Shown:
    """A variable as a page may show it: a secret's value never leaves the server."""

    key: str
    value: str | None
    is_secret: bool
    scope: str  # "environment" or "service"


def _owner_filter(target: Environment | Service) -> dict:
    return {"environment": target} if isinstance(target, Environment) else {"service": target}


def validate_key(key: str) -> str:
    if len(key) > 100:
        raise InvalidVariable(f"The name is too long: 100 characters at most (it has {len(key)}).")
    if not _KEY.match(key):
        raise InvalidVariable(
            f"{key!r} is not a valid variable name: use letters, digits and underscores, "
            "not starting with a digit."
        )
    if key in RESERVED:
        raise InvalidVariable(f"{key} is set by the platform and cannot be changed.")
    return key


@transaction.atomic
def set_variable(
    target: Environment | Service, key: str, value: str, *, secret: bool = False, by=None
) -> Variable:
    key = validate_key(key)
    if len(value) > 32_000:
        raise InvalidVariable(f"The value of {key} is too long (32,000 characters at most).", "value")
    earlier = Variable.objects.filter(**_owner_filter(target), key=key).first()
    variable, _ = Variable.objects.update_or_create(
        **_owner_filter(target),
        key=key,
        defaults={"encrypted_value": crypto.encrypt(value), "is_secret": secret},
    )
    change = [_audited_value(earlier), _audited_value(variable, value)]
    record(_environment_of(target), by, "variable", f"set {key}{_where(target)}", changes={key: change})
    return variable


@transaction.atomic
def unset_variable(target: Environment | Service, key: str, *, by=None) -> bool:
    earlier = Variable.objects.filter(**_owner_filter(target), key=key).first()
    if earlier is None:
        return False
    earlier.delete()
    record(
        _environment_of(target), by, "variable", f"unset {key}{_where(target)}",
        changes={key: [_audited_value(earlier), None]},
    )  # fmt: skip
    return True


def _environment_of(target: Environment | Service) -> Environment:
    return target if isinstance(target, Environment) else target.environment


def _where(target: Environment | Service) -> str:
    return f" on {target.name}" if isinstance(target, Service) else ""


def _audited_value(variable: Variable | None, value: str | None = None) -> str | None:
    """What the audit log may keep of a value: the value, or only that a secret was there."""
    if variable is None:
        return None
    if variable.is_secret:
        return HIDDEN
    return value if value is not None else crypto.decrypt(variable.encrypted_value)


def shown(target: Environment | Service) -> list[Shown]:
    scope = "environment" if isinstance(target, Environment) else "service"
    return [
        Shown(v.key, None if v.is_secret else crypto.decrypt(v.encrypted_value), v.is_secret, scope)
        for v in Variable.objects.filter(**_owner_filter(target))
    ]


def resolve(service: Service) -> dict[str, str]:
    """What the container gets: the environment's variables, then the service's on top."""
    values = {}
    for variable in Variable.objects.filter(environment_id=service.environment_id):
        values[variable.key] = crypto.decrypt(variable.encrypted_value)
    for variable in Variable.objects.filter(service=service):
        values[variable.key] = crypto.decrypt(variable.encrypted_value)
    return values


def copy_variables(source: Service, target: Service, *, with_secrets: bool) -> None:
    """Copy the service's variables; secrets only when the person copying may read them
    (an admin of the source environment), since a copy they own would let them print one."""
    copied = Variable.objects.filter(service=source)
    if not with_secrets:
        copied = copied.filter(is_secret=False)
    for variable in copied:
        Variable.objects.update_or_create(
            service=target,
            key=variable.key,
            defaults={"encrypted_value": variable.encrypted_value, "is_secret": variable.is_secret},
        )
