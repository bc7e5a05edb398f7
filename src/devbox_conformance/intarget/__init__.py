"""The probe's in-target package: stdlib only, Python >= 3.8, run by the target's own python3.

`devbox_conformance.probe` ships every module of this package in ONE exec (a dict of sources and a small
importer, nothing written to the target's disk); `main.main` reads the request and runs one gatherer
module per kind that has one. Modules import each other relatively, so the package works under any name.
"""
