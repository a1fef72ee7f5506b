from __future__ import annotations

import numpy as np
import pytest
import torch

from michigan.module import (
    GAN_KEYS,
    CountHead,
    ExpressionHead,
    GANModule,
    Generator,
    LibrarySizeHead,
    ProjectionCritic,
    gradient_penalty,
)
from michigan.train import ExtrapolationStep


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny networks run fastest on one thread (and the CI machine is shared)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_generator_paper_shape_and_output_activations():
    generator = Generator(n_code=10, n_noise=118, n_output=50)
    widths = [m.out_features for m in generator.modules() if isinstance(m, torch.nn.Linear)]
    assert widths == [256, 512, 1024, 50]
    assert generator.hidden[0].in_features == 128
    code, noise = torch.randn(16, 10), torch.randn(16, 118)
    assert generator.eval()(code, noise).min() >= 0  # ReLU by default
    soft = Generator(2, 3, 5, n_hidden=(8,), output_activation="softplus").eval()
    assert soft(torch.randn(64, 2), torch.randn(64, 3)).min() > 0
    linear = Generator(2, 3, 5, n_hidden=(8,), output_activation=None).eval()
    assert linear(torch.randn(256, 2), torch.randn(256, 3)).min() < 0


def test_generator_rejects_bad_arguments():
    with pytest.raises(ValueError, match="output_activation"):
        Generator(2, 3, 5, output_activation="tanh")
    with pytest.raises(ValueError, match="n_code \\+ n_noise"):
        Generator(0, 0, 5)


def test_critic_depends_on_code_only_through_projection():
    critic = ProjectionCritic(n_input=7, n_code=3, n_hidden=(16, 8), n_features=5).eval()
    x = torch.randn(12, 7)
    z1, z2 = torch.randn(12, 3), torch.randn(12, 3)
    h = critic.feature_map(x)
    without_code_1 = critic(x, z1) - critic.projection_term(h, z1)
    without_code_2 = critic(x, z2) - critic.projection_term(h, z2)
    torch.testing.assert_close(without_code_1, without_code_2)
    torch.testing.assert_close(without_code_1, critic.linear(h).squeeze(-1))
    # (Vz)ᵀh with the learned V
    expected = (z1 @ critic.embedding.weight.T * h).sum(-1)
    torch.testing.assert_close(critic.projection_term(h, z1), expected)
    assert not torch.allclose(critic(x, z1), critic(x, z2))


def test_identity_projection_is_the_papers_form():
    critic = ProjectionCritic(n_input=7, n_code=4, n_hidden=(16,), projection="identity").eval()
    assert critic.n_features == 4 and critic.embedding is None
    x, z = torch.randn(5, 7), torch.randn(5, 4)
    h = critic.feature_map(x)
    expected = critic.linear(h).squeeze(-1) + (z * h).sum(-1)
    torch.testing.assert_close(critic(x, z), expected)
    with pytest.raises(ValueError, match="n_features"):
        ProjectionCritic(n_input=7, n_code=4, n_features=10, projection="identity")


def test_unconditional_critic_and_normalisations():
    critic = ProjectionCritic(n_input=6, n_code=0, n_hidden=(8,)).eval()
    x = torch.randn(4, 6)
    torch.testing.assert_close(critic(x), critic(x, torch.randn(4, 3)))
    assert isinstance(critic.body[1], torch.nn.LayerNorm)
    assert critic.per_sample
    with pytest.warns(UserWarning, match="gradient penalty"):
        batch_norm = ProjectionCritic(n_input=6, n_hidden=(8,), normalization="batch")
    assert not batch_norm.per_sample
    with pytest.raises(ValueError, match="projection"):
        ProjectionCritic(n_input=6, n_code=2, projection="outer")
    with pytest.raises(ValueError, match="code"):
        ProjectionCritic(n_input=6, n_code=2)(x)


def test_penalty_of_linear_critic_is_norm_minus_one_squared():
    w = torch.randn(9) * 2
    real, fake = torch.randn(32, 9), torch.randn(32, 9)
    penalty = gradient_penalty(lambda x, code: x @ w, real, fake)
    torch.testing.assert_close(penalty, (w.norm() - 1) ** 2)


