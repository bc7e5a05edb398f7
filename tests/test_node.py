"""The GPU node: one test per `node` item (driver, GPU count, ECC, remaps, Xid, slowdowns, links, MIG,
the container toolkit), read from nvidia-smi without GPU compute."""


def test_node(node_check, check):
    check("node", node_check)
