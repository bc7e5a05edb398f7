"""The health fact the run gathers after the probe, and the check that judges it.

Why a unit test: an engine that stops answering mid-run cannot be made on purpose here without stopping the
one shared Docker engine, so `eng.choose` is replaced to raise what the real one raises (TargetError).
"""

from __future__ import annotations

import pytest

from devbox_conformance import engine as eng
from devbox_conformance import health
from devbox_conformance.kinds import verdict
from devbox_conformance.kinds.image_config import ImageConfig
from devbox_conformance.target import TargetError

ATTRS = {"Config": {"Healthcheck": {"Test": ["CMD", "/usr/local/bin/devbox-healthcheck"]}}}
ITEM = ImageConfig(key="healthcheck", name="healthcheck", healthy=True)


def judge(facts: dict) -> verdict.Outcome:
    ctx = verdict.Context(facts=facts, conditions={}, target_kind="image", image_attrs=ATTRS)
    return verdict.verify("image_config", ITEM, ctx)


def test_an_engine_that_cannot_answer_is_unhealthy_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    def gone(name: str) -> eng.Engine:
        raise TargetError("cannot reach the Docker engine (connection refused)")

    monkeypatch.setattr(eng, "choose", gone)
    fact = health.gather("docker", "devbox-conformance-x", ATTRS)
    assert fact == {
        "healthy": False,
        "seen": "the engine could not say: cannot reach the Docker engine (connection refused)",
    }
    out = judge({health.FACT: fact})
    assert out.status == "failed" and "connection refused" in out.message


@pytest.mark.parametrize(
    "fact",
    [{}, {"seen": "healthy"}, {"healthy": None, "seen": "starting"}, {"healthy": "false", "seen": "x"}],
)
def test_a_fact_that_does_not_say_healthy_never_passes(fact: dict) -> None:
    """Only `healthy: True` passes; a fact without the answer, or the string "false", is red."""
    assert judge({health.FACT: fact}).status == "failed"


def test_no_fact_is_a_skip_and_a_healthy_one_passes() -> None:
    assert judge({}).status == "skipped"
    assert judge({health.FACT: {"healthy": True, "seen": "healthy"}}).status == "passed"
