"""The README's Optuna sweep runs as written: trials per batch follow the launcher's parallelism."""

import os
import re

import joblib
import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from support import REPO, TINY_MODEL, run_script, tmp_paths

from lyricseg.commands.resolvers import launcher_parallelism

pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="needs the sweeps extra")
pytest.importorskip("hydra_plugins.hydra_joblib_launcher", reason="needs the sweeps extra")


SEARCHES = sorted(p.stem for p in (REPO / "conf" / "hparams_search").glob("*.yaml"))
ABSENT = object()


def compose_train(*overrides: str):
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides), return_hydra_config=True)


def sweeper_batch(*overrides: str) -> int:
    """``hydra.sweeper.n_jobs`` (the sweeper's trials per batch) as the sweep would read it."""
    return compose_train("hparams_search=optuna", *overrides).hydra.sweeper.n_jobs


@pytest.mark.parametrize("search", SEARCHES)
def test_searched_keys_exist_for_every_searched_choice(search):
    """A renamed config key fails here, not in the middle of a sweep."""
    params = compose_train(f"hparams_search={search}").hydra.sweeper.params
    groups = {k: v for k, v in params.items() if (REPO / "conf" / k).is_dir()}
    values = [k for k in params if k not in groups]
    assert values
    variants = [[]]
    for group, space in groups.items():
        (choices,) = re.fullmatch(r"choice\((.*)\)", space).groups()
        variants += [[f"{group}={c.strip()}"] for c in choices.split(",")]
    for variant in variants:
        cfg = compose_train(f"hparams_search={search}", *variant)
        missing = [k for k in values if OmegaConf.select(cfg, k, default=ABSENT) is ABSENT]
        assert not missing, f"{search} {variant}: no such key {missing}"


@pytest.mark.parametrize(
    ("n_jobs", "expected"),
    [
        (-1, joblib.cpu_count()),
        (-2, max(joblib.cpu_count() - 1, 1)),
        (-1000, 1),
        (None, 1),
        (1, 1),
        (3, 3),
    ],
)
def test_joblib_parallelism_as_joblib_counts_it(n_jobs, expected):
    assert launcher_parallelism(OmegaConf.create({"n_jobs": n_jobs})) == expected


def test_joblib_count_is_the_machine_cpu_count():
    """On a machine whose CPUs are all available, -1 means os.cpu_count() trials at once."""
    if len(os.sched_getaffinity(0)) != os.cpu_count():
        pytest.skip("CPU affinity restricts this process")
    assert launcher_parallelism(OmegaConf.create({"n_jobs": -1})) == os.cpu_count()


def test_launchers_without_n_jobs():
    assert launcher_parallelism(OmegaConf.create({"array_parallelism": 8})) == 8
    assert launcher_parallelism(OmegaConf.create({"_target_": "BasicLauncher"})) == 1
    assert launcher_parallelism(None) == 1


def test_sweeper_batch_follows_the_launcher():
    assert sweeper_batch() == 1  # basic launcher: one job at a time
    assert sweeper_batch("hydra/launcher=joblib") == joblib.cpu_count()  # n_jobs=-1
    assert sweeper_batch("hydra/launcher=joblib", "hydra.launcher.n_jobs=3") == 3
    assert sweeper_batch("hydra/launcher=parallel") == 2
    assert sweeper_batch("hydra/launcher=parallel", "hydra.launcher.n_jobs=-1") == (
        joblib.cpu_count()
    )


def test_slurm_batch_is_its_array_parallelism():
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="needs the cluster extra")
    assert sweeper_batch("hydra/launcher=slurm", "hydra.launcher.array_parallelism=5") == 5


def test_readme_joblib_sweep(tmp_path):
    """README: ``python train.py -m hparams_search=optuna hydra/launcher=joblib ...``, shrunk."""
    paths = [p for p in tmp_paths(tmp_path) if not p.startswith("paths.output_dir=")]
    result = run_script(
        "train.py",
        "-m",
        "hparams_search=optuna",
        "hydra/launcher=joblib",  # joblib's own default: n_jobs=-1
        "hydra.sweeper.n_trials=2",
        "data=tiny",
        *TINY_MODEL,
        "trainer.max_epochs=1",
        *paths,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep,) = (tmp_path / "logs/train/multiruns").iterdir()
    results = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert results["name"] == "optuna"
    assert 0.0 <= results["best_value"] <= 1.0
    assert set(results["best_params"]) >= {"optimizer.lr", "model", "loss"}
    for trial in ("0", "1"):
        summary = sweep / trial / "summary.json"
        assert summary.is_file(), f"trial {trial} did not finish"
        overrides = yaml.safe_load((sweep / trial / ".hydra/overrides.yaml").read_text())
        assert "model.net.hidden_size=16" in overrides
    assert not (sweep / "2").exists()
