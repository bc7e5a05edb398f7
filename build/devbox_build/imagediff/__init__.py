"""What changed between two images: facts of each (one probe, no layer extraction), their diff, and views.

The pieces, in the order data flows through them:

    facts.gather_pair(engine, "gpu-devbox:2026.11", "gpu-devbox:2026.12", ...)  # ImageFacts of each
    compare.diff(old, new)                                                       # -> ImageDiff
    render.text(d) / render.markdown(d) / render.as_json(d)                       # the three views
    gate.regressions(d, allow) ; snapshot.overlay(facts, model)                   # release gate, pins

`debversion` orders Debian package versions the way dpkg does; Python versions use `packaging`.
"""
