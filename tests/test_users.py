"""Users and groups: one test per `users` / `groups` item."""


def test_user(user, check):
    check("users", user)


def test_group(group, check):
    check("groups", group)
