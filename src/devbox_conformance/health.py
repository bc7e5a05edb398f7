"""Whether the run's container reached `healthy`: a fact gathered once per host, right after its probe.

Why a fact and not a call from the check: a check judges facts only. The container was started with its
health command every half second (engine.start_container), so by the end of the probe it has usually
answered; the wait costs nothing then, and at most the image's own budget (`health_budget`) when it has not.
"""

from __future__ import annotations

from typing import Any

from devbox_conformance import engine as eng
from devbox_conformance import expectations as exp
from devbox_conformance.kinds.image_config import HEALTH_FACT, health_budget
from devbox_conformance.target import TargetError

# The key of the fact in a host's facts (the image_config kind, which judges it, names it).
FACT = HEALTH_FACT


def wanted(model: exp.Expectations) -> bool:
    """The contract asks for a healthy container (an image_config healthcheck item with `healthy: true`)."""
    return any(i.name == "healthcheck" and getattr(i, "healthy", False) for i in model.items("image_config"))


def gather(engine_name: str, container: str, image_attrs: dict[str, Any] | None) -> dict[str, Any]:
    """Wait for the container to be healthy within the image's budget; what the engine said.

    An engine that cannot answer (its daemon gone mid-run) is an unhealthy answer naming why: the item fails
    with that line, the other items keep their verdicts, and the run never stops on a traceback.
    """
    config = (image_attrs or {}).get("Config") or {}
    budget = health_budget(config.get("Healthcheck") or {})
    try:
        healthy, seen = eng.wait_healthy(eng.choose(engine_name), container, budget_s=budget)
    except TargetError as exc:
        healthy, seen = False, f"the engine could not say: {exc}"
    return {"healthy": healthy, "seen": seen}
