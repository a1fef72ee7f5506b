"""The ``michigan`` command line: ``michigan demo``, ``michigan train``, ``michigan benchmark``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def _demo(args: argparse.Namespace) -> None:
    from ._demo import run_demo

    print(f"michigan demo: training a β-TCVAE on pbmc68k_reduced ({args.max_epochs} epochs)")
    outputs = run_demo(
        out_dir=args.out,
        max_epochs=args.max_epochs,
        n_latent=args.n_latent,
        beta=args.beta,
        seed=args.seed,
    )
    print(f"wrote the AnnData (representation in .obsm['X_tcvae']): {outputs.adata}")
    print(f"wrote the UMAP coloured by each latent:                 {outputs.umap}")


def _train(args: argparse.Namespace) -> None:
    import anndata
    import scvi

    from .model import TCVAE

    scvi.settings.seed = args.seed
    adata = anndata.read_h5ad(args.input)
    TCVAE.setup_anndata(adata, layer=args.layer, batch_key=args.batch_key)
    model = TCVAE(
        adata, n_latent=args.n_latent, beta=args.beta, gene_likelihood=args.gene_likelihood
    )
    model.train(max_epochs=args.max_epochs, accelerator=args.accelerator)
    adata.obsm["X_tcvae"] = model.get_latent_representation()
    adata.write_h5ad(args.output)
    print(f"wrote {args.output} with the representation in .obsm['X_tcvae']")
    if args.save_model:
        model.save(args.save_model, overwrite=True)
        print(f"saved the model to {args.save_model}")


def _benchmark(args: argparse.Namespace) -> None:
    from .benchmark import run, to_markdown

    results = run(
        preset=args.preset,
        methods=args.methods,
        seeds=args.seeds,
        out_dir=args.out,
        paper_sizes=args.paper_sizes,
        n_cells=args.n_cells,
        n_genes=args.n_genes,
        path=args.path,
        beta=args.beta,
        max_epochs_tcvae=args.max_epochs_tcvae,
        max_epochs_gan=args.max_epochs_gan,
        accelerator=args.accelerator,
        n_jobs=args.n_jobs,
    )
    print(to_markdown(results, title=args.preset))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``michigan`` command."""
    parser = argparse.ArgumentParser(
        prog="michigan",
        description="MichiGAN for the scverse: disentangled representations of cells.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run the main job on built-in data")
    demo.add_argument("--out", default="michigan_demo", help="output folder")
    demo.add_argument("--max-epochs", type=int, default=100)
    demo.add_argument("--n-latent", type=int, default=10)
    demo.add_argument("--beta", type=float, default=10.0, help="weight of the total correlation")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=_demo)

    train = commands.add_parser("train", help="train a β-TCVAE on an .h5ad file")
    train.add_argument("input", help="input .h5ad with raw counts")
    train.add_argument("output", help="output .h5ad (representation in .obsm['X_tcvae'])")
    train.add_argument("--layer", default=None, help="layer with the counts (default: X)")
    train.add_argument("--batch-key", default=None)
    train.add_argument("--gene-likelihood", default="nb")
    train.add_argument("--n-latent", type=int, default=10)
    train.add_argument("--beta", type=float, default=10.0)
    train.add_argument("--max-epochs", type=int, default=None)
    train.add_argument("--accelerator", default="auto")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--save-model", default=None, help="folder to save the model into")
    train.set_defaults(func=_train)

    bench = commands.add_parser(
        "benchmark", help="the paper's benchmark: methods × metrics × seeds on a data set"
    )
    bench.add_argument(
        "preset",
        help="splatter_linear, splatter_nonlinear, prosstt_3, prosstt_4, prosstt_5, pbmc68k, "
        "or kang (with --path)",
    )
    bench.add_argument("--methods", nargs="+", default=None, help="default: all")
    bench.add_argument(
        "--seeds", nargs="+", type=int, default=None, help="default: 0-4 (simulations)"
    )
    bench.add_argument("--out", default="benchmark_out", help="output folder")
    bench.add_argument(
        "--paper-sizes",
        action="store_true",
        help="10,000 cells × 2,000 genes and 1000 epochs per model (a GPU's work)",
    )
    bench.add_argument("--n-cells", type=int, default=None)
    bench.add_argument("--n-genes", type=int, default=None)
    bench.add_argument("--path", default=None, help="local .h5ad of a real data set")
    bench.add_argument("--beta", type=float, default=None, help="default: the preset's")
    bench.add_argument("--max-epochs-tcvae", type=int, default=None)
    bench.add_argument("--max-epochs-gan", type=int, default=None)
    bench.add_argument("--accelerator", default="auto")
    bench.add_argument("--n-jobs", type=int, default=None, help="random-forest jobs")
    bench.set_defaults(func=_benchmark)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Run the ``michigan`` command."""
    args = build_parser().parse_args(argv)
    args.func(args)


if __name__ == "__main__":  # pragma: no cover
    main()
