"""A target's verdict on one artifact: its static check plus its packaging step.

Shared by ``edgekit build`` and ``edgekit convert`` so both ship the same files and reports.
"""

from __future__ import annotations

import logging

import numpy as np

from edgekit.target import PackageInput, Target

log = logging.getLogger("edgekit")


def check_and_package(target: Target, model_bytes: bytes, *, name: str, x_test: np.ndarray | None) -> tuple[dict, dict]:
    """Run ``target.check`` and, when the target has one, its ``package`` step.

    Returns the target report (dict) and the extra bundle files {name: bytes}.
    """
    report = target.check(model_bytes).to_dict()
    if target.package is None:
        return report, {}
    log.info("packaging %s for %s", name, target.name)
    built = target.package(model_bytes, PackageInput(name=name, x_test=x_test, options=target.options))
    report["details"].update(built.details)
    report["notes"].extend(built.notes)
    return report, dict(built.files)
