"""Text helpers shared by the gatherers: bytes to text, output caps."""

OUTPUT_CAP = 4000
CONTENT_CAP = 65536


def text(data):
    """str from bytes (invalid UTF-8 replaced), "" for None."""
    if data is None:
        return ""
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    return data
