"""Commands a team writes itself (exit code, output): one test per `commands` item."""


def test_command(command, check):
    check("commands", command)
