import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

from environments.models import Environment, slug_validator
from portal import crypto


def _new_webhook_secret() -> str:
    return secrets.token_hex(32)


def _new_sealed_webhook_secret() -> str:
    return crypto.encrypt(_new_webhook_secret())


class Service(models.Model):
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="services")
    name = models.CharField(max_length=30, validators=[slug_validator])
    repository_url = models.CharField(max_length=500)
    # Empty until the first clone asks the remote for its default branch (HEAD).
    branch = models.CharField(max_length=200, blank=True, default="")
    subdirectory = models.CharField(max_length=300, blank=True, default="")
    port = models.PositiveIntegerField(default=8080)
    # The service's own commands win over the Procfile and what is detected.
    start_command = models.CharField(max_length=1000, blank=True, default="")
    build_command = models.CharField(max_length=1000, blank=True, default="")
    predeploy_command = models.CharField(max_length=1000, blank=True, default="")
    # Where a new instance is asked for an answer before it gets requests, and every
    # `interval` seconds afterwards (deployments/health_monitor.py). The expected
    # status: codes and ranges, "200-499" by default (anything but a server error).
    health_check_path = models.CharField(max_length=200, default="/")
    health_check_status = models.CharField(max_length=60, default="200-499")
    health_check_interval = models.PositiveSmallIntegerField(default=10)
    health_check_timeout = models.PositiveSmallIntegerField(default=5)
    # Failures this soon after a start or a restart do not count (the app is booting).
    health_check_start_period = models.PositiveSmallIntegerField(default=0)
    health_check_threshold = models.PositiveSmallIntegerField(default=3)
    # Seconds between SIGTERM and SIGKILL when an instance stops; None: STOP_TIMEOUT.
    stop_grace_period = models.PositiveSmallIntegerField(null=True, blank=True)
    # Set when the service was picked from the owner's GitHub repositories:
    # "owner/name", whether it is private (cloned with the owner's token), and
    # the push webhook registered on it (None: the owner adds it by hand).
    github_repository = models.CharField(max_length=200, blank=True, default="")
    is_private = models.BooleanField(default=False)
    webhook_id = models.BigIntegerField(null=True, blank=True)
    # Encrypted with the variables' key ring (portal/crypto.py); read it as `webhook_secret`.
    sealed_webhook_secret = models.CharField(
        max_length=300, default=_new_sealed_webhook_secret, editable=False
    )
    # The deployment that serves now; switched only after a new one is healthy.
    live_deployment = models.ForeignKey(
        "Deployment", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["environment", "name"], name="service_name_per_environment")
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.environment.name})"

    @property
    def webhook_secret(self) -> str:
        """What GitHub signs this service's push deliveries with."""
        return crypto.decrypt(self.sealed_webhook_secret)


class Deployment(models.Model):
    class State(models.TextChoices):
        QUEUED = "queued"
        CLONING = "cloning"
        BUILDING = "building"
        STARTING = "starting"
        RUNNING = "running"
        STOPPED = "stopped"
        FAILED = "failed"
        CANCELLED = "cancelled"
        SUPERSEDED = "superseded"

    ACTIVE_STATES = (State.CLONING, State.BUILDING, State.STARTING)
    FINAL_STATES = (State.FAILED, State.CANCELLED, State.SUPERSEDED, State.STOPPED)

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="deployments")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    state = models.CharField(max_length=20, choices=State.choices, default=State.QUEUED)
    # Set for a rollback, a start or a promotion: that deployment's image runs
    # again, without cloning or building.
    source = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    branch = models.CharField(max_length=200)
    commit_sha = models.CharField(max_length=40, blank=True, default="")
    commit_message = models.CharField(max_length=500, blank=True, default="")
    commit_author = models.CharField(max_length=200, blank=True, default="")
    image = models.CharField(max_length=300, blank=True, default="")
    instance_id = models.CharField(max_length=100, blank=True, default="")
    host_port = models.PositiveIntegerField(null=True, blank=True)
    failure_reason = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    # When its task is (next) due in the queue, and how often the reaper sent it
    # again since: a lost task is re-sent with a backoff, then given up on.
    enqueued_at = models.DateTimeField(default=timezone.now)
    resends = models.PositiveIntegerField(default=0)
    log_size = models.PositiveIntegerField(default=0)
    # Set once the worker has written its last line, so followers know to stop.
    log_complete = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    healthy_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    # Set as it is superseded: its instance is removed once the proxy has drained it,
    # by a task due then (or by the reaper, should that task be lost).
    retire_after = models.DateTimeField(null=True, blank=True)
    # The health monitor's view of the running instance: failed checks in a row, the
    # last check, the last restart it asked for, and since when the ingress skips it.
    health_failures = models.PositiveSmallIntegerField(default=0)
    health_checked_at = models.DateTimeField(null=True, blank=True)
    health_restarted_at = models.DateTimeField(null=True, blank=True)
    unhealthy_since = models.DateTimeField(null=True, blank=True)
    # The [healthcheck] table of the commit's m3o.toml, checked (deployments/repo_config.py):
    # it wins over the service's settings for this deployment, a rollback to it included.
    repository_health_check = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["state", "heartbeat_at"])]

    def __str__(self) -> str:
        return f"deployment {self.pk} of {self.service.name}"

    @property
    def is_final(self) -> bool:
        return self.state in self.FINAL_STATES

    @property
    def is_active(self) -> bool:
        return self.state in self.ACTIVE_STATES

    @property
    def settled(self) -> bool:
        """Nothing more will happen: running or final, with the log complete."""
        return (self.state == self.State.RUNNING or self.is_final) and self.log_complete

    @property
    def url(self) -> str:
        if self.state == self.State.RUNNING and self.host_port:
            return f"http://127.0.0.1:{self.host_port}/"
        return ""

    @property
    def reuses_image(self) -> bool:
        return self.source_id is not None

    @property
    def short_sha(self) -> str:
        return self.commit_sha[:8]

    @property
    def duration(self):
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None


