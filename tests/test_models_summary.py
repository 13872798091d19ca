"""The summary table (its measurements are tested in test_measure.py) and the plots."""
import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

from helpers.models.moe import DynamicTopKMoE  # noqa: E402
from helpers.models.summary import (  # noqa: E402
    forward_kwargs, plot_cross_attention, plot_cross_attention_pair, plot_expert_routing, routing_totals, summarize,
    summary_table)
from tiny_models import TwoLayer  # noqa: E402


def test_summarize_and_table():
    m = TwoLayer()
    s = summarize(m, {"x": torch.randn(4, 64)}, name="two", latency_runs=2)
    assert s.params_total == 64 * 32 + 32 + 32 * 64 and s.batch_size == 4 and s.device == "cpu"
    assert s.flops_per_clip == 8192 and s.latency_ms > 0
    skipped = summarize(m, {"x": torch.randn(4, 64)}, name="fast", flops=False, latency_runs=0)
    assert skipped.flops_per_clip is None and skipped.latency_ms is None
    table = summary_table([s, skipped])
    assert list(table.index) == ["two", "fast"]
    assert table.loc["two", "GFLOPs_per_clip"] == 8.192e-6
    assert table.loc["two", "params_total_M"] == 0.004128
    assert forward_kwargs(m, {"x": 1, "unused": 2, "label": 3}) == {"x": 1, "unused": 2}


def test_cross_attention_plot():
    w = torch.softmax(torch.randn(2, 4, 25), -1)
    fig = plot_cross_attention(w, frame_times=torch.tensor([[0.0, 0.5, 1.0, 1.5]] * 2), token_seconds=0.02)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0.00s", "0.50s", "1.00s", "1.50s"]
    assert ax.images[0].get_array().shape == (4, 25)
    assert ax.get_xlabel() == "audio time (s)" and len(fig.axes) == 2  # heatmap + colorbar


def test_cross_attention_pair_shares_one_colour_scale():
    w = torch.softmax(torch.randn(4, 25), -1)
    fig = plot_cross_attention_pair([w, torch.zeros(4, 25)], ["with sound", "muted"],
                                    frame_times=torch.tensor([0.0, 0.5, 1.0, 1.5]), token_seconds=0.02,
                                    title="one clip")
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 2 and len(fig.axes) == 3  # two heatmaps + one colorbar
    assert [ax.get_title() for ax in panels] == ["with sound", "muted"]
    assert [ax.images[0].get_array().shape for ax in panels] == [(4, 25), (4, 25)]
    assert [ax.images[0].get_clim() for ax in panels] == [(0.0, pytest.approx(float(w.max())))] * 2
    assert panels[0].get_xlim() == pytest.approx((0.0, 0.5))  # 25 tokens of 20 ms
    assert [t.get_text() for t in panels[0].texts] == [] and [t.get_text() for t in panels[1].texts] == [
        "every weight is 0"]
    with pytest.raises(ValueError, match="two attention maps"):
        plot_cross_attention_pair([w], ["alone"])


def test_expert_routing_plot_shows_counts_and_probabilities():
    torch.manual_seed(0)
    moe = DynamicTopKMoE(8, num_experts=4, k=2, expert_hidden=8, gate_hidden=8).eval()
    routings = [moe(torch.randn(6, 8))[1] for _ in range(3)]
    counts, probs = routing_totals(routings)
    assert int(counts.sum()) == 3 * 6 * 2 and probs.sum().item() == pytest.approx(1.0)
    fig = plot_expert_routing(routings)
    bars = [p.get_height() for p in fig.axes[0].patches]
    assert bars == counts.tolist()
    assert [p.get_height() for p in fig.axes[1].patches] == pytest.approx(probs.tolist())
