"""The two kinds of failure a deployment can meet.

A UserError is about the user's code or settings: it is shown to them in plain
words and the deployment fails. A PlatformError is ours (the container engine is
down, say): the deployment is retried, and only after the retries are spent is
it failed with a message for the operator.
"""


class UserError(Exception):
    """Something the user can fix: shown in the log as it is."""


class PlatformError(Exception):
    """Something the operator must fix: retried, then reported."""


class Cancelled(Exception):
    """The deployment's state was changed under us (cancelled or superseded)."""
