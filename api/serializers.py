"""What the API shows of each object, and what it reads from a request."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from deployments import repo_config
from deployments.models import Deployment, HealthEvent, LogLine, Service
from deployments.queries import service_state
from environments.access import role_of
from environments.models import Environment, Membership, slug_validator

# What the person asking is in an environment (environments.access.role_of).
ACCESS_ROLES = [("owner", "owner"), ("admin", "admin"), ("member", "member"), ("viewer", "viewer")]


class EnvironmentSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.email", read_only=True)
    role = serializers.SerializerMethodField()

    class Meta:
        model = Environment
        fields = [
            "id",
            "name",
            "kind",
            "description",
            "owner",
            "role",
            "created_at",
            "expires_at",
            "deleted_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=ACCESS_ROLES, allow_null=True))
    def get_role(self, environment) -> str | None:
        return role_of(self.context["request"].user, environment)


class EnvironmentCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=30)
    kind = serializers.ChoiceField(choices=Environment.Kind.choices, default=Environment.Kind.PERSONAL)
    description = serializers.CharField(max_length=300, default="", allow_blank=True)
    copy_from = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, help_text="The id of an environment to copy."
    )
    ttl_hours = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=24 * 90)


class MemberSerializer(serializers.ModelSerializer):
    email = serializers.CharField(source="user.email", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "email", "role", "added_at"]
        read_only_fields = fields


class MemberCreateSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254)
    role = serializers.ChoiceField(choices=Membership.Role.choices, default=Membership.Role.MEMBER)


class VariableSerializer(serializers.Serializer):
    key = serializers.CharField()
    value = serializers.CharField(allow_null=True, help_text="null for a secret: it is never shown.")
    secret = serializers.BooleanField(source="is_secret")
    scope = serializers.ChoiceField(choices=["environment", "service"])


class VariableSetSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=100)
    value = serializers.CharField(max_length=32_000, allow_blank=True, trim_whitespace=False)
    secret = serializers.BooleanField(default=False)


class DeploymentSerializer(serializers.ModelSerializer):
    service_name = serializers.CharField(source="service.name", read_only=True)
    environment = serializers.IntegerField(source="service.environment_id", read_only=True)
    environment_name = serializers.CharField(source="service.environment.name", read_only=True)
    url = serializers.SerializerMethodField()

    class Meta:
        model = Deployment
        fields = [
            "id", "service", "service_name", "environment", "environment_name", "state", "branch",
            "commit_sha", "commit_message", "commit_author", "source", "failure_reason", "url",
            "log_size", "log_complete", "created_at", "started_at", "healthy_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_url(self, deployment) -> str:
        from ingress.names import service_url

        if deployment.state != Deployment.State.RUNNING:
            return ""
        return service_url(deployment.service) or deployment.url


class ServiceSerializer(serializers.ModelSerializer):
    environment_name = serializers.CharField(source="environment.name", read_only=True)
    repository_url = serializers.SerializerMethodField()
    path = serializers.CharField(source="subdirectory", read_only=True)
    state = serializers.SerializerMethodField()
    status = serializers.SerializerMethodField()
    newest_deployment = serializers.SerializerMethodField()
    address = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()
    health_check_from_repository = serializers.SerializerMethodField()

    class Meta:
        model = Service
        fields = [
            "id", "name", "environment", "environment_name", "repository_url", "branch", "path", "port",
            "start_command", "build_command", "predeploy_command", "health_check_path",
            "health_check_status", "health_check_interval", "health_check_timeout",
            "health_check_start_period", "health_check_threshold", "stop_grace_period",
            "health_check_from_repository", "state", "live_deployment", "address", "url", "created_at",
            "status", "newest_deployment",
        ]  # fmt: skip
        read_only_fields = fields

    def to_representation(self, service):
        # One answer per service for state, status and newest_deployment (deployments.queries).
        self._said = service_state(service)
        return super().to_representation(service)

    def get_repository_url(self, service) -> str:
        from api.uploads import is_upload

        # The folder of an upload on the server is nobody's business outside it.
        return "(uploaded)" if is_upload(service.repository_url) else service.repository_url

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_state(self, service) -> str | None:
        """The live deployment's state, else the newest one's; null: never deployed."""
        return self._said.state

    def get_status(self, service) -> str:
        """The state in words, as the dashboard says it: "running (deployment #5), #6 failed"."""
        return self._said.text

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_newest_deployment(self, service) -> int | None:
        return self._said.newest

    def get_address(self, service) -> str:
        """The service's host name, given as it was made: where it answers once it runs."""
        from ingress.addresses import host_of

        return host_of(service)

    @extend_schema_field(serializers.DictField())
    def get_health_check_from_repository(self, service) -> dict:
        """The health settings the live deployment's m3o.toml sets, {setting: value}: these win over
        the service's own while it does (deployments/repo_config.py)."""
        return repo_config.from_repository(service)

    def get_url(self, service) -> str:
        from ingress.names import service_url

        live = service.live_deployment
        if live is None or live.state != Deployment.State.RUNNING:
            return ""
        return service_url(service) or live.url


