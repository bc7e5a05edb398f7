"""Image labels: one test per `labels` item."""


def test_label(label, check):
    check("labels", label)
