"""DynamicTopKMoE: exactly-k routing, noise only in training, the Switch load-balancing
loss with checked numbers, and gradients reaching the gate and the chosen experts."""
import pytest
import torch

from helpers.models.moe import DynamicTopKMoE, switch_load_balancing_loss


def make_moe(**kw) -> DynamicTopKMoE:
    torch.manual_seed(0)
    args = dict(dim=16, num_experts=4, k=2, expert_hidden=32, gate_hidden=16, noise_std=1.0, aux_loss_weight=1.0)
    args.update(kw)
    return DynamicTopKMoE(**args)


@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("train", [True, False])
def test_exactly_k_nonzero_gates_per_sample(k, train):
    moe = make_moe(k=k).train(train)
    x = torch.randn(32, 16)
    out, r = moe(x)
    assert out.shape == (32, 16)
    assert ((r.gates > 0).sum(dim=1) == k).all()
    torch.testing.assert_close(r.gates.sum(dim=1), torch.ones(32))
    assert r.topk_indices.shape == (32, k)
    assert int(r.counts.sum()) == 32 * k
    # the counts are the histogram of the chosen experts
    assert r.counts.tolist() == torch.bincount(r.topk_indices.flatten(), minlength=4).tolist()
    # gates are non-zero exactly at the chosen experts
    chosen = torch.zeros(32, 4, dtype=torch.bool).scatter(1, r.topk_indices, True)
    assert torch.equal(r.gates > 0, chosen)
    torch.testing.assert_close(r.probs.sum(dim=1), torch.ones(32))


def test_output_is_gate_weighted_sum_of_chosen_experts():
    moe = make_moe().eval()
    x = torch.randn(8, 16)
    out, r = moe(x)
    dense = torch.stack([e(x) for e in moe.experts], dim=1)  # (B, N, D)
    expected = (r.gates.unsqueeze(-1) * dense).sum(dim=1)
    torch.testing.assert_close(out, expected)


def test_eval_is_deterministic_and_train_noise_changes_routing():
    moe = make_moe(noise_std=3.0)
    x = torch.randn(64, 16)
    moe.eval()
    out1, r1 = moe(x)
    out2, r2 = moe(x)
    assert torch.equal(out1, out2) and torch.equal(r1.topk_indices, r2.topk_indices)
    moe.train()
    torch.manual_seed(1)
    _, t1 = moe(x)
    torch.manual_seed(2)
    _, t2 = moe(x)
    changed_vs_eval = (t1.topk_indices.sort(1).values != r1.topk_indices.sort(1).values).any(1).sum()
    changed_between = (t1.topk_indices.sort(1).values != t2.topk_indices.sort(1).values).any(1).sum()
    assert changed_vs_eval > 0 and changed_between > 0
    # the clean probabilities do not depend on the noise
    torch.testing.assert_close(t1.probs, r1.probs)
    # with no noise, training routes exactly like eval
    moe.noise_std = 0.0
    _, t3 = moe(x)
    assert torch.equal(t3.topk_indices, r1.topk_indices)


def test_switch_loss_numbers_uniform_vs_collapsed():
    n, b = 4, 8
    uniform_probs = torch.full((b, n), 1 / n)
    balanced_k1 = torch.arange(b).remainder(n).unsqueeze(1)  # each expert gets b/n samples
    assert switch_load_balancing_loss(uniform_probs, balanced_k1, alpha=1.0).item() == pytest.approx(1.0)
    assert switch_load_balancing_loss(uniform_probs, balanced_k1, alpha=0.01).item() == pytest.approx(0.01)
    # every sample on expert 0 with all of its probability: N * 1 * 1 = 4
    collapsed_probs = torch.zeros(b, n)
    collapsed_probs[:, 0] = 1
    collapsed_k1 = torch.zeros(b, 1, dtype=torch.long)
    assert switch_load_balancing_loss(collapsed_probs, collapsed_k1).item() == pytest.approx(4.0)
    # k=2, everything on experts {0,1} with probability 0.5 each: N * (0.5*0.5 + 0.5*0.5) = 2 = N/k
    half = torch.zeros(b, n)
    half[:, :2] = 0.5
    collapsed_k2 = torch.tensor([[0, 1]] * b)
    assert switch_load_balancing_loss(half, collapsed_k2).item() == pytest.approx(2.0)
    # half-way imbalance lies in between: f=(.5,.5,0,0), P=(.375,.375,.125,.125) -> 4*.375 = 1.5
    mid = torch.tensor([0.375, 0.375, 0.125, 0.125]).expand(b, n)
    assert switch_load_balancing_loss(mid, collapsed_k1.remainder(2) + torch.arange(b).remainder(2)[:, None]
                                      ).item() == pytest.approx(1.5)


