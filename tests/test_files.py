"""Files and directories: one test per `files` item."""


def test_file(file, check):
    check("files", file)
