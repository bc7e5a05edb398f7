"""One report for a whole fleet: every node's results JSON (one file per node, written by the suite with
`--results-json DIR/<node>.json`, e.g. from a Slurm job step on every node) brought together.

    rows = summary.summarize(collect.read_dir(Path("results/")), expected=hostlist.expand("gpu[001-512]"))
    print(render.text(rows))

A node is green only when its file says so: a missing file, an unreadable one, a run that executed nothing
or a figure far below the fleet's median is red.
"""
