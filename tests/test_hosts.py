"""Each host of a run of several: reached and probed. An unreachable host fails here, once; its items are
not generated (or, when its probe failed later, skip saying so), so its failure is one line at any size."""


def test_host(devbox_host_name, host_reached):
    host_reached()
