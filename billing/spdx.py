"""SPDX license identifiers approved by the Open Source Initiative, and a few that are not.

A curated copy of the SPDX license list's `isOsiApproved` flags (spdx.org/licenses),
kept here so the check works offline. GitHub's API still answers with some older
SPDX ids (`GPL-3.0` for `GPL-3.0-only`), which count as their current forms.
"""


def _ids(text: str) -> frozenset[str]:
    return frozenset(text.split())


OSI_APPROVED = _ids(
    """
    0BSD AAL AFL-1.1 AFL-1.2 AFL-2.0 AFL-2.1 AFL-3.0 AGPL-3.0 AGPL-3.0-only AGPL-3.0-or-later
    APL-1.0 APSL-1.0 APSL-1.1 APSL-1.2 APSL-2.0 Apache-1.1 Apache-2.0 Artistic-1.0
    Artistic-1.0-Perl Artistic-1.0-cl8 Artistic-2.0 BSD-1-Clause BSD-2-Clause BSD-2-Clause-Patent
    BSD-3-Clause BSD-3-Clause-LBNL BSL-1.0 BlueOak-1.0.0 CAL-1.0 CAL-1.0-Combined-Work-Exception
    CATOSL-1.1 CDDL-1.0 CECILL-2.1 CERN-OHL-P-2.0 CERN-OHL-S-2.0 CERN-OHL-W-2.0 CNRI-Python
    CPAL-1.0 CPL-1.0 CUA-OPL-1.0 ECL-1.0 ECL-2.0 EFL-1.0 EFL-2.0 EPL-1.0 EPL-2.0 EUDatagrid
    EUPL-1.1 EUPL-1.2 Entessa Fair Frameworx-1.0 GPL-2.0 GPL-2.0-only GPL-2.0-or-later GPL-3.0
    GPL-3.0-only GPL-3.0-or-later HPND ICU IPA IPL-1.0 ISC Intel LGPL-2.0 LGPL-2.0-only
    LGPL-2.0-or-later LGPL-2.1 LGPL-2.1-only LGPL-2.1-or-later LGPL-3.0 LGPL-3.0-only
    LGPL-3.0-or-later LPL-1.0 LPL-1.02 LPPL-1.3c LiLiQ-P-1.1 LiLiQ-R-1.1 LiLiQ-Rplus-1.1 MIT
    MIT-0 MIT-CMU MIT-Modern-Variant MPL-1.0 MPL-1.1 MPL-2.0 MPL-2.0-no-copyleft-exception MS-PL
    MS-RL MirOS Motosoto MulanPSL-2.0 Multics NASA-1.3 NCSA NGPL NPOSL-3.0 NTP Naumen Nokia
    OCLC-2.0 OFL-1.1 OFL-1.1-RFN OFL-1.1-no-RFN OGTSL OLDAP-2.8 OSET-PL-2.1 OSL-1.0 OSL-2.0
    OSL-2.1 OSL-3.0 PHP-3.0 PHP-3.01 PostgreSQL Python-2.0 QPL-1.0 RPL-1.1 RPL-1.5 RPSL-1.0
    RSCPL SISSL SPL-1.0 SimPL-2.0 Sleepycat UCL-1.0 UPL-1.0 Unicode-3.0 Unicode-DFS-2016
    Unlicense VSL-1.0 W3C Watcom-1.0 Xnet ZPL-2.0 ZPL-2.1 Zlib eCos-2.0 wxWindows
    """
)

# Well-known source-available licenses people take for open source; named so
# the verdict can say which one it found.
NOT_OSI_APPROVED = _ids(
    """
    BUSL-1.1 SSPL-1.0 Elastic-2.0 LicenseRef-Commons-Clause CC-BY-NC-4.0 CC-BY-NC-SA-4.0
    PolyForm-Noncommercial-1.0.0 PolyForm-Shield-1.0.0 JSON CC0-1.0 WTFPL
    """
)


def is_osi_approved(spdx_id: str) -> bool:
    return spdx_id in OSI_APPROVED


def same_license(a: str, b: str) -> bool:
    """Whether two SPDX ids name one license; GitHub's `GPL-3.0` is `GPL-3.0-only`."""
    return _family(a) == _family(b)


def _family(spdx_id: str) -> str:
    for suffix in ("-only", "-or-later", "+"):
        if spdx_id.endswith(suffix):
            return spdx_id[: -len(suffix)]
    return spdx_id
