"""Root conftest: the conformance suite is a pytest plugin; everything lives in devbox_conformance.plugin."""

pytest_plugins = ["devbox_conformance.plugin"]
