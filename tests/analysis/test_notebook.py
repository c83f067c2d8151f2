"""notebooks/analysis.ipynb runs top to bottom on a real (tiny) training run."""

import pytest
from support import REPO

from lyricseg.training.task import train

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")


def test_analysis_notebook_executes(make_cfg, tmp_path, monkeypatch):
    train(make_cfg("trainer.max_epochs=2", "calibration=none", "test=false"))
    run_dir, out = tmp_path / "run", tmp_path / "report"
    monkeypatch.setenv("LYRICSEG_RUN_DIR", str(run_dir))
    monkeypatch.setenv("LYRICSEG_ANALYSIS_OUT", str(out))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(REPO / "notebooks" / "analysis.ipynb", as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=180,
        kernel_name="python3",
        resources={"metadata": {"path": str(REPO / "notebooks")}},
    )
    client.execute()
    errors = [
        o
        for c in notebook.cells
        if c.cell_type == "code"
        for o in c.outputs
        if o.output_type == "error"
    ]
    assert not errors
    assert (out / "comparison.md").is_file() and (out / "recommendations.md").is_file()
    assert (out / "loss_components" / "run.png").is_file()
    images = [
        o
        for c in notebook.cells
        if c.cell_type == "code"
        for o in c.outputs
        if "image/png" in o.get("data", {})
    ]
    assert len(images) >= 5
