"""The whole report, in the order a user reads it: software, GPUs, folders, network, tools."""

from __future__ import annotations

from engine.jobs.doctor.check import Check


def doctor(network: bool = True) -> list[Check]:
    """Return every check of this machine (`network=False` asks no server)."""
    from engine.jobs.doctor.folders import folder_checks
    from engine.jobs.doctor.gpu import build_checks, gpu_checks
    from engine.jobs.doctor.network import network_checks
    from engine.jobs.doctor.software import software_checks
    from engine.jobs.doctor.tools import tool_checks

    rows = [*software_checks(), *build_checks(), *gpu_checks(), *folder_checks()]
    if network:
        rows += network_checks()
    else:
        rows.append(Check("network", "servers", "info", "not asked (--offline)"))
    return rows + tool_checks()
