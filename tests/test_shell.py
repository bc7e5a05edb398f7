"""Shell behaviour (bash/zsh, login/interactive): one test per `shells` item."""


def test_shell(shell, check):
    check("shells", shell)
