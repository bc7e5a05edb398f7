"""Environment variables: one test per `env` item."""


def test_env(env_var, check):
    check("env", env_var)
