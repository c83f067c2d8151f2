"""The console commands' module: packaged config, light imports, root scripts on conf/."""

import subprocess
import sys

from support import REPO

from lyricseg.utils.config import PACKAGED_CONFIG


def test_packaged_config_is_the_top_level_conf_in_a_checkout():
    assert PACKAGED_CONFIG.is_dir()
    assert (PACKAGED_CONFIG / "train.yaml").read_bytes() == (
        REPO / "conf" / "train.yaml"
    ).read_bytes()
    assert PACKAGED_CONFIG.resolve() == (REPO / "conf").resolve()


def test_commands_load_no_training_code_until_called():
    code = (
        "import sys, lyricseg.commands.train, lyricseg.commands.predict, lyricseg.commands.serve,"
        " lyricseg.commands.analyze;"
        "print([m for m in sys.argv[1:] if m in sys.modules])"
    )
    heavy = ["lightning", "torch", "torchmetrics", "sklearn", "joblib", "tensorboard"]
    out = subprocess.run(
        [sys.executable, "-c", code, *heavy], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_help_names_the_task_and_lists_the_packaged_groups(tmp_path):
    """From a folder without conf/, ``--help`` composes the packaged config.

    (Prediction's help shows its own options: tests/packaging/test_cli_behaviour.py.)
    """
    for script, name in ((REPO / "train.py", "train"), (None, "train")):
        if script is None:
            code = f"from lyricseg.commands.{name} import main; main()"
            cmd = [sys.executable, "-c", code, "--help"]
        else:
            cmd = [sys.executable, str(script), "--help"]
        out = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith(f"{name} is powered by Hydra")
        assert "paths: default" in out.stdout
