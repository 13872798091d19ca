"""ActionMoEDynamicModel (model A) and its Motion Dynamics Module: shapes for many clip
lengths, gradients, motion sensitivity, freezing, pretrained fallback, round trip."""
import io
import logging
import math

import pytest
import torch
import torch.nn.functional as F

from helpers.models import pretrained
from helpers.models.action_moe import ActionMoEConfig, ActionMoEDynamicModel
from helpers.models.motion import (
    GatedResidualFusion,
    MotionDynamicsModule,
    motion_cues,
    path_turning,
    temporal_differences,
)


@pytest.fixture(scope="module")
def model() -> ActionMoEDynamicModel:
    torch.manual_seed(0)
    return ActionMoEDynamicModel(ActionMoEConfig.smoke(num_classes=5))


def sliding_square(t: int, size: int = 32) -> torch.Tensor:
    """Two clips: a bright square sliding right, and one sliding down, on a dim background."""
    video = torch.full((2, 3, t, size, size), -1.0)
    for i in range(t):
        video[0, :, i, 12:20, 3 * i : 3 * i + 8] = 2.0
        video[1, :, i, 3 * i : 3 * i + 8, 12:20] = 2.0
    return video


def clip(b=2, t=4, size=32, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, 3, t, size, size, generator=g)


@pytest.mark.parametrize("b,t,size", [(1, 1, 32), (2, 2, 32), (3, 3, 32), (2, 4, 32), (2, 8, 32), (1, 5, 16)])
def test_shapes_for_clip_lengths_and_batch_sizes(model, b, t, size):
    model.eval()
    with torch.no_grad():
        out = model(clip(b, t, size))
    assert out.logits.shape == (b, 5)
    assert out.appearance.shape == out.motion.shape == out.fused.shape == (b, 512)
    assert out.aux_loss.shape == () and torch.isfinite(out.aux_loss)
    assert out.routing.gates.shape == (b, 4) and out.routing.topk_indices.shape == (b, 2)
    assert ((out.routing.gates > 0).sum(1) == 2).all()
    assert int(out.routing.counts.sum()) == b * 2
    assert torch.isfinite(out.logits).all()


def test_single_frame_clip_has_no_motion(model):
    model.eval()
    with torch.no_grad():
        out = model(clip(2, 1))
    assert out.motion_energy.tolist() == [0.0, 0.0]
    assert torch.equal(out.fused, out.appearance)


def test_rejects_non_video_input(model):
    with pytest.raises(ValueError, match=r"\(B, 3, T, H, W\)"):
        model(torch.randn(2, 3, 32, 32))


def test_gradients_reach_backbone_motion_gate_and_selected_experts(model):
    model.train()
    model.zero_grad(set_to_none=True)
    torch.manual_seed(0)
    out = model(clip(4, 4))
    loss = F.cross_entropy(out.logits, torch.tensor([0, 1, 2, 3])) + out.aux_loss
    loss.backward()
    named = {
        "backbone stem": model.backbone.stem[0].weight,
        "backbone layer4": model.backbone.layer4[0].conv1[0][0].weight,
        "motion reduce": model.motion.reduce.weight,
        "motion encode": model.motion.encode[2].weight,
        "motion project": model.motion.project.weight,
        "fusion gate": model.fusion.gate.weight,
        "moe gate": model.moe.gate[0].weight,
        "classifier": model.classifier.weight,
    }
    for name, p in named.items():
        assert p.grad is not None and p.grad.abs().sum() > 0, f"no gradient in {name}"
    counts = out.routing.counts
    for e, expert in enumerate(model.moe.experts):
        g = expert.net[1].weight.grad
        if counts[e] > 0:
            assert g is not None and g.abs().sum() > 0, f"selected expert {e} has no gradient"
    model.zero_grad(set_to_none=True)


def test_eval_is_deterministic(model):
    model.eval()
    x = clip(2, 4)
    with torch.no_grad():
        a, b = model(x), model(x)
    assert torch.equal(a.logits, b.logits) and torch.equal(a.routing.topk_indices, b.routing.topk_indices)


