from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"

    def ready(self) -> None:
        # Registers the Bearer scheme with drf-spectacular.
        from api import auth  # noqa: F401
