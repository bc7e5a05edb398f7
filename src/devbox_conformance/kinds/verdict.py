"""The check vocabulary every kind shares: the Context a check reads, the Outcome it returns, and `verify`,
which applies what is common to every item (`when:`, a broken probe, optional items, the manifest's why)
around the kind's own check. It lives with the kinds: the kind modules import it, nothing here imports
them at load time.

>>> verify("binaries", model.binaries[0], context).status
'passed'
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from devbox_conformance.kinds.base import Item, probe_failure


@dataclass(frozen=True)
class Outcome:
    """The verdict on one item."""

    # "passed", "failed" or "skipped".
    status: str
    # Failure: what was expected and found; skip: why.
    message: str = ""
    # For failures: True when the item is simply absent (an optional item then skips instead).
    absent: bool = False

    @classmethod
    def passed(cls, message: str = "") -> Outcome:
        return cls("passed", message)

    @classmethod
    def failed(cls, expected: str, found: str, absent: bool = False) -> Outcome:
        return cls("failed", f"expected: {expected}\nfound:    {found}", absent)

    @classmethod
    def skipped(cls, why: str) -> Outcome:
        return cls("skipped", why)


@dataclass(frozen=True)
class Context:
    """Everything a check may look at."""

    # The probe's facts.
    facts: dict[str, Any]
    # Facts `when:` may name (see probe.conditions), and `gpus_required`: what asked for GPUs on this target
    # ("--gpus all"; a GPU-node profile may set it too), or None. Where it is set, an item under
    # `when: {gpu: true}` and every GPU item fail instead of skipping on a target without a visible GPU.
    conditions: dict[str, Any]
    # Target kind ("image", "container", "local") and the image's inspect attrs (None on local).
    target_kind: str
    image_attrs: dict[str, Any] | None
    extra: dict[str, Any] = field(default_factory=dict)


def _gpus_absent(item: Item, ctx: Context) -> str | None:
    """The failure of an item under `when: {gpu: true}` whose GPUs were asked for and are not there.

    Why: "no GPU visible" is a skip on a CPU runner that never asked for one, but a false green on a GPU node:
    asked for (the run, a profile, the item's own pinned count) and absent is red.
    """
    from devbox_conformance.kinds import gpu  # noqa: PLC0415 - the kind modules import this module

    if item.when.gpu is not True or ctx.conditions.get("gpu"):
        return None
    if replace(item.when, gpu=None).unmet(ctx.conditions):
        return None  # another condition rules the item out: it skips for that reason
    asked = gpu.gpus_asked(item, ctx.conditions)
    seen = ctx.facts.get("gpu")
    why = seen.get("how") if isinstance(seen, dict) else None
    return gpu.absent_message(asked, why or "the probe saw no GPU") if asked else None


def verify(kind: str, item: Item, ctx: Context) -> Outcome:
    """Apply `when:`, run the kind's check, skip an absent optional item, add the manifest's why."""
    from devbox_conformance import kinds, manifest  # noqa: PLC0415 - both import the kind modules

    # Before `when:`: a gatherer that raised is red whatever the item's conditions (never a quiet skip).
    broken = probe_failure(kinds.get(kind), item, ctx.facts)
    if broken:
        return Outcome(
            "failed", f"{kind}[{item.key}] ({item.source})\nexpected: the probe's facts\nfound:    {broken}"
        )
    unmet = item.when.unmet(ctx.conditions)
    absent = _gpus_absent(item, ctx) if unmet else None
    if unmet and absent is None:
        return Outcome.skipped(unmet)
    outcome: Outcome = Outcome("failed", absent) if absent else kinds.get(kind).evaluate(item, ctx)
    if outcome.status != "failed":
        return outcome
    why = manifest.explain(ctx.facts.get("manifest"), kind, item)
    if item.optional and outcome.absent:
        reason = item.reason or "optional item"
        return Outcome.skipped(f"optional, absent: {reason}" + (f" ({why})" if why else ""))
    header = f"{kind}[{item.key}] ({item.source})"
    text = f"{header}\n{outcome.message}"
    if why:
        text += f"\nwhy:      {why}"
    return Outcome("failed", text, outcome.absent)
