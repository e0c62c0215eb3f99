"""The built wheel carries what an installed package needs at run time (not only what the repo has)."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_ships_card_templates_app_and_console_script(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(tmp_path), str(ROOT)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("toolbrain_hub-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ["datasets_cards/dataset_card.md", "datasets_cards/model_card.md", "toolbrain_hub/cards.py",
                   "toolbrain_hub/training/grpo.py", "space/app.py"]:
        assert needed in names, needed
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "toolbrain-hub = toolbrain_hub.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
