import pytest
import torch
from safetensors.torch import save_file

from edgedistill.errors import UserError
from edgedistill.models import (
    ModelInfo,
    count_macs,
    count_params,
    create_model,
    load_checkpoint,
    parse_timm_spec,
    save_checkpoint,
)

INFO = ModelInfo(arch="lcnet_050", classes=["a", "b", "c"], image_size=32, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))


def test_checkpoint_round_trip_rebuilds_model_and_info(tmp_path):
    torch.manual_seed(0)
    model = create_model("lcnet_050", 3).eval()
    save_checkpoint(tmp_path / "m.safetensors", model, INFO)
    loaded, info = load_checkpoint(tmp_path / "m.safetensors")
    assert info == INFO
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(loaded.eval()(x), model(x))


def test_file_that_is_not_a_checkpoint_is_refused(tmp_path):
    path = tmp_path / "teacher.safetensors"
    path.write_bytes(b"\x00" * 64)
    with pytest.raises(UserError, match="not a safetensors checkpoint"):
        load_checkpoint(path)


def test_pickle_checkpoint_is_refused_without_running_it(tmp_path):
    path = tmp_path / "teacher.pt"
    torch.save({"state_dict": {}}, path)
    with pytest.raises(UserError, match="not a safetensors checkpoint"):
        load_checkpoint(path)


def test_safetensors_without_metadata_is_refused(tmp_path):
    path = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(UserError, match="no edgedistill metadata"):
        load_checkpoint(path)


def test_missing_checkpoint_is_named(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.safetensors")


def test_unknown_timm_name_suggests_close_names():
    assert parse_timm_spec("timm:resnet18") == "resnet18"
    with pytest.raises(UserError, match=r"did you mean .*timm:mobilenetv3_small_100"):
        parse_timm_spec("timm:mobilenetv3_smal_100")


def test_macs_and_params_match_published_figures():
    """timm's model card: ResNet-18 has 11.7 M parameters and 1.8 GMACs at 224 px."""
    model = create_model("resnet18", 1000)
    assert count_params(model) == pytest.approx(11.69e6, rel=0.01)
    assert count_macs(model, 224) == pytest.approx(1.82e9, rel=0.02)
    # half the side, about a quarter of the work (odd feature maps round up, hence the slack)
    assert count_macs(model, 112) == pytest.approx(count_macs(model, 224) / 4, rel=0.1)


def test_a_small_input_stem_keeps_four_times_the_resolution_and_the_weight_shapes():
    """ResNet-18 built for 32 px inputs, as CIFAR papers count it: about 0.56 GMACs (He et al.'s CIFAR variant
    with a 3x3 stem is 0.56; timm's 7x7 stem at stride 1 adds a little), and its last stage sees a 4x4 map."""
    standard, small = create_model("resnet18", 10).eval(), create_model("resnet18", 10, stem="small").eval()
    assert count_macs(small, 32) == pytest.approx(0.56e9, rel=0.02) and count_macs(standard, 32) < 0.04e9
    shapes = {k: v.shape for k, v in standard.state_dict().items()}
    assert {k: v.shape for k, v in small.state_dict().items()} == shapes  # ImageNet weights still load
    last = small.forward_features(torch.zeros(1, 3, 32, 32))
    assert last.shape[-2:] == (4, 4) and standard.forward_features(torch.zeros(1, 3, 32, 32)).shape[-2:] == (1, 1)
    with pytest.raises(UserError, match="timm:convnext_atto has no stride-2 first convolution"):
        create_model("convnext_atto", 10, stem="small")


def test_checkpoints_written_before_stems_were_recorded_load_with_the_standard_stem(tmp_path):
    import json

    from edgedistill.models import METADATA_KEY

    model = create_model("lcnet_050", 3)
    old = {k: v for k, v in vars(INFO).items() if k != "stem"}  # the metadata of an older checkpoint
    save_file(model.state_dict(), str(tmp_path / "old.safetensors"), metadata={METADATA_KEY: json.dumps(old)})
    loaded, info = load_checkpoint(tmp_path / "old.safetensors")
    assert info.stem == "standard" and loaded.conv_stem.stride == (2, 2)
    torch.testing.assert_close(loaded.eval()(torch.ones(1, 3, 32, 32)), model.eval()(torch.ones(1, 3, 32, 32)))
