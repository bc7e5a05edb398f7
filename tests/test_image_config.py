"""Image config (CMD, WORKDIR, HEALTHCHECK reaching healthy): one test per `image_config` item."""


def test_image_config(image_config, check):
    check("image_config", image_config)
