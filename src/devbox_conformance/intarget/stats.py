"""The one summary of repeated timings used in a target: median of group medians, with its spread.

Why one module: the CPU and GPU benchmark scripts report figures that are compared with each other and
with the same noise policy, so they must summarize samples the same way; both import this (and so does
anything else that times in a target). Stdlib only, Python >= 3.8, like the rest of the package.
"""

import statistics


def summarize(groups):
    """(median of group medians, relative IQR spread of the group medians, the group medians).

    A group's median absorbs its outliers (a page fault, a clock ramp), the median of those medians is the
    figure, and (q3 - q1) / figure over the group medians says how far one group may be from another; one
    group (or a zero figure) has no spread. Empty groups are ignored; no samples at all is a ValueError.

    >>> summarize([[1.0, 2.0, 3.0], [2.0, 2.0, 2.0], [3.0, 4.0, 3.0]])
    (2.0, 0.25, [2.0, 2.0, 3.0])
    >>> summarize([[0.5]])
    (0.5, 0.0, [0.5])
    """
    medians = [statistics.median(g) for g in groups if g]
    if not medians:
        raise ValueError("no samples")
    center = statistics.median(medians)
    if len(medians) >= 2 and center > 0:
        q1, _, q3 = statistics.quantiles(medians, n=4, method="inclusive")
        spread = (q3 - q1) / center
    else:
        spread = 0.0
    return center, spread, medians
