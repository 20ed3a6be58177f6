"""The license matcher and the SPDX table, on real license texts."""

from pathlib import Path

import pytest

from billing import licenses, spdx

APPS = Path(__file__).resolve().parent / "apps"
COMMON = Path("/usr/share/common-licenses")


@pytest.mark.parametrize(
    ("app", "expected"),
    [
        ("static-mit", licenses.LicenseFile("LICENSE", "MIT")),
        ("static-gpl", licenses.LicenseFile("COPYING", "GPL-3.0-only")),
        ("static-busl", licenses.LicenseFile("LICENSE.md", "BUSL-1.1")),
        ("static-unlicensed", None),
    ],
)
def test_the_license_file_of_each_sample_app_is_identified(app, expected):
    assert licenses.find(APPS / app) == expected


@pytest.mark.parametrize(
    ("name", "spdx_id"),
    [
        ("Apache-2.0", "Apache-2.0"),
        ("MPL-2.0", "MPL-2.0"),
        ("GPL-2", "GPL-2.0-only"),
        ("GPL-3", "GPL-3.0-only"),
        ("LGPL-2.1", "LGPL-2.1-only"),
        ("LGPL-3", "LGPL-3.0-only"),
        ("BSD", "BSD-3-Clause"),
    ],
)
def test_debians_copies_of_common_licenses_are_identified(name, spdx_id):
    if not (COMMON / name).exists():
        pytest.skip(f"{COMMON / name} is not on this machine")
    assert licenses.identify_text((COMMON / name).read_text()) == spdx_id


def test_mit_with_a_commons_clause_is_not_taken_for_mit():
    mit = (APPS / "static-mit" / "LICENSE").read_text()
    clause = (
        '"Commons Clause" License Condition v1.0\n\nThe Software is provided to you by the Licensor '
        "under the License, as defined below, subject to the following condition. Without limiting "
        "other conditions in the License, the grant of rights under the License will not include, "
        "and the License does not grant to you, the right to Sell the Software."
    )
    assert licenses.identify_text(mit) == "MIT"
    assert licenses.identify_text(f"{clause}\n\n{mit}") == "LicenseRef-Commons-Clause"


def test_an_unknown_text_is_a_license_file_we_do_not_recognise(tmp_path):
    (tmp_path / "LICENSE").write_text("All rights reserved. Look, do not touch.")
    assert licenses.find(tmp_path) == licenses.LicenseFile("LICENSE", None)


def test_a_symlinked_license_file_is_not_read(tmp_path):
    (tmp_path / "LICENSE").symlink_to(APPS / "static-mit" / "LICENSE")
    assert licenses.find(tmp_path) is None


def test_osi_flags_and_githubs_older_gpl_ids():
    assert spdx.is_osi_approved("MIT")
    assert spdx.is_osi_approved("GPL-3.0-only")
    assert not spdx.is_osi_approved("BUSL-1.1")
    assert not spdx.is_osi_approved("NOASSERTION")
    assert spdx.same_license("GPL-3.0", "GPL-3.0-only")
    assert not spdx.same_license("GPL-2.0", "GPL-3.0-only")
