"""What a service's namesake in another environment takes from it: copy and promote agree."""

from deployments.models import Service
from deployments.source import copy_upload, upload_path

# Everything that says where the code comes from and how it is built, started and checked.
COPIED = (
    "branch",
    "subdirectory",
    "port",
    "start_command",
    "build_command",
    "predeploy_command",
    "health_check_path",
    "github_repository",
    "is_private",
)


def settings_for_copy(original: Service, environment_id: int) -> dict:
    """The fields of a new service like `original` in another environment.

    An upload belongs to one service: the copy deploys from a copy of the folder of its own.
    """
    repository_url = original.repository_url
    if repository_url == str(upload_path(original.environment_id, original.name)):
        repository_url = copy_upload(original.name, original.environment_id, environment_id)
    return {"repository_url": repository_url, **{field: getattr(original, field) for field in COPIED}}
