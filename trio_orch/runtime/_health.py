"""The orchestrator's health view: one :class:`ComponentHealth` per component, one overall status.

The statuses are the services' :class:`~trio_orch.HealthStatus` (``HEALTHY`` < ``UNKNOWN`` <
``DEGRADED`` < ``UNHEALTHY``), and the overall status is the worst of the components' and,
when a :class:`~trio_orch.ServiceOrchestrator` is attached, of its ``overall``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, final

import attrs

from trio_orch.engines import HealthStatus, SystemHealth

if TYPE_CHECKING:
    from collections.abc import Mapping


@final
@attrs.frozen
class ComponentHealth:
    """The health of one part of the orchestrator.

    Attributes:
        name: the component's name (``"bus"``, ``"plugins"``, ``"resources"``, ...).
        status: its :class:`~trio_orch.HealthStatus`.
        detail: what the status is based on (counters, a reason), for display.
    """

    name: str
    status: HealthStatus
    detail: Mapping[str, Any] = attrs.field(factory=dict)


@final
@attrs.frozen
class RuntimeHealth:
    """What :meth:`trio_orch.Orchestrator.system_health` returns.

    Attributes:
        status: the worst status of the components and of the attached services.
        components: ``{name: ComponentHealth}``, in start order.
        services: the attached :class:`~trio_orch.ServiceOrchestrator`'s last
            :class:`~trio_orch.SystemHealth`, or ``None`` when none is attached.
        uptime: seconds since the orchestrator started.
        checked_at: ``trio.current_time()`` of the snapshot.
    """

    status: HealthStatus
    components: Mapping[str, ComponentHealth]
    services: SystemHealth | None
    uptime: float
    checked_at: float

    @property
    def healthy(self) -> bool:
        """True when the overall status is ``HEALTHY``."""
        return self.status is HealthStatus.HEALTHY

    def render(self) -> str:
        """A few lines of plain text: the overall status, then one line per component."""
        lines = [f"overall: {self.status.value} (uptime {self.uptime:.3f}s)"]
        for health in self.components.values():
            detail = ", ".join(f"{k}={v}" for k, v in health.detail.items())
            lines.append(
                f"  {health.name}: {health.status.value}" + (f" ({detail})" if detail else "")
            )
        if self.services is not None:
            for name, service in self.services.services.items():
                lines.append(f"  service {name}: {service.status.value}")
        return "\n".join(lines)


def worst(statuses: list[HealthStatus]) -> HealthStatus:
    """The most severe of ``statuses`` (``HEALTHY`` for none: nothing is wrong)."""
    if not statuses:
        return HealthStatus.HEALTHY
    return max(statuses, key=lambda s: s.severity)
