"""Python distributions: installed, minimum version, importable; one test per `python_dists` item."""


def test_python_dist(python_dist, check):
    check("python_dists", python_dist)
