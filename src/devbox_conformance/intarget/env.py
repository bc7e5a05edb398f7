"""env: the environment a process started in the target sees."""

import os


def gather(request, pool):
    return {"env": dict(os.environ)}
