"""The one way tests wait: poll a condition against a deadline.

A bare `time.sleep` guesses how long something takes and fails on a busy
machine; a wall-clock limit measures speed, which belongs in bench/. Polling
returns as soon as the thing is true and gives up only after a generous
deadline, with a message that says what never happened. `scripts/check-test-waits.py`
(run by `make lint`) keeps every other sleep out of tests/.
"""

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(
    predicate: Callable[[], T],
    timeout: float = 30,
    message: str | Callable[[], str] = "",
    interval: float = 0.1,
) -> T:
    """Call `predicate` until it returns something truthy, and return that.

    `message` may be a function, so that a costly explanation (a log, a list of
    containers) is built only when the wait fails.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            text = message() if callable(message) else message
            raise AssertionError(f"not true within {timeout} s: {text or predicate}")
        time.sleep(interval)
