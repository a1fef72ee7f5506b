"""Training the β-TCVAE again, resuming it, and the faults training must name."""

from __future__ import annotations

import numpy as np
import pytest
import scvi
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint

import michigan as mg

from _helpers import clustered_counts

QUIET = {"enable_progress_bar": False}


def _model(n_cells=90, seed=0, **kwargs):
    adata = clustered_counts(n_cells=n_cells, n_genes=10)
    mg.TCVAE.setup_anndata(adata)
    scvi.settings.seed = seed
    return mg.TCVAE(adata, n_latent=2, n_hidden=(16,), **kwargs)


class _RecordModes(Callback):
    """Records whether every sub-module is in training mode at each training step."""

    def __init__(self):
        self.modes = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.modes.append(all(m.training for m in pl_module.module.modules()))


class _StopAfter(Callback):
    """Stops training after ``n_epochs`` epochs, as an interruption would."""

    def __init__(self, n_epochs):
        self.n_epochs = n_epochs

    def on_train_epoch_end(self, trainer, pl_module):
        if trainer.current_epoch + 1 >= self.n_epochs:
            trainer.should_stop = True


def test_a_second_train_call_trains_in_training_mode():
    model = _model()
    model.train(max_epochs=1, batch_size=32, **QUIET)
    running_mean = model.module.encoder[1].running_mean.clone()
    record = _RecordModes()
    model.train(max_epochs=1, batch_size=32, callbacks=[record], **QUIET)
    assert record.modes and all(record.modes)
    assert not torch.equal(model.module.encoder[1].running_mean, running_mean)


def test_resuming_from_a_checkpoint_equals_the_uninterrupted_run(tmp_path):
    kwargs = {"max_epochs": 4, "batch_size": 32, "n_epochs_kl_warmup": 2, **QUIET}
    uninterrupted = _model()
    uninterrupted.train(**kwargs)

    interrupted = _model()
    checkpoint = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    interrupted.train(**kwargs, callbacks=[checkpoint, _StopAfter(2)])
    assert (tmp_path / "last.ckpt").exists()
    resumed = _model()
    resumed.train(**kwargs, ckpt_path=str(tmp_path / "last.ckpt"))

    expected = uninterrupted.module.state_dict()
    differing = [
        k for k, v in resumed.module.state_dict().items() if not torch.equal(v, expected[k])
    ]
    assert differing == []
    assert not torch.equal(
        interrupted.module.state_dict()["z_mean.weight"], expected["z_mean.weight"]
    )


def test_a_nan_loss_names_the_stage_and_the_likely_causes():
    model = _model()
    with pytest.raises(FloatingPointError, match=r"β-TCVAE.*NaN or infinite.*epoch.*lr"):
        model.train(max_epochs=3, batch_size=32, lr=1e3, **QUIET)


@pytest.mark.parametrize(
    ("n_cells", "train_kwargs", "message"),
    [
        (10, {"train_size": 0.2}, r"2 training cells.*train_size=0.2.*10 cells.*at least 3"),
        (1, {}, r"1 training cell.*1 cell.*at least 3"),
        (20, {"batch_size": 1}, r"batch_size=1 is too small.*at least 3"),
        (20, {"train_size": 0.0}, r"train_size must lie in \(0, 1\], got 0.0"),
        (20, {"validation_size": 1.0}, r"validation_size must lie in \[0, 1\), got 1.0"),
        (20, {"train_size": 0.8, "validation_size": 0.5}, r"train_size \+ validation_size"),
    ],
    ids=["train_size=0.2", "one cell", "batch_size=1", "train_size=0", "val=1", "sum>1"],
)
def test_too_little_data_is_an_error_before_training(n_cells, train_kwargs, message):
    model = _model(n_cells=n_cells, tc_estimator="mws")
    with pytest.raises(ValueError, match=message):
        model.train(max_epochs=1, **{"batch_size": 32, **train_kwargs, **QUIET})
    assert not model.is_trained


def test_hidden_widths_must_be_positive_integers():
    adata = clustered_counts(n_cells=20, n_genes=10)
    mg.TCVAE.setup_anndata(adata)
    with pytest.raises(ValueError, match=r"n_hidden must be a non-empty sequence.*\(0,\)"):
        mg.TCVAE(adata, n_hidden=(0,))
    with pytest.raises(ValueError, match="n_hidden must be a non-empty sequence"):
        mg.TCVAE(adata, n_hidden=())


def test_decoding_nan_codes_is_an_error():
    model = _model()
    model.train(max_epochs=1, batch_size=32, **QUIET)
    codes = np.zeros((3, 2))
    codes[1, 0] = np.nan
    with pytest.raises(ValueError, match=r"codes hold NaN or infinite values \(row 1\)"):
        model.decode(codes)


def _first_step_over_lr(**train_kwargs) -> float:
    """Smallest first Adam step of the encoder head's weights, in units of the learning rate."""
    model = _model(n_cells=64)
    before = model.module.z_mean.weight.detach().clone()
    lr = 1e-3
    model.train(max_epochs=1, batch_size=64, train_size=1.0, lr=lr, **train_kwargs, **QUIET)
    step = (model.module.z_mean.weight.detach() - before).abs()
    return float(step.min() / lr)


def test_adam_takes_full_steps_on_small_gradients():
    # Adam's first step is lr·g/(|g| + eps): with eps = 1e-8 every weight moves by the
    # learning rate; scvi-tools' eps = 0.01 shrinks the steps of weights whose gradients are
    # small, which made the seed decide whether the Splatter step got a latent of its own
    assert _first_step_over_lr() == pytest.approx(1.0, abs=0.01)
    assert _first_step_over_lr(plan_kwargs={"eps": 0.01}) < 0.5


@pytest.mark.parametrize(
    ("n_cells", "epochs"),
    [(100_000, 100), (10_000, 100), (5_000, 200), (2_000, 500), (500, 1000), (1, 1000)],
)
def test_default_epochs_read_a_million_cells_within_100_to_1000(n_cells, epochs):
    assert mg.model.default_max_epochs(n_cells) == epochs


def test_train_without_max_epochs_takes_the_default_for_the_number_of_cells(monkeypatch):
    # fewer cells make fewer optimizer steps per epoch, so the default epochs grow as the
    # cells shrink; a budget of 300 cells read gives 90 cells 3 epochs
    monkeypatch.setattr(mg.model._tcvae, "DEFAULT_CELLS_READ", 300)
    monkeypatch.setattr(mg.model._tcvae, "DEFAULT_MIN_EPOCHS", 1)
    model = _model(n_cells=90)
    model.train(batch_size=32, train_size=1.0, **QUIET)
    assert len(model.history["elbo_train"]) == 3