class HealthEvent(models.Model):
    """What the health monitor did to a service's instance: taken out, restarted, back in."""

    class Kind(models.TextChoices):
        TAKEN_OUT = "taken_out"
        RESTARTED = "restarted"
        BACK = "back"

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="health_events")
    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="health_events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    detail = models.CharField(max_length=300)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"


class Variable(models.Model):
    """An environment variable for an environment's services, or for one service.

    The value is stored encrypted (portal.crypto); a secret's value is never
    shown again after it is saved.
    """

    environment = models.ForeignKey(
        Environment, null=True, blank=True, on_delete=models.CASCADE, related_name="variables"
    )
    service = models.ForeignKey(
        Service, null=True, blank=True, on_delete=models.CASCADE, related_name="variables"
    )
    key = models.CharField(max_length=100)
    encrypted_value = models.TextField()
    is_secret = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["environment", "key"], name="variable_per_environment"),
            models.UniqueConstraint(fields=["service", "key"], name="variable_per_service"),
            models.CheckConstraint(
                condition=models.Q(environment__isnull=True) ^ models.Q(service__isnull=True),
                name="variable_belongs_to_one",
            ),
        ]
        ordering = ["key"]

    def __str__(self) -> str:
        return self.key


class WebhookDelivery(models.Model):
    """One delivery from a Git host, kept so a redelivery is recognised and ignored."""

    delivery_id = models.CharField(max_length=100, unique=True)
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="webhook_deliveries")
    event = models.CharField(max_length=50)
    outcome = models.CharField(max_length=200, blank=True, default="")
    deployment = models.ForeignKey(
        Deployment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.event} {self.delivery_id}"


class LogLine(models.Model):
    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="log_lines")
    seq = models.PositiveIntegerField()
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["deployment", "seq"], name="log_seq_per_deployment")]
        ordering = ["seq"]

    def __str__(self) -> str:
        return f"{self.seq}: {self.text}"


class Process(models.Model):
    """A process type of a deployment: a Procfile line (`web`, `worker`, `clock`, ...).

    What it runs and how many instances it wants. The web process gets the address
    and the health check; the others run without a port, restarted when they exit.
    Kept per deployment, since a commit's Procfile is its own; a rollback copies them.
    """

    WEB = "web"

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="processes")
    name = models.CharField(max_length=30)
    # Replaces the image's CMD; empty: the image's own (a generated image has the start command in it).
    command = models.CharField(max_length=1000, blank=True, default="")
    replicas = models.PositiveSmallIntegerField(default=1)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["deployment", "name"], name="process_type_per_deployment")
        ]
        ordering = ["deployment", "name"]

    def __str__(self) -> str:
        return f"{self.name} of deployment {self.deployment_id}"


class Instance(models.Model):
    """One container of a process type, as the worker last saw it on the engine."""

    class State(models.TextChoices):
        STARTING = "starting"
        RUNNING = "running"
        RESTARTING = "restarting"  # exited; the engine starts it again after a backoff
        EXITED = "exited"
        GONE = "gone"  # not on the engine: the reconciler starts it again
        DRAINING = "draining"  # out of the ingress, stopped once the requests it has are answered

    process = models.ForeignKey(Process, on_delete=models.CASCADE, related_name="instances")
    index = models.PositiveSmallIntegerField(default=0)  # the replica's number
    container_id = models.CharField(max_length=100, blank=True, default="")
    host_port = models.PositiveIntegerField(null=True, blank=True)  # web only
    state = models.CharField(max_length=20, choices=State.choices, default=State.STARTING)
    # Restarts of this process type's instance since the deployment started it:
    # the engine's count, plus those of the containers it replaced.
    restarts = models.PositiveIntegerField(default=0)
    restarts_before = models.PositiveIntegerField(default=0)
    exit_code = models.IntegerField(null=True, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    seen_at = models.DateTimeField(null=True, blank=True)
    # A web replica gets requests once it answered its health check (ingress/routes.py):
    # set as it goes live, cleared before it is drained and stopped.
    routed = models.BooleanField(default=False)
    # The health monitor's view of this replica, as Deployment's fields are of replica 0's deployment.
    health_failures = models.PositiveSmallIntegerField(default=0)
    health_checked_at = models.DateTimeField(null=True, blank=True)
    health_restarted_at = models.DateTimeField(null=True, blank=True)
    unhealthy_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["process", "index"], name="instance_per_replica")]
        ordering = ["process", "index"]

    def __str__(self) -> str:
        return f"{self.process.name}.{self.index + 1} of deployment {self.process.deployment_id}"