def test_penalty_draws_epsilon_per_cell():
    real, fake = torch.randn(6, 3), torch.randn(6, 3)

    def critic(x, code):  # ∇ of ‖x‖²/2 is x itself
        return 0.5 * (x**2).sum(-1)

    torch.manual_seed(1)
    penalty = gradient_penalty(critic, real, fake)
    torch.manual_seed(1)
    epsilon = torch.rand(6, 1)
    interpolated = epsilon * real + (1 - epsilon) * fake
    expected = ((interpolated.norm(dim=1) - 1) ** 2).mean()
    torch.testing.assert_close(penalty, expected)
    # the penalty is differentiable with respect to the critic's parameters
    layer = torch.nn.Linear(3, 1)
    gradient_penalty(lambda x, c: layer(x).squeeze(-1) ** 2, real, fake).backward()
    assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0


def test_module_log_normalises_and_samples_codes():
    module = GANModule(n_genes=4, n_code=2, n_noise=3, code_source="sample")
    counts = torch.tensor([[1.0, 0.0, 3.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    loc, scale = torch.randn(2, 2), torch.full((2, 2), 0.5)
    batch = {"X": counts, GAN_KEYS.CODE_LOC: loc, GAN_KEYS.CODE_SCALE: scale}
    x, code = module.get_data_and_code(batch)
    torch.testing.assert_close(x[0], torch.log1p(counts[0] / 4 * 1e4))
    torch.testing.assert_close(x[1], torch.zeros(4))  # a cell without counts stays at 0
    assert not torch.allclose(code, loc)
    batch[GAN_KEYS.CODE_SCALE] = torch.zeros(2, 2)
    torch.testing.assert_close(module.get_data_and_code(batch)[1], loc)
    mean_module = GANModule(n_genes=4, n_code=2, n_noise=3, log_normalize=False)
    x, code = mean_module.get_data_and_code({"X": counts, GAN_KEYS.CODE_LOC: loc})
    assert x is counts and code is loc
    with pytest.raises(ValueError, match="code"):
        GANModule(n_genes=4, n_code=2, code_source="median")


def test_noise_from_a_generator_is_reproducible():
    module = GANModule(n_genes=4, n_code=0, n_noise=3, generator_hidden=(8,))
    first = module.sample_noise(5, generator=torch.Generator().manual_seed(3))
    second = module.sample_noise(5, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(first, second)
    assert first.shape == (5, 3)


def test_extrapolation_step_extrapolates_and_restores():
    net = torch.nn.Linear(3, 2)
    extrapolation = ExtrapolationStep(net.parameters())
    before = [p.detach().clone() for p in net.parameters()]
    extrapolation.snapshot()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p))
    after = [p.detach().clone() for p in net.parameters()]
    with extrapolation.lookahead():
        for p, b, a in zip(net.parameters(), before, after, strict=True):
            torch.testing.assert_close(p.detach(), 2 * a - b)  # θ̄ = θ_{k+1} + (θ_{k+1} − θ_k)
    for p, a in zip(net.parameters(), after, strict=True):
        torch.testing.assert_close(p.detach(), a)
    state = extrapolation.state_dict()
    other = ExtrapolationStep(net.parameters())
    other.load_state_dict(state)
    for p, b in zip(other.previous, before, strict=True):
        torch.testing.assert_close(p, b)


@pytest.mark.parametrize("target_sum", [1e4, 123.0])
def test_library_size_head_gives_every_cell_the_target_library_and_exact_zeros(target_sum):
    generator = Generator(
        3, 5, 200, n_hidden=(16,), head=LibrarySizeHead(16, 200, target_sum=target_sum)
    )
    cells = generator(torch.randn(256, 3), torch.randn(256, 5))
    library = torch.expm1(cells.double()).sum(1)
    relative_error = ((library - target_sum).abs() / target_sum).max()
    assert relative_error < 1e-3
    assert (cells == 0).any(dim=1).all()  # every cell has exact zeros (ReLU before the sum)
    assert cells.min() == 0
    cells.sum().backward()  # and the head is differentiable
    assert generator.head.linear.weight.grad.abs().sum() > 0


def test_library_size_head_spreads_a_cell_without_signal_evenly():
    head = LibrarySizeHead(4, 10, target_sum=100.0)
    with torch.no_grad():
        head.linear.weight.zero_()
        head.linear.bias.fill_(-1.0)  # every gene's ReLU is 0
    torch.testing.assert_close(head(torch.randn(3, 4)), torch.full((3, 10), float(np.log1p(10))))


def test_module_picks_the_count_head_for_counts():
    assert isinstance(GANModule(20, 2, 3).generator.head, CountHead)
    processed = GANModule(20, 2, 3, log_normalize=False, output_activation=None)
    assert isinstance(processed.generator.head, ExpressionHead)
    library = GANModule(20, 2, 3, output_head="library_size")
    assert isinstance(library.generator.head, LibrarySizeHead)
    old = GANModule(20, 2, 3, output_head="expression")
    assert isinstance(old.generator.head, ExpressionHead)
    with pytest.raises(ValueError, match="output_head"):
        GANModule(20, 2, 3, output_head="softmax")
    with pytest.raises(ValueError, match="keep log_normalize=True"):
        GANModule(20, 2, 3, log_normalize=False, output_head="counts")
    with pytest.raises(ValueError, match="count_likelihood"):
        GANModule(20, 2, 3, count_likelihood="zinb")


@pytest.mark.parametrize("likelihood", ["nb", "poisson"])
@pytest.mark.parametrize("target_sum", [1e4, 123.0])
def test_count_head_draws_cells_with_the_target_library_and_exact_zeros(likelihood, target_sum):
    torch.manual_seed(0)
    generator = Generator(
        3, 5, 300, n_hidden=(16,), head=CountHead(16, 300, target_sum, likelihood)
    )
    code, noise = torch.randn(256, 3), torch.randn(256, 5)
    library = torch.randint(20, 200, (256,)).float()
    cells = generator(code, noise, library)
    relative_error = ((torch.expm1(cells.double()).sum(1) - target_sum).abs() / target_sum).max()
    assert relative_error < 1e-3
    assert (cells == 0).float().mean() > 0.3  # ~100 counts over 300 genes: many zeros
    expected = generator(code, noise)  # no library: the expected profile, no zeros
    assert (expected > 0).all()
    expected_library = torch.expm1(expected.double()).sum(1)
    assert ((expected_library - target_sum).abs() / target_sum).max() < 1e-5
    cells.sum().backward()  # straight through the draw, to the profile (and the dispersion)
    assert generator.head.linear.weight.grad.abs().sum() > 0
    dispersion_grad = generator.head.log_dispersion.grad
    if likelihood == "nb":
        assert dispersion_grad.abs().sum() > 0
    else:
        assert dispersion_grad is None
        assert generator.head.dispersion is None


def test_count_head_draws_counts_with_the_mean_and_variance_of_its_likelihood():
    torch.manual_seed(0)
    head = CountHead(4, 3, likelihood="nb", initial_dispersion=2.0)
    mean = torch.tensor([[5.0, 50.0, 0.5]]).expand(40_000, 3)
    counts = head.sample_counts(mean).detach()
    assert torch.equal(counts, counts.round())  # integers
    torch.testing.assert_close(counts.mean(0), mean[0], rtol=0.03, atol=0.02)
    nb_variance = mean[0] + mean[0] ** 2 / 2.0
    torch.testing.assert_close(counts.var(0), nb_variance, rtol=0.08, atol=0.05)
    poisson = CountHead(4, 3, likelihood="poisson").sample_counts(mean).detach()
    torch.testing.assert_close(poisson.var(0), mean[0], rtol=0.05, atol=0.02)


def test_generator_average_follows_its_formula_and_generates():
    module = GANModule(6, 2, 3, generator_hidden=(8,), dropout_rate=0.0)
    code, noise = torch.randn(5, 2), torch.randn(5, 3)
    torch.testing.assert_close(module.generate(code, noise), module.generator(code, noise))
    expected = None
    decay = 0.9
    for step in range(12):
        with torch.no_grad():  # a stand-in for an optimiser step
            for parameter in module.generator.parameters():
                parameter.add_(torch.randn_like(parameter))
        live = [p.detach().clone() for p in module.generator.parameters()]
        used = module.update_generator_average(decay)
        assert used == pytest.approx(min(decay, step / (step + 9)))
        expected = (
            live
            if expected is None
            else [used * e + (1 - used) * p for e, p in zip(expected, live, strict=True)]
        )
        for got, want in zip(module.generator_average.parameters(), expected, strict=True):
            torch.testing.assert_close(got, want)
    assert int(module.average_steps) == 12
    averaged = module.generate(code, noise)
    torch.testing.assert_close(averaged, module.generator_average(code, noise))
    assert not torch.allclose(averaged, module.generator(code, noise))
    module.reset_generator_average()
    torch.testing.assert_close(module.generate(code, noise), module.generator(code, noise))


def test_state_saved_without_the_average_loads_with_the_live_weights():
    module = GANModule(6, 2, 3, generator_hidden=(8,))
    old_state = {
        key: value
        for key, value in module.state_dict().items()
        if not key.startswith("generator_average.") and key != "average_steps"
    }
    restored = GANModule(6, 2, 3, generator_hidden=(8,))
    restored.load_state_dict(old_state)
    for a, b in zip(
        restored.generator_average.parameters(), module.generator.parameters(), strict=True
    ):
        torch.testing.assert_close(a, b)
    assert int(restored.average_steps) == 0


def test_default_critic_is_the_papers_with_gene_dropout_and_paper_networks_drop_it():
    from michigan.module import CRITIC_INPUT_DROPOUT_RATE, PAPER_NETWORKS, GANModule

    def layers(module):
        body = list(module.critic.body)
        widths = [layer.out_features for layer in body if isinstance(layer, torch.nn.Linear)]
        dropouts = [layer.p for layer in body if isinstance(layer, torch.nn.Dropout)]
        return widths, dropouts, module.critic.input_dropout

    widths, dropouts, input_dropout = layers(GANModule(n_genes=20, n_code=3, n_noise=4))
    assert widths == [1024, 512] and not dropouts
    assert input_dropout.p == CRITIC_INPUT_DROPOUT_RATE > 0
    paper = GANModule(n_genes=20, n_code=3, n_noise=4, **PAPER_NETWORKS)
    widths, dropouts, input_dropout = layers(paper)
    assert widths == [1024, 512] and not dropouts and input_dropout is None


def test_conditional_critics_default_to_wider_features_and_paper_networks_keep_ten():
    from michigan.module import CONDITIONAL_N_FEATURES, N_FEATURES, PAPER_NETWORKS, GANModule

    assert GANModule(n_genes=20, n_code=3, n_noise=4).critic.n_features == CONDITIONAL_N_FEATURES
    assert GANModule(n_genes=20, n_code=0, n_noise=4).critic.n_features == N_FEATURES == 10
    paper = GANModule(n_genes=20, n_code=3, n_noise=4, **PAPER_NETWORKS)
    assert paper.critic.n_features == 10 != CONDITIONAL_N_FEATURES
    assert paper.critic.features[0].out_features == paper.critic.linear.in_features == 10


def test_weights_of_a_critic_with_ten_features_are_refused_with_the_fix():
    from michigan.module import GANModule

    earlier = GANModule(n_genes=20, n_code=3, n_noise=4, n_features=10)
    with pytest.raises(ValueError, match=r"has 10 features h, this model's 64.*n_features=10"):
        GANModule(n_genes=20, n_code=3, n_noise=4).load_state_dict(earlier.state_dict())
    same = GANModule(n_genes=20, n_code=3, n_noise=4, n_features=10)
    same.load_state_dict(earlier.state_dict())
    torch.testing.assert_close(same.critic.linear.weight, earlier.critic.linear.weight)


def test_weights_of_a_critic_with_other_layers_are_refused_with_the_fix():
    from michigan.module import GANModule

    earlier = {"critic_hidden": (256, 128), "critic_dropout_rate": 0.3}
    narrow = GANModule(n_genes=20, n_code=3, n_noise=4, **earlier)
    with pytest.raises(ValueError, match=r"critic_hidden=\(256, 128\), critic_dropout_rate=0.3"):
        GANModule(n_genes=20, n_code=3, n_noise=4).load_state_dict(narrow.state_dict())
    same = GANModule(n_genes=20, n_code=3, n_noise=4, **earlier)
    same.load_state_dict(narrow.state_dict())
    torch.testing.assert_close(same.critic.body[0].weight, narrow.critic.body[0].weight)


def test_critic_input_dropout_hides_genes_in_training_only():
    critic = ProjectionCritic(n_input=200, n_code=3, n_hidden=(16,), input_dropout_rate=0.5)
    x, code = torch.rand(64, 200) + 1.0, torch.randn(64, 3)
    seen = critic.input_dropout(x)
    hidden = (seen == 0).float().mean().item()
    assert 0.4 < hidden < 0.6
    critic.eval()
    torch.testing.assert_close(critic(x, code), critic(x, code))
    assert (critic.input_dropout(x) == x).all()


@pytest.mark.parametrize("rate", [-0.1, 1.0])
def test_critic_input_dropout_outside_zero_one_is_refused(rate):
    with pytest.raises(ValueError, match="input_dropout_rate must lie in"):
        ProjectionCritic(n_input=20, input_dropout_rate=rate)
