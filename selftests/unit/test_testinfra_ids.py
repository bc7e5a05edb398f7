"""testinfra's `host` ids for an --image run name the image, not the run's random container."""

from __future__ import annotations

from types import SimpleNamespace

from devbox_conformance import testinfra_ids


def _option(hosts: str) -> SimpleNamespace:
    return SimpleNamespace(
        hosts=hosts,
        connection=None,
        ssh_config=None,
        ssh_identity_file=None,
        sudo=False,
        sudo_user=None,
        ansible_inventory=None,
        force_ansible=False,
    )


def _testinfra_ids(option: SimpleNamespace) -> list[str]:
    """The ids testinfra's own pytest_generate_tests computes: the same call, the same cache entry."""
    return [h.backend.get_pytest_id() for h in testinfra_ids.hosts_of(option)]


def test_without_the_pin_the_id_is_the_random_container() -> None:
    # The input that made ids unstable: testinfra alone names the host after the container.
    option = _option("docker://devbox-conformance-0a1b2c3d4e5f")
    assert _testinfra_ids(option) == ["docker://devbox-conformance-0a1b2c3d4e5f"]


def test_pinned_id_is_the_image_in_every_run() -> None:
    seen = set()
    for run_id in ("111111111111", "222222222222"):
        spec = f"docker://devbox-conformance-{run_id}"
        option = _option(spec)
        testinfra_ids.pin(option, {spec: "docker://team/gpu-devbox:2026.12"})
        seen.update(_testinfra_ids(option))
    assert seen == {"docker://team/gpu-devbox:2026.12"}


def test_other_hosts_keep_their_ids() -> None:
    option = _option("docker://devbox-conformance-333333333333,docker://someone-elses")
    testinfra_ids.pin(option, {"docker://devbox-conformance-333333333333": "docker://img:1"})
    assert sorted(_testinfra_ids(option)) == ["docker://img:1", "docker://someone-elses"]


def test_no_hosts_bound_is_left_alone() -> None:
    testinfra_ids.pin(_option(""), {"x": "y"})  # nothing to pin, and no error
