"""Celery's Redis transport, made so a worker outlives a restart of Redis.

With kombu 5.7, when the broker goes away mid-task the worker detaches the lost
connection's transport (its `client` becomes None) while that connection's
channel lives on: closing it requeues unacknowledged messages, and the task
still running acknowledges its message there when it ends. Both build a Redis
client from `transport.client` and raise AttributeError ("'NoneType' object has
no attribute 'hostname'"), which Celery takes as unrecoverable: the worker shut
down for good. Here a channel keeps the connection details it was made with, so
it reaches the (restarted) Redis again, or fails with a connection error that
Celery expects and retries.
"""

from kombu.transport import redis


class Channel(redis.Channel):
    def __init__(self, connection, *args, **kwargs):
        self._made_for = connection.client
        super().__init__(connection, *args, **kwargs)

    def _connparams(self, asynchronous=False):
        if self.connection.client is None:
            self.connection.client = self._made_for
        return super()._connparams(asynchronous=asynchronous)


class Transport(redis.Transport):
    Channel = Channel
