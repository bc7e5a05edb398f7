"""Text helpers shared by the gatherers: bytes to text, output caps."""

import codecs

OUTPUT_CAP = 4000
# What a command's stream or a file's content keeps by default when its item sets no limit (`max_output`,
# `max_content`): the check judges only what was kept, and fails an item whose matcher did not see it all.
KEEP_DEFAULT = 1 << 20


def text(data):
    """str from bytes (invalid UTF-8 replaced), "" for None."""
    if data is None:
        return ""
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    return data


def text_prefix(data, cut):
    """str from the first bytes of a longer whole (`cut`): a character split by the cut is left out, not
    turned into a replacement character the whole does not hold."""
    if not cut:
        return text(bytes(data))
    return codecs.getincrementaldecoder("utf-8")("replace").decode(bytes(data), final=False)
