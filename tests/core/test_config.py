import dataclasses
from dataclasses import dataclass

import pytest

from physworld.config import from_dict, load_config, param
from physworld.configs import CameraCaptureConfig, SimWorldConfig
from physworld.errors import ConfigError


@dataclass
class Demo:
    rate: float = param(10.0, "rate", range=(1.0, 100.0))
    mode: str = param("a", "mode", choices=("a", "b"))
    names: list[str] = param(["x"], "names")


def test_defaults_and_coercion():
    cfg = from_dict(Demo, {"rate": 20, "names": ["p", "q"]})
    assert cfg.rate == 20.0 and isinstance(cfg.rate, float)
    assert cfg.names == ["p", "q"] and Demo().names == ["x"]


@pytest.mark.parametrize(
    "values, needle",
    [
        ({"rate": 0.5}, "out of range"),
        ({"mode": "c"}, "not one of"),
        ({"rate": "fast"}, "expected float"),
        ({"speed": 1}, "unknown parameter"),
    ],
)
def test_bad_values_name_the_field(values, needle):
    with pytest.raises(ConfigError, match=needle):
        from_dict(Demo, values, source="demo")


def test_yaml_keyed_by_node_name(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text(
        "/**:\n  ros__parameters:\n    sync_tolerance_s: 0.05\n"
        "camera_capture:\n  ros__parameters:\n    default_timeout_s: 3.0\n"
        "sim_world:\n  ros__parameters:\n    seed: 4\n"
    )
    cam = load_config(CameraCaptureConfig, f, "camera_capture")
    assert cam.default_timeout_s == 3.0 and cam.sync_tolerance_s == 0.05
    assert load_config(SimWorldConfig, None, "sim_world").seed == 0


def test_project_yaml_is_valid_for_every_node():
    """config/physworld.yaml has a section for every node, holding only known, valid parameters."""
    from pathlib import Path

    from physworld import configs
    from physworld.bag.configs import BagPlayerConfig, BagRecorderConfig
    from physworld.config import load_yaml, node_params
    from physworld.control.configs import ArmControllerConfig, TeleopConfig
    from physworld.recon.pipeline import ReconstructionConfig

    path = Path(__file__).resolve().parents[2] / "config" / "physworld.yaml"
    data = load_yaml(path)
    by_node = {
        "sim_world": configs.SimWorldConfig,
        "camera_capture": configs.CameraCaptureConfig,
        "video_generation_client": configs.VideoGenerationConfig,
        "task_orchestrator": configs.OrchestratorConfig,
        "arm_controller": ArmControllerConfig,
        "teleop": TeleopConfig,
        "bag_recorder": BagRecorderConfig,
        "bag_player": BagPlayerConfig,
        "world_model": (configs.WorldModelNodeConfig, ReconstructionConfig),
        "residual_policy": configs.ResidualPolicyConfig,
    }
    for node, classes in by_node.items():
        assert node in data, f"{path} has no section for {node}"
        values = node_params(data, node)
        for cls in classes if isinstance(classes, tuple) else (classes,):
            names = {f.name for f in dataclasses.fields(cls)}
            from_dict(cls, {k: v for k, v in values.items() if k in names}, source=f"{path}:{node}")
            values = {k: v for k, v in values.items() if k not in names}
        assert not values, f"{path}:{node} has unknown parameters {sorted(values)}"


def test_missing_yaml_is_clear(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(SimWorldConfig, tmp_path / "nope.yaml", "sim_world")
