"""Sampling cells from a conditional generator: from codes, from real cells, along an axis."""

from __future__ import annotations

import numpy as np
from anndata import AnnData

from .._validation import check_positive_int


class ConditionalGenerationMixin:
    """``generate`` and ``traverse`` for a model whose generator is conditioned on codes.

    The model provides ``module`` (a :class:`~michigan.module.GANModule`), ``adata``,
    ``codes_``/``code_scales_`` (the training cells' codes and posterior SDs, or ``None``),
    ``_posterior(adata)``, ``_compute_training_codes()``, ``_resolve_seed``,
    ``_generate_expression`` and ``_cells``.
    """

    def generate(
        self,
        codes: np.ndarray | None = None,
        n_samples: int | None = None,
        adata: AnnData | None = None,
        seed: int | None = None,
        inplace: bool = False,
        key_added: str = "michigan_generated",
        batch_size: int = 1024,
    ) -> AnnData:
        """Generate cells from codes, from the codes of real cells, or from training codes.

        - ``codes``: one cell per row (``n_samples`` cells per row when given);
        - ``adata``: one cell per cell of ``adata``, from its own code (its posterior mean, or
          a posterior draw with ``code="sample"``);
        - neither: ``n_samples`` codes (default: as many as training cells) drawn with
          replacement from the training cells' codes (with ``code="sample"``, then a draw
          from each cell's posterior).

        Parameters
        ----------
        codes
            Array of shape ``(n, n_code)`` (a single code may be 1-D).
        n_samples
            Number of cells (without ``codes``), or cells per code (with ``codes``).
        adata
            Cells whose codes to generate from.
        seed
            Seed of the noise and of the drawn codes; ``None`` draws one from torch's global
            generator (seeded by ``scvi.settings.seed``). The seed used is in
            ``.uns["michigan"]["seed"]``.
        inplace
            With ``adata``, also write the generated expression to ``adata.layers[key_added]``.
        key_added
            Layer written with ``inplace=True``.
        batch_size
            Cells generated at a time.

        Returns
        -------
        AnnData of the generated cells: expression in ``.X`` (the space the GAN learned, see
        the class docs), codes in ``.obsm["X_michigan"]``, their provenance in ``.obs``
        (``code_source``, and ``source_cell`` or ``code_index``), settings in
        ``.uns["michigan"]``.

        Examples
        --------
        >>> cells = model.generate(n_samples=3000, seed=0)
        >>> twins = model.generate(adata=adata, inplace=True)  # adata.layers["michigan_generated"]
        >>> z = model.get_latent_representation()[:5]
        >>> five = model.generate(codes=z, seed=1)
        """
        if codes is not None and adata is not None:
            raise ValueError("pass either codes or adata (to use its cells' codes), not both")
        if inplace and adata is None:
            raise ValueError("inplace=True writes to adata.layers: pass adata=...")
        seed = self._resolve_seed(seed)
        rng = np.random.default_rng(seed)
        if codes is not None:
            codes = self._check_codes(codes)
            per_code = 1 if n_samples is None else check_positive_int(n_samples, "n_samples")
            index = np.repeat(np.arange(len(codes)), per_code)
            codes, obs = codes[index], {"code_source": "codes", "code_index": index}
        elif adata is not None:
            if n_samples is not None:
                raise ValueError("with adata, one cell is generated per cell: drop n_samples")
            self._check_genes(adata)
            mean, scale = self._posterior(adata)
            codes = self._draw(mean, scale, rng)
            obs = {"code_source": "adata", "source_cell": np.asarray(adata.obs_names)}
        else:
            mean, scale = self._training_codes()
            n = len(mean) if n_samples is None else check_positive_int(n_samples, "n_samples")
            index = rng.integers(len(mean), size=n)
            codes = self._draw(mean[index], None if scale is None else scale[index], rng)
            obs = {
                "code_source": "training cells",
                "source_cell": np.asarray(self.adata.obs_names)[index],
            }
        expression = self._generate_expression(codes, len(codes), seed, batch_size)
        cells = self._cells(
            expression, obs, codes, {"seed": seed, "code": self.module.code_source}
        )
        if inplace:
            adata.layers[key_added] = expression
        return cells

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

    def _training_codes(self) -> tuple[np.ndarray, np.ndarray | None]:
        """Codes (and posterior SDs) of the training cells."""
        if self.codes_ is None:
            self.codes_, self.code_scales_ = self._compute_training_codes()
        return self.codes_, self.code_scales_

    def _draw(self, mean: np.ndarray, scale: np.ndarray | None, rng) -> np.ndarray:
        if self.module.code_source != "sample" or scale is None:
            return mean
        return (mean + scale * rng.standard_normal(mean.shape)).astype(np.float32)

    def _check_codes(self, codes) -> np.ndarray:
        codes = np.asarray(codes, dtype=np.float32)
        if codes.ndim == 1:
            codes = codes[None, :]
        n_code = self.module.n_code
        if codes.ndim != 2 or codes.shape[1] != n_code:
            raise ValueError(
                f"codes must have shape (n, {n_code}): one row per cell, one column per "
                f"dimension of the representation; got shape {codes.shape}"
            )
        if not np.isfinite(codes).all():
            raise ValueError("codes hold NaN or infinite values; pass finite codes")
        return codes

    def _check_genes(self, adata: AnnData) -> None:
        if not np.array_equal(
            np.asarray(adata.var_names, dtype=str), np.asarray(self.adata.var_names, dtype=str)
        ):
            raise ValueError(
                f"adata has {adata.n_vars} genes, not the {self.adata.n_vars} the model was "
                "trained on (in that order); subset it: adata[:, model.adata.var_names]"
            )
