"""Distro (dpkg) packages of the image's apt package sets: one test per `packages` item."""


def test_package(package, check):
    check("packages", package)
