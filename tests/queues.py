"""Read what the platform put on the real Celery queue, instead of replacing how it sends.

A test that should not run a deployment still sends it through the same code a
real request does (`transaction.on_commit`, `apply_async`, the Redis broker);
only no worker listens on the test's own queue, and the test reads the
messages as a worker would receive them.
"""

import uuid
from queue import Empty

import pytest

from portal.celery import app


class ReadQueue:
    def __init__(self, name: str) -> None:
        self.name = name
        self.received: list[tuple[str, list]] = []

    def _drain(self) -> None:
        with app.connection_for_read() as connection, connection.SimpleQueue(self.name, no_ack=True) as queue:
            while True:
                try:
                    message = queue.get(block=False)
                except Empty:
                    return
                args, _kwargs, _embed = message.decode()
                self.received.append((message.headers["task"], args))

    def tasks(self) -> list[tuple[str, list]]:
        """Every (task name, arguments) sent to this queue so far, oldest first."""
        self._drain()
        return list(self.received)

    def deployments(self) -> list[int]:
        """Ids of the deployments sent to be run, oldest first."""
        return [args[0] for task, args in self.tasks() if task == "deployments.tasks.deploy"]


@pytest.fixture
def deploy_queue(settings):
    """A queue of this test's own on the real broker, read by the test, never by a worker."""
    settings.DEPLOY_QUEUE = f"unread-{uuid.uuid4().hex[:12]}"
    queue = ReadQueue(settings.DEPLOY_QUEUE)
    yield queue
    with app.connection_for_write() as connection:  # leave nothing behind on the broker
        connection.default_channel.queue_delete(queue.name)
