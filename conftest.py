"""Root conftest: the conformance suite is a pytest plugin (devbox_conformance.plugin), loaded through its
pytest11 entry point once the project is installed (tools/host-setup.sh installs it into .venv). Nothing is
declared here: the contract's tests are also collected from outside this checkout, where a conftest that
names plugins is refused."""