def test_static_clip_gives_exactly_zero_motion_and_reversal_changes_output(model):
    model.eval()
    frame = torch.randn(2, 3, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    static = frame.expand(2, 3, 6, 32, 32).contiguous()
    with torch.no_grad():
        out = model(static)
    assert out.motion_energy.tolist() == [0.0, 0.0]
    assert out.motion.abs().max().item() == 0.0
    assert torch.equal(out.fused, out.appearance)  # fusion passes appearance through

    moving = sliding_square(6)
    with torch.no_grad():
        fwd = model(moving)
        rev = model(moving.flip(2))
        shuf = model(moving[:, :, [3, 0, 5, 1, 4, 2]])
    assert fwd.motion_energy.min() > 0
    for other in (rev, shuf):  # relative change of the motion features, then of the logits
        assert ((fwd.motion - other.motion).norm() / fwd.motion.norm()).item() > 0.02
        assert (fwd.logits - other.logits).abs().max() > 1e-4


def test_motion_module_unit():
    torch.manual_seed(0)
    mdm = MotionDynamicsModule(in_channels=8, hidden=6, out_dim=10)
    fmap = torch.randn(2, 8, 5, 7, 7)
    d = temporal_differences(fmap)
    assert d.shape == (2, 8, 4, 7, 7)
    torch.testing.assert_close(d[:, :, 2], fmap[:, :, 3] - fmap[:, :, 2])
    assert temporal_differences(fmap[:, :, :1]).abs().sum() == 0
    static = fmap[:, :, :1].expand(2, 8, 5, 7, 7)
    out_static = mdm(static)
    assert out_static.features.shape == (2, 10)
    assert out_static.features.abs().max().item() == 0.0 and out_static.energy.tolist() == [0.0, 0.0]
    out = mdm(fmap)
    out_rev = mdm(fmap.flip(2))
    assert ((out.features - out_rev.features).norm() / out.features.norm()).item() > 0.02
    # energy: mean |reduced difference|, same for the reversed clip (only sign/order change)
    torch.testing.assert_close(out.energy, out_rev.energy)

    fusion = GatedResidualFusion(10)
    app = torch.randn(2, 10)
    assert torch.equal(fusion(app, torch.zeros(2, 10)), app)
    assert not torch.equal(fusion(app, out.features), app)


def _ellipse_clip(angle: float = 0.0, scale: float = 1.0, dx: float = 0.0, dark: bool = False, steps: int = 5):
    """(1, 1, T, 24, 24): a smooth elongated blob that per step turns by ``angle`` (radians,
    clockwise on screen: y points down), grows by ``scale`` and moves ``dx`` px right."""
    ys, xs = torch.meshgrid(torch.arange(24.0) - 12, torch.arange(24.0) - 12, indexing="ij")
    out = []
    for t in range(steps):
        a, x = angle * t, xs - dx * t
        u = (x * math.cos(a) + ys * math.sin(a)) / (6 * scale**t)
        v = (-x * math.sin(a) + ys * math.cos(a)) / (2.5 * scale**t)
        blob = torch.exp(-(u * u + v * v))
        out.append(1 - blob if dark else blob)
    return torch.stack(out).view(1, 1, steps, 24, 24)


def test_motion_cues_read_direction_rotation_and_scale_whatever_the_contrast():
    cues = {name: motion_cues(_ellipse_clip(**kw))[1][0] for name, kw in {
        "right": dict(dx=1), "left": dict(dx=-1), "dark right": dict(dx=1, dark=True),
        "cw": dict(angle=0.1), "ccw": dict(angle=-0.1), "grow": dict(scale=1.1), "shrink": dict(scale=1 / 1.1),
        "static": dict()}.items()}
    # [translation x, translation y, rotation, dilation], each in [-1, 1]
    assert all(c.abs().max() <= 1 for c in cues.values())
    assert cues["static"].abs().max().item() == 0.0
    assert cues["right"][0] > 0.4 and cues["left"][0] < -0.4
    torch.testing.assert_close(cues["dark right"], cues["right"])  # a dark thing moving right: the same cue
    assert cues["cw"][2] > 0.4 and cues["ccw"][2] < -0.4
    assert cues["grow"][3] > 0.4 and cues["shrink"][3] < -0.4
    for name, axis in (("right", 0), ("cw", 2), ("grow", 3)):  # each motion shows on its own axis
        others = [i for i in range(4) if i != axis]
        assert cues[name][others].abs().max() < 0.1 * cues[name][axis].abs()
    local, _ = motion_cues(_ellipse_clip(dx=1))
    assert local.shape == (1, 3, 4, 24, 24)  # [d, d·∂x m, d·∂y m] per channel


def _circling_blob(sense: float, turn: float = 0.9, dx: float = 0.0, dark: bool = False, steps: int = 8) -> torch.Tensor:
    """(1, 1, T, 32, 32): a round blob that per step goes ``sense * turn`` radians round a
    5-px circle (clockwise on screen for sense +1) and drifts ``dx`` px right: at 0.9 rad a
    step it moves 4 px, more than its own width."""
    ys, xs = torch.meshgrid(torch.arange(32.0) - 16, torch.arange(32.0) - 16, indexing="ij")
    frames = []
    for t in range(steps):
        a = sense * turn * t
        blob = torch.exp(-((xs - 5 * math.cos(a) - dx * t) ** 2 + (ys - 5 * math.sin(a)) ** 2) / 4.5)
        frames.append(1 - blob if dark else blob)
    return torch.stack(frames).view(1, 1, steps, 32, 32)


def test_path_turning_reads_the_sense_of_a_circling_thing_moving_several_pixels_a_step():
    def turning(clip: torch.Tensor) -> float:
        return path_turning(temporal_differences(clip)).item()

    cw = turning(_circling_blob(1))
    assert cw > 0.6 and turning(_circling_blob(-1)) == pytest.approx(-cw, abs=1e-5)
    assert turning(_circling_blob(1, dark=True)) == pytest.approx(cw, abs=1e-5)  # where, not which contrast
    assert 0.1 < turning(_circling_blob(1, turn=0.3)) < cw  # a gentler turn, a smaller cue
    assert abs(turning(_circling_blob(0, dx=3, steps=4))) < 1e-4  # a straight path does not turn
    assert turning(_circling_blob(0)) == 0.0  # static
    assert turning(_circling_blob(1, steps=3)) == 0.0  # two steps: no turn yet
    # the brightness-constancy rotation cue does not see an orbit's sense (the thing does not spin)
    _, circled = motion_cues(_circling_blob(1))
    assert circled[0, 2].abs() < 0.5 * cw
    # in the module: the cue joins the global cues before the projection; a static clip
    # still gives exactly zero
    torch.manual_seed(0)
    mdm = MotionDynamicsModule(in_channels=1, hidden=4, out_dim=8, turning=True).eval()
    clip = _circling_blob(1)
    reduced = mdm.reduce(clip)
    local, global_ = motion_cues(reduced)
    parts = [mdm.encode(local).mean(dim=(2, 3, 4)), global_, path_turning(temporal_differences(reduced))]
    torch.testing.assert_close(mdm.features(clip), mdm.norm(mdm.project(torch.cat(parts, dim=1))))
    assert mdm.project.in_features == 6 * 4 and parts[2].abs().min() > 0.6
    assert mdm.features(_circling_blob(0)).abs().max().item() == 0.0


def test_motion_module_features_match_forward_and_trace():
    torch.manual_seed(0)
    mdm = MotionDynamicsModule(in_channels=8, hidden=6, out_dim=10).eval()
    fmap = torch.randn(2, 8, 5, 7, 7)
    torch.testing.assert_close(mdm.features(fmap), mdm(fmap).features)
    # the export path: helpers.compression.deploy's traceable view calls features
    program = torch.export.export(_Features(mdm), (fmap,))
    torch.testing.assert_close(program.module()(fmap + 1.0), mdm.features(fmap + 1.0))


class _Features(torch.nn.Module):
    def __init__(self, motion: MotionDynamicsModule) -> None:
        super().__init__()
        self.motion = motion

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.motion.features(x)

def test_replicate_padding_keeps_static_features_constant_but_zero_padding_does_not():
    torch.manual_seed(0)
    cfg = ActionMoEConfig.smoke(temporal_padding="zeros", motion_stage="layer2")
    zero_pad = ActionMoEDynamicModel(cfg).eval()
    static = torch.randn(1, 3, 1, 32, 32).expand(1, 3, 8, 32, 32).contiguous()
    with torch.no_grad():
        out = zero_pad(static)
    # zero padding invents motion at the clip edges: the reason replicate is the default
    assert out.motion_energy.item() > 0


def test_freeze_stops_gradients_and_keeps_batchnorm_stats():
    torch.manual_seed(0)
    m = ActionMoEDynamicModel(ActionMoEConfig.smoke(freeze="layer2"))
    for name in ("stem", "layer1", "layer2"):
        stage = getattr(m.backbone, name)
        assert not any(p.requires_grad for p in stage.parameters())
        assert not stage.training
    assert all(p.requires_grad for p in m.backbone.layer3.parameters())
    m.train()
    assert not m.backbone.layer1.training and m.backbone.layer3.training
    bn = m.backbone.layer1[0].conv1[1]
    before = bn.running_mean.clone()
    m(clip(2, 4))
    assert torch.equal(bn.running_mean, before)
    frozen = sum(p.numel() for n in ("stem", "layer1", "layer2") for p in getattr(m.backbone, n).parameters())
    total = sum(p.numel() for p in m.parameters())
    assert sum(p.numel() for p in m.parameters() if p.requires_grad) == total - frozen
    with pytest.raises(ValueError, match="freeze"):
        m.freeze("layer9")


def test_state_dict_round_trip_gives_identical_outputs(model):
    model.eval()
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    buf.seek(0)
    torch.manual_seed(123)  # a different random init, overwritten by the load
    twin = ActionMoEDynamicModel(ActionMoEConfig(**model.config.to_dict())).eval()
    twin.load_state_dict(torch.load(buf, weights_only=True))
    x = clip(2, 4)
    with torch.no_grad():
        a, b = model(x), twin(x)
    assert torch.equal(a.logits, b.logits) and torch.equal(a.aux_loss, b.aux_loss)


def test_pretrained_requested_offline_falls_back_with_one_message(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # empty torch hub cache
    monkeypatch.delenv("HELPERS_OFFLINE", raising=False)
    monkeypatch.setattr(pretrained, "host_reachable", lambda *a, **k: False)  # the network is down
    pretrained.clear_probe_cache()
    cfg = ActionMoEConfig.smoke(pretrained=True, backbone_layers=(2, 2, 2, 2))
    with caplog.at_level(logging.WARNING, logger="helpers.models"):
        m = ActionMoEDynamicModel(cfg)
        ActionMoEDynamicModel(cfg)  # a second build repeats no message
    assert m.weights_source == "random init"
    msgs = [r.getMessage() for r in caplog.records if r.name == "helpers.models"]
    assert len(msgs) == 1
    assert "KINETICS400_V1" in msgs[0] and "random initialisation" in msgs[0]
    pretrained.clear_probe_cache()


def test_pretrained_weights_are_loaded_when_available(monkeypatch):
    from torchvision.models.video import r2plus1d_18

    torch.manual_seed(7)
    reference = r2plus1d_18(weights=None).state_dict()  # same keys as the Kinetics file, fc included
    monkeypatch.setattr("helpers.models.backbones.torchvision_state_dict", lambda *a, **k: reference)
    m = ActionMoEDynamicModel(ActionMoEConfig.smoke(pretrained=True, backbone_layers=(2, 2, 2, 2)))
    assert m.weights_source == "torchvision KINETICS400_V1"
    assert torch.equal(m.backbone.stem[0].weight, reference["stem.0.weight"])
    assert torch.equal(m.backbone.layer4[1].conv2[0][3].weight, reference["layer4.1.conv2.0.3.weight"])
