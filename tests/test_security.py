"""Security checks (world-writable entries, setuid/setgid files, secrets): one test per `security` item."""


def test_security(security_check, check):
    check("security", security_check)