class DeploySerializer(serializers.Serializer):
    name = serializers.CharField(max_length=30)
    repository_url = serializers.CharField(max_length=500)
    branch = serializers.CharField(
        max_length=200, default="", allow_blank=True, help_text="Default: the repository's default branch."
    )
    path = serializers.CharField(max_length=300, default="", allow_blank=True)
    environment = serializers.CharField(max_length=30, default="production")
    port = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=65535)
    start_command = serializers.CharField(max_length=1000, required=False, allow_blank=True)
    build_command = serializers.CharField(max_length=1000, required=False, allow_blank=True)
    predeploy_command = serializers.CharField(max_length=1000, required=False, allow_blank=True)
    replace = serializers.BooleanField(
        default=False,
        help_text="True: a service of this name that deploys another repository is switched to this one "
        "(without it the answer is 409).",
    )


class ServiceSettingsSerializer(serializers.Serializer):
    """What PATCH changes; a field left out stays as it is. Used from the next deployment."""

    name = serializers.CharField(max_length=30, required=False)
    repository_url = serializers.CharField(max_length=500, required=False)
    branch = serializers.CharField(max_length=200, required=False, allow_blank=True)
    path = serializers.CharField(max_length=300, required=False, allow_blank=True)
    port = serializers.IntegerField(required=False, min_value=1, max_value=65535)
    start_command = serializers.CharField(max_length=1000, required=False, allow_blank=True)
    build_command = serializers.CharField(max_length=1000, required=False, allow_blank=True)
    predeploy_command = serializers.CharField(max_length=1000, required=False, allow_blank=True)
    health_check_path = serializers.CharField(max_length=200, required=False, allow_blank=True)
    # The bounds are checked (and said) by service_settings, as for the form and the CLI.
    health_check_status = serializers.CharField(max_length=60, required=False, allow_blank=True)
    health_check_interval = serializers.IntegerField(required=False)
    health_check_timeout = serializers.IntegerField(required=False)
    health_check_start_period = serializers.IntegerField(required=False)
    health_check_threshold = serializers.IntegerField(required=False)
    stop_grace_period = serializers.IntegerField(
        required=False, allow_null=True, help_text="null: the platform's STOP_TIMEOUT."
    )


class HealthEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = HealthEvent
        fields = ["id", "deployment", "kind", "detail", "created_at"]
        read_only_fields = fields


class UploadSerializer(serializers.Serializer):
    archive = serializers.FileField(help_text="A .tar.gz of the folder to deploy.")
    # Checked here already: the name becomes part of a folder's path.
    name = serializers.CharField(max_length=30, validators=[slug_validator])
    path = serializers.CharField(max_length=300, default="", allow_blank=True)
    environment = serializers.CharField(max_length=30, default="production")
    port = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=65535)
    start_command = serializers.CharField(max_length=1000, required=False, allow_blank=True)
    build_command = serializers.CharField(max_length=1000, required=False, allow_blank=True)
    predeploy_command = serializers.CharField(max_length=1000, required=False, allow_blank=True)
    replace = serializers.BooleanField(
        default=False,
        help_text="True: a service of this name deployed from a repository becomes this folder.",
    )


class RollbackSerializer(serializers.Serializer):
    deployment = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, help_text="Default: the one before the live one."
    )


class PromoteSerializer(serializers.Serializer):
    environment = serializers.IntegerField(min_value=1, help_text="The id of the environment to promote to.")


class LogLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = LogLine
        fields = ["seq", "text", "created_at"]
        read_only_fields = fields


class BuildLogSerializer(serializers.Serializer):
    lines = LogLineSerializer(many=True)
    next_after = serializers.IntegerField(help_text="Ask again with ?after=this for the lines that follow.")
    state = serializers.CharField()
    complete = serializers.BooleanField(help_text="No more lines will come.")


class RuntimeLineSerializer(serializers.Serializer):
    time = serializers.CharField()
    text = serializers.CharField()


class RuntimeLogSerializer(serializers.Serializer):
    running = serializers.BooleanField()
    deployment = serializers.IntegerField(allow_null=True)
    lines = RuntimeLineSerializer(many=True)


class WhoamiSerializer(serializers.Serializer):
    username = serializers.CharField()
    email = serializers.CharField()
