from __future__ import annotations

import warnings

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from torch.utils.data import BatchSampler, DataLoader, RandomSampler

from michigan.data import TensorDictDataset
from michigan.module import GAN_KEYS, GANModule
from michigan.train import RealismMonitor, WGANTrainingPlan


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _toy(n_cells: int = 400, seed: int = 0) -> DataLoader:
    """Two clusters of counts over 12 genes; the code says which cluster."""
    generator = torch.Generator().manual_seed(seed)
    cluster = torch.randint(0, 2, (n_cells,), generator=generator)
    rates = torch.tensor([[20.0] * 6 + [1.0] * 6, [1.0] * 6 + [20.0] * 6])
    counts = torch.poisson(rates[cluster], generator=generator)
    tensors = {"X": counts, GAN_KEYS.CODE_LOC: cluster[:, None].float() * 2 - 1}
    dataset = TensorDictDataset(tensors, np.arange(n_cells))
    sampler = BatchSampler(RandomSampler(dataset, generator=generator), 32, drop_last=False)
    return DataLoader(dataset, sampler=sampler, batch_size=None)


def _fit(plan, loader, monitor, max_epochs):
    trainer = pl.Trainer(
        max_epochs=max_epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[monitor],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(plan, train_dataloaders=loader)
    return trainer


def _module() -> GANModule:
    torch.manual_seed(0)
    return GANModule(12, 1, 4, generator_hidden=(32, 32), critic_hidden=(32, 32), dropout_rate=0.0)


def test_monitored_distance_falls_during_training():
    monitor = RealismMonitor(every_n_steps=20, n_cells=400, n_pcs=5)
    plan = WGANTrainingPlan(_module(), n_critic=2, lr_generator=1e-3, lr_critic=2e-3)
    trainer = _fit(plan, _toy(), monitor, max_epochs=30)  # 13 batches: 6-7 G steps an epoch
    values = [value for _, value in monitor.distances]
    assert len(values) >= 8
    assert np.mean(values[-3:]) < 0.5 * values[0]
    assert monitor.best_distance == min(values)
    assert "frechet_distance" in trainer.callback_metrics
    assert monitor.seconds > 0


def test_monitor_restores_the_best_generator():
    monitor = RealismMonitor(every_n_steps=20, n_cells=400, n_pcs=5)
    module = _module()
    plan = WGANTrainingPlan(module, n_critic=2, lr_generator=1e-3, lr_critic=2e-3)
    _fit(plan, _toy(), monitor, max_epochs=12)
    # the weights the model samples with are those of the best evaluation
    assert monitor.distance(module) == pytest.approx(monitor.best_distance, rel=1e-6)


def test_monitor_stops_training_after_patience_evaluations_without_a_new_best():
    monitor = RealismMonitor(every_n_steps=1, n_cells=64, n_pcs=3, patience=2)
    module = _module()
    plan = WGANTrainingPlan(module, n_critic=2, lr_generator=1e-12, lr_critic=1e-12)
    _fit(plan, _toy(), monitor, max_epochs=50)  # nothing learns: the best stays the first
    assert len(monitor.distances) < 50
    assert monitor.best_step == monitor.distances[0][0]


def test_monitor_rejects_bad_settings():
    with pytest.raises(ValueError, match="every_n_steps"):
        RealismMonitor(every_n_steps=0)
    with pytest.raises(ValueError, match="patience"):
        RealismMonitor(patience=0)
