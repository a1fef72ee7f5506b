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
from michigan.train._realism_monitor import _symmetric_sqrt


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


class _PerfectModule(GANModule):
    """Generates fresh draws from the very distribution of the toy's real cells."""

    def generate(self, code, noise, library=None):
        rates = torch.where(code > 0, 20.0, 1.0) * torch.ones(1, self.n_genes // 2)
        rates = torch.cat([rates, torch.where(code > 0, 1.0, 20.0) * torch.ones_like(rates)], 1)
        return self.normalize(torch.poisson(rates))


def _wide_toy(n_cells: int = 600) -> DataLoader:
    """The toy's two clusters over 60 genes."""
    generator = torch.Generator().manual_seed(1)
    cluster = torch.randint(0, 2, (n_cells,), generator=generator)
    high, low = [20.0] * 30, [1.0] * 30
    rates = torch.tensor([high + low, low + high])
    counts = torch.poisson(rates[cluster], generator=generator)
    tensors = {"X": counts, GAN_KEYS.CODE_LOC: cluster[:, None].float() * 2 - 1}
    dataset = TensorDictDataset(tensors, np.arange(n_cells))
    sampler = BatchSampler(RandomSampler(dataset, generator=generator), 32, drop_last=False)
    return DataLoader(dataset, sampler=sampler, batch_size=None)


def _frechet(real: torch.Tensor, generated: torch.Tensor) -> float:
    """The Fréchet distance of two sets of component scores."""
    real_cov, generated_cov = torch.cov(real.T), torch.cov(generated.T)
    root = _symmetric_sqrt(real_cov)
    cross = torch.linalg.eigvalsh(root @ generated_cov @ root).clamp_min(0).sqrt().sum()
    gap = real.mean(0) - generated.mean(0)
    return float(gap @ gap + torch.trace(real_cov + generated_cov) - 2 * cross)


def test_real_cells_are_not_scored_on_components_fitted_to_them():
    torch.manual_seed(0)
    module = _PerfectModule(60, 1, 4, generator_hidden=(8,), critic_hidden=(8,))
    monitor = RealismMonitor(n_cells=600, n_pcs=30)
    monitor.on_train_start(
        type("Trainer", (), {"train_dataloader": _wide_toy()})(), WGANTrainingPlan(module)
    )
    assert monitor._noise.shape[0] == 300  # half fit the components, half are scored
    unbiased = monitor.distance(module)
    # Scored on components fitted to the scored cells themselves, a perfect generator looks
    # far worse: those components follow the scored cells' own noise.
    tensors = _wide_toy().dataset.tensors
    real = module.normalize(tensors["X"][:300]).double()
    generated = module.generate(tensors[GAN_KEYS.CODE_LOC][:300], None).double()
    center = real.mean(0)
    components = torch.linalg.svd(real - center, full_matrices=False)[2][:30].T
    biased = _frechet((real - center) @ components, (generated - center) @ components)
    assert unbiased < 0.6 * biased
