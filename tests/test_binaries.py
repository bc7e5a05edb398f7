"""Commands on PATH, with version constraints: one test per `binaries` item."""


def test_binary(binary, check):
    check("binaries", binary)
