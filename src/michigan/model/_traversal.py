"""Latent traversals: cells generated along one axis of a model's codes."""

from __future__ import annotations

import numpy as np
from anndata import AnnData

from .._validation import check_positive_int


class TraversalMixin:
    """``traverse`` for a GAN model conditioned on the codes of its training cells.

    The model provides ``_training_codes()`` (the training cells' codes and posterior SDs),
    ``adata``, ``_resolve_seed``, ``_generate_expression`` and ``_cells``
    (:class:`~michigan.model._generation.GenerationMixin`).
    """

    def traverse(
        self,
        cell: int | str,
        dim: int,
        n_steps: int = 10,
        quantiles: tuple[float, float] = (0.05, 0.95),
        n_samples_per_step: int = 1,
        seed: int | None = None,
        batch_size: int = 1024,
    ) -> AnnData:
        """Cells along one latent axis: a latent traversal.

        Starts from a training cell's code (its posterior mean), sets dimension ``dim`` to
        ``n_steps`` evenly spaced values between the given quantiles of that dimension over
        the training cells, holds the other dimensions, and generates.

        Parameters
        ----------
        cell
            A training cell: its position (``int``) or its name in ``adata.obs_names``.
        dim
            The latent dimension to vary.
        n_steps
            Number of values.
        quantiles
            Quantiles of the training codes that bound the traversal.
        n_samples_per_step
            Cells generated per value (different noise).
        seed
            Seed of the noise (see :meth:`generate`).
        batch_size
            Cells generated at a time.

        Returns
        -------
        AnnData of ``n_steps × n_samples_per_step`` cells, in the order of the values, with
        ``traversal_dim``, ``traversal_step``, ``traversal_value`` and ``source_cell`` in
        ``.obs`` and the codes in ``.obsm["X_michigan"]``.

        Examples
        --------
        >>> path = model.traverse(cell=0, dim=2, n_steps=20)
        >>> path.obs["traversal_value"]
        """
        mean, _ = self._training_codes()
        names = np.asarray(self.adata.obs_names)
        if isinstance(cell, str):
            matches = np.flatnonzero(names == cell)
            if len(matches) == 0:
                raise ValueError(f"cell {cell!r} is not in the training data's obs_names")
            position = int(matches[0])
        else:
            position = check_positive_int(cell, "cell", minimum=0)
            if position >= len(mean):
                raise ValueError(f"cell must be below {len(mean)} (training cells), got {cell}")
        dim = check_positive_int(dim, "dim", minimum=0)
        if dim >= mean.shape[1]:
            raise ValueError(f"dim must be below {mean.shape[1]} (code dimensions), got {dim}")
        check_positive_int(n_steps, "n_steps")
        check_positive_int(n_samples_per_step, "n_samples_per_step")
        low, high = (float(q) for q in quantiles)
        if not 0 <= low <= high <= 1:
            raise ValueError(f"quantiles must satisfy 0 <= low <= high <= 1, got {quantiles}")
        values = np.linspace(*np.quantile(mean[:, dim], [low, high]), n_steps)
        steps = np.repeat(np.arange(n_steps), n_samples_per_step)
        codes = np.repeat(mean[position][None, :], len(steps), axis=0)
        codes[:, dim] = values[steps]
        seed = self._resolve_seed(seed)
        expression = self._generate_expression(codes, len(codes), seed, batch_size)
        obs = {
            "traversal_dim": np.full(len(steps), dim),
            "traversal_step": steps,
            "traversal_value": values[steps].astype(np.float32),
            "source_cell": np.full(len(steps), names[position]),
        }
        uns = {"seed": seed, "traversal": {"cell": str(names[position]), "dim": dim}}
        return self._cells(expression, obs, codes, uns)
