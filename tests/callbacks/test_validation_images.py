from types import SimpleNamespace

import numpy as np
import pytest
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from matplotlib.figure import Figure
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from lyricseg.callbacks.validation_images import ValidationImages

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


@pytest.fixture
def recording_logger(tmp_path):
    logger = TensorBoardLogger(save_dir=str(tmp_path))
    logger._experiment = RecordingWriter()
    return logger


def test_logs_three_figures_when_due(recording_logger):
    module = SimpleNamespace(val_songs=make_songs())
    ValidationImages(every_n_epochs=5, n_songs=3).on_validation_epoch_end(
        fake_trainer([recording_logger], epoch=10), module
    )
    calls = recording_logger.experiment.calls
    assert {c[0] for c in calls} == TAGS
    assert all(isinstance(c[1], Figure) and c[2] == 42 for c in calls)
    strips = next(c[1] for c in calls if c[0] == "val/label_strips")
    assert len(strips.axes) == 3


@pytest.mark.parametrize(
    "kwargs",
    [{"epoch": 3}, {"sanity": True}, {"rank_zero": False}],
    ids=["not-due", "sanity-check", "not-rank-zero"],
)
def test_skips(recording_logger, kwargs):
    module = SimpleNamespace(val_songs=make_songs())
    ValidationImages(every_n_epochs=5).on_validation_epoch_end(
        fake_trainer([recording_logger], **kwargs), module
    )
    assert recording_logger.experiment.calls == []


def test_skips_without_tensorboard_or_songs(tmp_path, recording_logger):
    callback = ValidationImages(every_n_epochs=1)
    callback.on_validation_epoch_end(
        fake_trainer([CSVLogger(str(tmp_path))]), SimpleNamespace(val_songs=make_songs())
    )
    callback.on_validation_epoch_end(fake_trainer([]), SimpleNamespace(val_songs=make_songs()))
    callback.on_validation_epoch_end(fake_trainer([recording_logger]), SimpleNamespace())
    callback.on_validation_epoch_end(
        fake_trainer([recording_logger]), SimpleNamespace(val_songs=[])
    )
    assert recording_logger.experiment.calls == []


def test_real_summary_writer_event_file(tmp_path):
    logger = TensorBoardLogger(save_dir=str(tmp_path), name="tb", version=0)
    module = SimpleNamespace(val_songs=make_songs(seed=1))
    ValidationImages(every_n_epochs=1, n_songs=2).on_validation_epoch_end(
        fake_trainer([logger]), module
    )
    logger.experiment.flush()
    acc = EventAccumulator(logger.log_dir, size_guidance={"images": 0})
    acc.Reload()
    assert set(acc.Tags()["images"]) >= TAGS
    image = acc.Images("val/label_strips")[0]
    assert image.step == 42 and image.width > 100 and image.height > 50
    logger.experiment.close()


def test_runs_inside_a_real_trainer(tmp_path):
    import torch
    from lightning.pytorch import LightningModule, Trainer

    class Tiny(LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(1, 2)
            self.val_songs = []

        def training_step(self, batch, batch_idx):
            return self.layer(batch[0]).sum()

        def on_validation_epoch_start(self):
            self.val_songs = []

        def validation_step(self, batch, batch_idx):
            probs = torch.softmax(self.layer(batch[0]), -1)[:, 1].detach().numpy()
            target = np.array([0, 0, 1, 1])
            self.val_songs.append(
                {"id": str(batch_idx), "probs": probs, "preds": (probs > 0.5) * 1, "target": target}
            )

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(8, 1)), 4)
    logger = TensorBoardLogger(save_dir=str(tmp_path), name="tb", version=0)
    trainer = Trainer(
        max_epochs=2,
        logger=logger,
        callbacks=[ValidationImages(every_n_epochs=2)],
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
