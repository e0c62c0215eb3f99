"""The wheel's packages; everything else about the build is in pyproject.toml.

Only the library is installed (no top-level `space` or `datasets_cards`). The card templates' one source is the
repository's `datasets_cards/` folder; the wheel carries it as `toolbrain_hub/card_templates/`, where
`toolbrain_hub/hub/cards.py` looks first. pyproject.toml alone cannot add a renamed folder to the discovered packages.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["toolbrain_hub", "toolbrain_hub.*"]), "toolbrain_hub.card_templates"],
    package_dir={"toolbrain_hub.card_templates": "datasets_cards"},
    package_data={"toolbrain_hub.card_templates": ["*.md"]},
)
