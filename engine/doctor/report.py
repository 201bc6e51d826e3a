"""The whole report, in the order a user reads it: software, GPUs, folders, network, tools."""

from __future__ import annotations

from engine.doctor.check import Check


def doctor(network: bool = True) -> list[Check]:
    """Return every check of this machine (`network=False` asks no server)."""
    from engine.doctor.folders import folder_checks
    from engine.doctor.gpu import build_checks, gpu_checks
    from engine.doctor.network import network_checks
    from engine.doctor.software import software_checks
    from engine.doctor.tools import tool_checks

    rows = [*software_checks(), *build_checks(), *gpu_checks(), *folder_checks()]
    if network:
        rows += network_checks()
    else:
        rows.append(Check("network", "servers", "info", "not asked (--offline)"))
    return rows + tool_checks()
