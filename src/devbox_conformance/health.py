"""Whether the run's container reached `healthy`: a fact gathered once per host, right after its probe.

Why a fact and not a call from the check: a check judges facts only. The container was started with its
health command every half second (engine.start_container), so by the end of the probe it has usually
answered; the wait costs nothing then, and at most the image's own budget (`health_budget`) when it has not.
"""

from __future__ import annotations

from typing import Any

from devbox_conformance import engine as eng
from devbox_conformance import expectations as exp
from devbox_conformance.kinds.image_config import health_budget

# The key of the fact in a host's facts: {"healthy": bool, "seen": "what the engine said"}.
FACT = "container_health"


def wanted(model: exp.Expectations) -> bool:
    """The contract asks for a healthy container (an image_config healthcheck item with `healthy: true`)."""
    return any(i.name == "healthcheck" and getattr(i, "healthy", False) for i in model.items("image_config"))


def gather(engine_name: str, container: str, image_attrs: dict[str, Any] | None) -> dict[str, Any]:
    """Wait for the container to be healthy within the image's budget; what the engine said."""
    config = (image_attrs or {}).get("Config") or {}
    budget = health_budget(config.get("Healthcheck") or {})
    healthy, seen = eng.wait_healthy(eng.choose(engine_name), container, budget_s=budget)
    return {"healthy": healthy, "seen": seen}
