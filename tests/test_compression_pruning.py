"""Structured pruning really removes channels, keeps output shapes and residual adds
consistent; unstructured pruning gives sparsity without smaller tensors."""
from __future__ import annotations

import pytest
import torch

pytest.importorskip("torch_pruning")

from helpers.compression.deploy import to_deployable  # noqa: E402
from helpers.compression.pruning import load_pruned, save_pruned, structured_prune, unstructured_prune  # noqa: E402
from helpers.measure import count_parameters  # noqa: E402
from helpers.models import ActionMoEConfig, ActionMoEDynamicModel  # noqa: E402


@pytest.fixture(scope="module")
def model():
    global NUM_PARAMS
    torch.manual_seed(0)
    m = ActionMoEDynamicModel(ActionMoEConfig.smoke(num_classes=5, backbone_width=16)).eval()
    NUM_PARAMS = count_parameters(m)
    return m


@pytest.fixture(scope="module")
def pruned(model):
    x = torch.randn(2, 3, 4, 32, 32)
    return structured_prune(model, 0.5, x)


def test_structured_prune_fewer_params_same_output_shape(model, pruned):
    pm, report = pruned
    x = torch.randn(3, 3, 6, 40, 40)
    assert report.params_after == count_parameters(pm) < 0.5 * count_parameters(model)
    assert report.macs_after < 0.5 * report.macs_before
    with torch.no_grad():
        assert pm(x).logits.shape == model(x).logits.shape == (3, 5)
    assert count_parameters(model) == NUM_PARAMS  # the original is untouched


def test_residual_additions_stay_consistent(pruned):
    pm, _ = pruned
    bb = pm.backbone
    stem_out = bb.stem[3].out_channels
    assert stem_out < 16
    for stage, prev in ((bb.layer1, stem_out), (bb.layer2, None), (bb.layer3, None)):
        block = stage[0]
        out = block.conv2[0][3].out_channels  # what is added to the shortcut
        shortcut = block.downsample[0].out_channels if block.downsample is not None else prev
        assert out == shortcut
        assert block.bn2.num_features == out if hasattr(block, "bn2") else True
    # the motion module reads layer1: its input follows layer1's pruned width
    assert pm.motion.reduce.in_channels == bb.layer1[0].conv2[0][3].out_channels
    assert bb.layer4[0].conv2[0][3].out_channels == 8 * 16  # the head's feature input (8 × width) is kept


def test_pruned_model_saves_and_reloads(tmp_path, pruned):
    pm, _ = pruned
    x = torch.randn(2, 3, 4, 32, 32)
    loaded = load_pruned(save_pruned(pm, tmp_path / "p.pth"))
    with torch.no_grad():
        assert torch.allclose(loaded(x).logits, pm(x).logits, atol=1e-6)
        assert torch.allclose(to_deployable(pm)(x), pm(x).logits, atol=1e-5)


def test_unstructured_prune_sparsity_without_smaller_tensors(model):
    head = model.moe  # the head's Linear layers: the same code, a fraction of the sort
    um, sparsity = unstructured_prune(head, 0.5)
    assert 0.49 < sparsity < 0.51
    assert count_parameters(um) == count_parameters(head)
    assert um.experts[0].net[1].weight.shape == head.experts[0].net[1].weight.shape
    assert float((head.experts[0].net[1].weight == 0).float().mean()) < 0.01  # original untouched
