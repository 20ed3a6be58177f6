"""Node.js requests resolve as npm resolves them, against the releases on offer."""

import pytest

from deployments.errors import UserError
from deployments.node_versions import resolve, satisfying

RELEASES = [
    (0, 10, 48),
    (0, 12, 18),
    (4, 9, 1),
    (18, 20, 8),
    (20, 0, 0),
    (20, 19, 5),
    (22, 1, 0),
    (22, 23, 5),
]


@pytest.mark.parametrize(
    ("asked", "newest"),
    [
        ("22", (22, 23, 5)),
        ("22.x", (22, 23, 5)),
        ("22.1", (22, 1, 0)),
        ("^20.0.0", (20, 19, 5)),
        ("~20.0", (20, 0, 0)),
        (">=18 <21", (20, 19, 5)),
        ("> 20", (22, 23, 5)),
        (">20.19.5 <22.2", (22, 1, 0)),
        ("<=22.1.0", (22, 1, 0)),
        ("<=20", (20, 19, 5)),
        ("<20", (18, 20, 8)),
        ("18 - 20.0", (20, 0, 0)),
        ("4 || 18", (18, 20, 8)),
        ("^0.12", (0, 12, 18)),
        ("*", (22, 23, 5)),
        ("20.19.5", (20, 19, 5)),
    ],
)
def test_the_newest_release_that_satisfies_the_range_is_chosen(asked, newest):
    assert max(satisfying(asked, RELEASES)) == newest


@pytest.mark.parametrize("asked", ["99", "^23", "<0.10", "20.19.6", ">22.23.5", ">=", "1.2.3.4", "x.1-"])
def test_a_range_no_release_meets_matches_nothing(asked):
    assert satisfying(asked, RELEASES) == []


def test_a_node_nobody_provides_is_refused_with_the_file_and_what_there_is():
    assert resolve("^20.1", ".nvmrc", RELEASES) == "20.19.5"
    with pytest.raises(UserError) as failure:
        resolve("99", ".nvmrc", RELEASES)
    assert str(failure.value) == (
        ".nvmrc asks for Node.js '99', which no release satisfies. "
        "Available: Node.js 0.10, 0.12, 4, 18, 20, 22 (newest 22.23.5). Change .nvmrc to one of them."
    )
