from types import SimpleNamespace

import numpy as np
import pytest
import torch
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from matplotlib.figure import Figure
from support import RESOURCES
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from lyricseg.training.callbacks.validation_images import ValidationImages

TAGS = {"val/reliability_diagram", "val/confusion_matrix", "val/label_strips"}


class RecordingWriter:
    def __init__(self):
        self.calls = []

    def add_figure(self, tag, figure, global_step=None):
        self.calls.append((tag, figure, global_step))


def make_songs(n=6, seed=0):
    rng = np.random.default_rng(seed)
    songs = []
    for i in range(n):
        length = int(rng.integers(1, 30))
        target = (np.arange(length) // 4) % 2
        probs = np.clip(target * 0.7 + rng.random(length) * 0.3, 0, 1)
        songs.append(
            {
                "id": f"song-{i}",
                "probs": probs,
                "preds": (probs > 0.5).astype(int),
                "target": target,
            }
        )
    return songs


def fake_trainer(loggers, epoch=0, sanity=False, rank_zero=True):
    return SimpleNamespace(
        loggers=loggers,
        logger=loggers[0] if loggers else None,
        current_epoch=epoch,
        global_step=42,
        sanity_checking=sanity,
        is_global_zero=rank_zero,
    )


def batch_outputs(songs):
    """What LyricsTagger.validation_step returns for a batch of these songs (padded)."""
    width = max(len(s["target"]) for s in songs) + 2
    b = len(songs)
    out = {
        "ids": [s["id"] for s in songs],
        "probs": torch.rand(b, width),  # padding holds junk that must not be collected
        "preds": torch.randint(0, 2, (b, width)),
        "target": torch.randint(0, 2, (b, width)),
        "mask": torch.zeros(b, width, dtype=torch.bool),
    }
    for i, song in enumerate(songs):
        n = len(song["target"])
        out["probs"][i, :n] = torch.as_tensor(song["probs"], dtype=torch.float32)
        out["preds"][i, :n] = torch.as_tensor(song["preds"])
        out["target"][i, :n] = torch.as_tensor(song["target"])
        out["mask"][i, :n] = True
    return out


def run_epoch(callback, trainer, songs, batch_size=4, dataloader_idx=0, module=None):
    """Drive the callback through one validation epoch of fake batch outputs."""
    callback.on_validation_epoch_start(trainer, module)
    for start in range(0, len(songs), batch_size):
        outputs = batch_outputs(songs[start : start + batch_size])
        callback.on_validation_batch_end(
            trainer, module, outputs, None, start // batch_size, dataloader_idx
        )
    callback.on_validation_epoch_end(trainer, module)


@pytest.fixture
def recording_logger(tmp_path):
    logger = TensorBoardLogger(save_dir=str(tmp_path))
    logger._experiment = RecordingWriter()
    return logger


def test_collects_real_lines_and_logs_three_figures_when_due(recording_logger):
    songs = make_songs(9)
    callback = ValidationImages(every_n_epochs=5, n_songs=3)
    run_epoch(callback, fake_trainer([recording_logger], epoch=10), songs)
    assert [s["id"] for s in callback.songs] == [s["id"] for s in songs]
    for got, want in zip(callback.songs, songs, strict=True):
        np.testing.assert_allclose(got["probs"], want["probs"], rtol=1e-6)
        np.testing.assert_array_equal(got["preds"], want["preds"])
        np.testing.assert_array_equal(got["target"], want["target"])
    calls = recording_logger.experiment.calls
    assert {c[0] for c in calls} == TAGS
    assert all(isinstance(c[1], Figure) and c[2] == 42 for c in calls)
    strips = next(c[1] for c in calls if c[0] == "val/label_strips")
    titles = [ax.get_title() for ax in strips.axes]
    assert [t.split()[0] for t in titles] == ["song-0", "song-1", "song-2"]
    assert f"({len(songs[1]['target'])} lines" in titles[1]


@pytest.mark.parametrize(
    "kwargs",
    [{"epoch": 3}, {"sanity": True}, {"rank_zero": False}],
    ids=["not-due", "sanity-check", "not-rank-zero"],
)
def test_collects_nothing_and_skips(recording_logger, kwargs):
    callback = ValidationImages(every_n_epochs=5)
    run_epoch(callback, fake_trainer([recording_logger], **kwargs), make_songs())
    assert callback.songs == []
    assert recording_logger.experiment.calls == []


def test_skips_without_tensorboard_songs_or_first_dataloader(tmp_path, recording_logger):
    callback = ValidationImages(every_n_epochs=1)
    run_epoch(callback, fake_trainer([CSVLogger(str(tmp_path))]), make_songs())
    assert callback.songs == []
    run_epoch(callback, fake_trainer([]), make_songs())
    run_epoch(callback, fake_trainer([recording_logger]), [])
    run_epoch(callback, fake_trainer([recording_logger]), make_songs(), dataloader_idx=1)
    assert callback.songs == []
    assert recording_logger.experiment.calls == []


def test_each_epoch_starts_a_new_collection(recording_logger):
    callback = ValidationImages(every_n_epochs=1)
    run_epoch(callback, fake_trainer([recording_logger], epoch=0), make_songs(5, seed=1))
    run_epoch(callback, fake_trainer([recording_logger], epoch=1), make_songs(3, seed=2))
    assert len(callback.songs) == 3


def test_outputs_without_the_arrays_warn_once(recording_logger, caplog):
    callback = ValidationImages(every_n_epochs=1)
    trainer = fake_trainer([recording_logger])
    with caplog.at_level("WARNING"):
        for _ in range(2):
            callback.on_validation_epoch_start(trainer, None)
            callback.on_validation_batch_end(trainer, None, None, None, 0)
            callback.on_validation_batch_end(trainer, None, {"ids": ["a"]}, None, 1)
            callback.on_validation_epoch_end(trainer, None)
    assert len([r for r in caplog.records if "ValidationImages" in r.getMessage()]) == 1
    assert recording_logger.experiment.calls == []


def test_real_summary_writer_event_file(tmp_path):
    logger = TensorBoardLogger(save_dir=str(tmp_path), name="tb", version=0)
    run_epoch(ValidationImages(every_n_epochs=1, n_songs=2), fake_trainer([logger]), make_songs())
    logger.experiment.flush()
    acc = EventAccumulator(logger.log_dir, size_guidance={"images": 0})
    acc.Reload()
    assert set(acc.Tags()["images"]) >= TAGS
    image = acc.Images("val/label_strips")[0]
    assert image.step == 42 and image.width > 100 and image.height > 50
    logger.experiment.close()


def test_runs_inside_a_real_trainer(tmp_path):
    from lightning.pytorch import LightningModule, Trainer

    class Tiny(LightningModule):
        """Returns validation outputs like LyricsTagger.validation_step; keeps no songs."""

        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(1, 2)

        def training_step(self, batch, batch_idx):
            return self.layer(batch[0]).sum()

        def validation_step(self, batch, batch_idx):
            probs = torch.softmax(self.layer(batch[0]), -1)[:, 1].reshape(1, -1)
            return {
                "ids": [str(batch_idx)],
                "probs": probs,
                "preds": (probs > 0.5).long(),
                "target": torch.tensor([[0, 0, 1, 1]]),
                "mask": torch.ones(1, 4, dtype=torch.bool),
            }

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(8, 1)), 4)
    logger = TensorBoardLogger(save_dir=str(tmp_path), name="tb", version=0)
    callback = ValidationImages(every_n_epochs=2)
    trainer = Trainer(
        max_epochs=2,
        logger=logger,
        callbacks=[callback],
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        accelerator="cpu",
        log_every_n_steps=1,
    )
    trainer.fit(Tiny(), data, data)
    acc = EventAccumulator(logger.log_dir, size_guidance={"images": 0})
    acc.Reload()
    assert set(acc.Tags()["images"]) >= TAGS
    # epoch 0 only (every 2 epochs), not the sanity check
    assert len(acc.Images("val/confusion_matrix")) == 1
    # epoch 1 was not drawn, so nothing was collected then
    assert callback.songs == []