def test_module_aux_loss_grows_when_routing_collapses():
    moe = make_moe(noise_std=0.0, aux_loss_weight=1.0).eval()
    last = moe.gate[-1]
    x = torch.randn(16, 16)
    with torch.no_grad():
        last.weight.zero_()
        last.bias.zero_()
    _, uniform = moe(x)
    assert uniform.aux_loss.item() == pytest.approx(1.0, abs=1e-6)
    with torch.no_grad():
        last.bias.copy_(torch.tensor([10.0, 10.0, 0.0, 0.0]))
    _, collapsed = moe(x)
    assert collapsed.counts.tolist() == [16, 16, 0, 0]
    assert collapsed.aux_loss.item() == pytest.approx(2.0, abs=1e-3)  # alpha * N / k
    assert collapsed.aux_loss.item() > uniform.aux_loss.item() + 0.9


def test_gradients_reach_gate_noise_and_every_selected_expert_only():
    moe = make_moe(num_experts=6, k=2).train()
    x = torch.randn(5, 16, requires_grad=True)
    torch.manual_seed(3)
    out, r = moe(x)
    (out.pow(2).mean() + r.aux_loss).backward()
    assert moe.gate[0].weight.grad.abs().sum() > 0
    assert moe.noise.weight.grad.abs().sum() > 0  # the learned noise scale is trained
    for e, expert in enumerate(moe.experts):
        grad = expert.net[1].weight.grad
        if r.counts[e] > 0:
            assert grad is not None and grad.abs().sum() > 0, f"expert {e} chosen but got no gradient"
        else:
            assert grad is None or grad.abs().sum() == 0, f"expert {e} not chosen but got a gradient"
    assert x.grad.abs().sum() > 0


def test_k_out_of_range_is_rejected():
    with pytest.raises(ValueError, match="k must be"):
        DynamicTopKMoE(8, num_experts=4, k=5)


def test_eval_runs_every_expert_densely_with_the_sparse_paths_numbers():
    """Eval mode is the dense sum (a fixed graph exporters can trace); with the noise off
    training mode runs the sparse dispatch: the two give the same output."""
    torch.manual_seed(0)
    moe = DynamicTopKMoE(dim=8, num_experts=5, k=2, expert_hidden=16, noise_std=0.0)
    x = torch.randn(12, 8)
    sparse, routing = moe.train()(x)
    dense, _ = moe.eval()(x)
    torch.testing.assert_close(dense, sparse, atol=1e-6, rtol=1e-5)
    assert (routing.gates > 0).sum(dim=1).eq(2).all()


def test_the_export_view_computes_the_models_eval_logits():
    from helpers.compression.deploy import to_deployable
    from helpers.models import ActionMoEConfig, ActionMoEDynamicModel

    torch.manual_seed(0)
    model = ActionMoEDynamicModel(ActionMoEConfig.smoke(6)).eval()
    x = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(to_deployable(model)(x), model(x).logits, atol=1e-5, rtol=1e-4)


def test_gates_keep_the_softmax_dtype_when_autocast_runs_it_in_fp32(monkeypatch):
    """CUDA autocast runs softmax in fp32 while the router's logits stay fp16: the gate
    matrix takes the softmax's dtype instead of failing in scatter."""
    from helpers.models import moe

    real_softmax = torch.softmax
    monkeypatch.setattr(moe.torch, "softmax", lambda x, dim: real_softmax(x.float(), dim=dim))
    logits = torch.tensor([[0.0, 2.0, 1.0, -1.0], [3.0, 0.0, 0.0, 1.0]], dtype=torch.float16)
    gates, idx = moe.top_k_gates(logits, 2)
    assert gates.dtype == torch.float32
    assert idx.tolist() == [[1, 2], [0, 3]]
    assert (gates != 0).sum(dim=1).tolist() == [2, 2]
    assert torch.allclose(gates.sum(dim=1), torch.ones(2))
