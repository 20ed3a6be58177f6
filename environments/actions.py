from environments.models import Environment

DEFAULT_ENVIRONMENT = "production"


def get_or_create_environment(user, name: str = DEFAULT_ENVIRONMENT) -> Environment:
    kind = Environment.Kind.PRODUCTION if name == DEFAULT_ENVIRONMENT else Environment.Kind.PERSONAL
    environment, _ = Environment.objects.get_or_create(owner=user, name=name, defaults={"kind": kind})
    return environment
