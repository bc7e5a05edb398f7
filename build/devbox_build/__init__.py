"""gpu-devbox build harness: one CLI (`./devbox <command>`) for building, checking and publishing the image.

Example:
    ./devbox build --standin          # gpu-devbox:local on the Debian stand-in base
"""
