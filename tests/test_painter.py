"""The feed-forward network: shapes, conditional instance norm, style mixes, model files."""

from __future__ import annotations

import json

import pytest
import torch

from nst_utils.assets import model_files
from nst_utils.errors import NSTError
from nst_utils.networks import painter
from nst_utils.networks.painter import (
    ConditionalInstanceNorm,
    StyleNet,
    load_model,
    save_model,
    shipped_models,
    style_mix,
)


def test_output_has_the_photos_shape_and_range_for_odd_sizes():
    torch.manual_seed(0)
    net = StyleNet()
    photo = torch.rand(2, 3, 37, 53)
    out = net(photo).detach()
    assert out.shape == photo.shape
    assert float(out.min()) >= 0 and float(out.max()) <= 1


def test_an_untrained_skip_network_returns_the_photo_and_learns_a_change_on_top():
    torch.manual_seed(0)
    photo = torch.rand(1, 3, 24, 24).clamp(0.01, 0.99)
    plain, skip = StyleNet(channels=4, blocks=1, skip=False), StyleNet(channels=4, blocks=1)
    assert torch.allclose(skip(photo), photo, atol=1e-2)
    assert (plain(photo) - photo).abs().max() > 0.1  # a plain network starts anywhere
    with torch.no_grad():
        skip.out.weight.zero_()
        skip.out.bias.fill_(1.0)  # the change is added in logit space
    assert torch.allclose(skip(photo), torch.sigmoid(torch.logit(photo) + 1), atol=1e-5)


def test_skip_is_saved_with_the_model_and_older_files_load_without_it(tmp_path):
    path = save_model(StyleNet(channels=4, blocks=0), tmp_path / "s.safetensors", {})
    assert load_model(path).skip is True
    older = StyleNet(channels=4, blocks=0, skip=False)
    meta = {"kind": painter.KIND, "architecture": {"styles": 1, "channels": 4, "blocks": 0},
            "style_names": ["style0"], "record": {}}  # fmt: skip
    painter.model_files.save_network(older, tmp_path / "old.safetensors", meta)
    assert load_model(tmp_path / "old.safetensors").skip is False


def test_parameter_count_is_about_half_a_million_and_grows_by_tables_per_style():
    one = sum(p.numel() for p in StyleNet(styles=1).parameters())
    three = sum(p.numel() for p in StyleNet(styles=3).parameters())
    assert 400_000 < one < 550_000  # 497 475 with c = 32 and five blocks
    norms = [m for m in StyleNet(styles=3).modules() if isinstance(m, ConditionalInstanceNorm)]
    per_style = sum(2 * m.gamma.shape[1] for m in norms)  # a γ and a β per channel
    assert three - one == 2 * per_style
    assert all(m.gamma.shape[0] == 3 and m.beta.shape == m.gamma.shape for m in norms)


def test_instance_norm_normalises_each_image_and_channel_on_its_own():
    norm = ConditionalInstanceNorm(4, styles=1)
    x = torch.randn(3, 4, 8, 8) * torch.arange(1, 4).view(3, 1, 1, 1) + 5
    y = norm(x, style_mix_of(1, 0))
    assert torch.allclose(y.mean(dim=(2, 3)), torch.zeros(3, 4), atol=1e-5)
    assert torch.allclose(y.var(dim=(2, 3), unbiased=False), torch.ones(3, 4), atol=1e-3)


def style_mix_of(styles: int, index: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(torch.tensor([index]), styles).float()


def _random_tables(net: torch.nn.Module, seed: int = 0) -> None:
    generator = torch.Generator().manual_seed(seed)
    for module in net.modules():
        if isinstance(module, ConditionalInstanceNorm):
            with torch.no_grad():
                module.gamma.copy_(torch.rand(module.gamma.shape, generator=generator) + 0.5)
                module.beta.copy_(torch.randn(module.beta.shape, generator=generator))
    if isinstance(net, StyleNet):  # its last layer starts at zero: let the tables show
        with torch.no_grad():
            net.out.weight.copy_(torch.randn(net.out.weight.shape, generator=generator) * 0.05)


def test_a_one_hot_mix_is_exactly_that_styles_network():
    torch.manual_seed(1)
    multi = StyleNet(styles=3)
    _random_tables(multi)
    single = StyleNet(styles=1)
    state = {k: (v[1:2] if k.endswith((".gamma", ".beta")) else v)
             for k, v in multi.state_dict().items()}  # fmt: skip
    single.load_state_dict(state)
    photo = torch.rand(1, 3, 32, 40)
    assert torch.allclose(multi(photo, style_mix(multi, 1)), single(photo), atol=1e-6)
    assert not torch.allclose(multi(photo, style_mix(multi, 0)), single(photo), atol=1e-3)


def test_a_blend_mixes_the_scale_and_shift_tables_linearly():
    norm = ConditionalInstanceNorm(5, styles=2)
    _random_tables(norm)
    x = torch.randn(1, 5, 6, 6)
    mix = torch.tensor([[0.7, 0.3]])
    blended = norm(x, mix)
    normalised = torch.nn.functional.instance_norm(x, eps=painter.EPS)
    gamma = 0.7 * norm.gamma[0] + 0.3 * norm.gamma[1]
    beta = 0.7 * norm.beta[0] + 0.3 * norm.beta[1]
    assert torch.allclose(blended, normalised * gamma.view(1, 5, 1, 1) + beta.view(1, 5, 1, 1))
    # the output of a norm layer is linear in (γ, β): the blend of two one-hot outputs
    both = 0.7 * norm(x, style_mix_of(2, 0)) + 0.3 * norm(x, style_mix_of(2, 1))
    assert torch.allclose(blended, both, atol=1e-6)


def test_style_mix_gives_shares_and_refuses_bad_weights():
    net = StyleNet(styles=2)
    assert torch.allclose(style_mix(net, [3, 1]), torch.tensor([[0.75, 0.25]]))
    assert torch.equal(style_mix(net, 1), torch.tensor([[0.0, 1.0]]))
    for bad in ([1.0], [1, 2, 3], [-1, 2], [0, 0], [float("nan"), 1], 2):
        with pytest.raises(NSTError):
            style_mix(net, bad)
    with pytest.raises(ValueError, match="mix of shape"):
        net(torch.rand(2, 3, 16, 16), torch.ones(3, 2) / 2)


def test_a_model_file_round_trips_with_its_record(tmp_path):
    torch.manual_seed(2)
    net = StyleNet(styles=2, channels=8, blocks=1)
    _random_tables(net)
    net.style_names = ["starry_night", "the_scream"]
    record = {"command": "nst train-style ...", "steps": 7, "settings": {"size": 64}}
    path = save_model(net, tmp_path / "m.safetensors", record)
    loaded = load_model(path)
    assert loaded.architecture() == {"styles": 2, "channels": 8, "blocks": 1, "skip": True}
    assert loaded.style_names == ["starry_night", "the_scream"]
    assert loaded.record == record
    photo = torch.rand(1, 3, 24, 24)
    mix = torch.tensor([[0.4, 0.6]])
    assert torch.equal(loaded(photo, mix), net(photo, mix))
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]  # no temporary left