def test_draws_from_the_tagger_in_a_full_training_run(make_cfg):
    from lyricseg.training.task import train

    cfg = make_cfg(
        "trainer.max_epochs=1",
        "calibration=none",
        "test=false",
        "callbacks.validation_images.every_n_epochs=1",
        "callbacks.validation_images.n_songs=2",
        f"data.extra_dirs=[{RESOURCES / 'tiny_sections'}]",
        "model.net.sections=true",
    )
    _, objects = train(cfg)
    callback = next(c for c in objects["trainer"].callbacks if isinstance(c, ValidationImages))
    n_val = len(objects["datamodule"].main_val_dataloader().dataset)  # the first val set
    assert len(callback.songs) == n_val
    assert all(len(s["probs"]) == len(s["target"]) > 0 for s in callback.songs)
    logger = next(lg for lg in objects["trainer"].loggers if isinstance(lg, TensorBoardLogger))
    acc = EventAccumulator(logger.log_dir, size_guidance={"images": 0})
    acc.Reload()
    assert set(acc.Tags()["images"]) >= TAGS | {"val_tiny_sections/section_confusion_matrix"}


def test_section_confusion_matrix_per_val_set_with_sections(recording_logger):
    """Each val set whose songs carry sections gets its class confusion matrix, hand-checked."""
    from lyricseg.metrics.sections import build_section_metric_collection
    from lyricseg.sections import default_section_map
    from lyricseg.training.callbacks.validation_images import matrix_figure

    SECTION_CLASSES = default_section_map().classes

    verse, chorus, bridge = (SECTION_CLASSES.index(c) for c in ("verse", "chorus", "bridge"))
    gold = torch.tensor([[verse, verse, chorus, chorus, bridge]])
    pred = torch.tensor([[verse, chorus, chorus, chorus, chorus]])
    starts = torch.tensor([[1, 0, 1, 0, 1]])
    mask = torch.ones(1, 5, dtype=torch.bool)
    metrics = {
        name: build_section_metric_collection(f"{name}/", classes=SECTION_CLASSES)
        for name in ("val", "val_x")
    }
    metrics["val_x"].update(
        pred_class=pred, target_class=gold, pred_start=starts, target_start=starts, mask=mask
    )
    module = SimpleNamespace(section_metrics=metrics)
    callback = ValidationImages(every_n_epochs=1)
    run_epoch(callback, fake_trainer([recording_logger]), make_songs(3), module=module)
    calls = {c[0]: c[1] for c in recording_logger.experiment.calls}
    assert set(calls) == TAGS | {"val_x/section_confusion_matrix"}  # "val" has no sections
    texts = [t.get_text() for t in calls["val_x/section_confusion_matrix"].axes[0].texts]
    c = len(SECTION_CLASSES)
    assert texts[verse * c + verse] == "1\n0.50" and texts[verse * c + chorus] == "1\n0.50"
    assert texts[chorus * c + chorus] == "2\n1.00" and texts[bridge * c + chorus] == "1\n1.00"
    assert texts[0] == "0\n0.00"  # a gold class without lines: an empty row, no error
    assert isinstance(matrix_figure(np.zeros((8, 8)), SECTION_CLASSES), Figure)
    # not due: the metric is not even read
    recording_logger.experiment.calls.clear()
    run_epoch(ValidationImages(every_n_epochs=2), fake_trainer([recording_logger], epoch=1),
              make_songs(3), module=module)  # fmt: skip
    assert recording_logger.experiment.calls == []