def test_bad_model_files_and_names_are_one_line_errors(tmp_path):
    with pytest.raises(NSTError, match="neither a model file nor a shipped model"):
        load_model("no_such_model")
    with pytest.raises(NSTError, match="model file not found"):
        load_model(tmp_path / "missing.safetensors")
    damaged = tmp_path / "damaged.safetensors"
    damaged.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    with pytest.raises(NSTError, match=r"damaged\.safetensors"):
        load_model(damaged)


def test_shipped_models_lists_style_networks_by_name(tmp_path, monkeypatch):
    monkeypatch.setattr(model_files, "MODELS_DIR", tmp_path / "models")
    assert shipped_models() == []  # no folder yet
    (tmp_path / "models").mkdir()
    assert shipped_models() == []
    save_model(StyleNet(channels=4, blocks=0), tmp_path / "models" / "tiny.safetensors",
               {"settings": {"size": 32, "steps": 3}})  # fmt: skip
    other = StyleNet(channels=4, blocks=0)
    save_model(other, tmp_path / "models" / "decoder-relu4_1.safetensors", {})
    path = tmp_path / "models" / "decoder-relu4_1.safetensors"
    _set_kind(path, "Decoder")
    assert shipped_models() == ["tiny"]
    assert load_model("tiny").record["settings"]["steps"] == 3
    assert painter.describe("tiny").startswith("tiny ")
    assert "steps 3)" in painter.describe("tiny")


def test_describe_counts_the_steps_done_not_the_steps_asked(tmp_path, monkeypatch):
    """A model written from a checkpoint part-way says how far its training got."""
    monkeypatch.setattr(model_files, "MODELS_DIR", tmp_path)
    save_model(StyleNet(channels=4, blocks=0), tmp_path / "early.safetensors",
               {"settings": {"size": 256, "steps": 4000}, "steps": 550})  # fmt: skip
    assert painter.describe("early").endswith("(size 256, steps 550)")
    first = {"settings": {"size": 256, "steps": 4000}, "steps": 4000}
    save_model(StyleNet(channels=4, blocks=0), tmp_path / "on.safetensors",
               {"settings": {"size": 256, "steps": 400}, "steps": 400,
                "started_from": {"model": "early", "record": first}})  # fmt: skip
    assert painter.describe("on").endswith("(size 256, steps 4000+400)")  # --from: both runs


def _set_kind(path, kind: str) -> None:
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(path, framework="pt") as handle:
        meta = json.loads(handle.metadata()["nst"])
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118
    save_file(tensors, path, metadata={"nst": json.dumps({**meta, "kind": kind})})


def test_a_new_style_starts_as_the_blend_of_all_and_only_its_tables_differ():
    torch.manual_seed(3)
    net = StyleNet(styles=2, channels=4, blocks=1)
    _random_tables(net)
    net.style_names = ["a", "b"]
    bigger = painter.add_style(net, "c")
    assert bigger.styles == 3 and bigger.style_names == ["a", "b", "c"]
    photo = torch.rand(1, 3, 20, 20)
    with torch.no_grad():
        assert torch.allclose(bigger(photo, style_mix(bigger, 0)), net(photo, style_mix(net, 0)))
        blend = net(photo, style_mix(net, [1, 1]))
        assert torch.allclose(bigger(photo, style_mix(bigger, 2)), blend, atol=1e-6)
    tables = painter.style_tables(bigger)
    norms = [m for m in bigger.modules() if isinstance(m, ConditionalInstanceNorm)]
    assert len(tables) == 2 * len(norms)
    assert sum(t.numel() for t in tables) == sum(2 * m.gamma.numel() for m in norms)
