import json

import pytest

from physworld.errors import ArtefactError
from physworld.io import atomic_dir, atomic_file, atomic_write_json, read_json


def test_atomic_json_roundtrip_and_no_temp_left(tmp_path):
    import numpy as np

    p = atomic_write_json(tmp_path / "a" / "x.json", {"v": np.arange(3), "f": np.float32(1.5)})
    assert read_json(p) == {"f": 1.5, "v": [0, 1, 2]}
    assert [f.name for f in p.parent.iterdir()] == ["x.json"]


def test_atomic_file_keeps_old_content_on_failure(tmp_path):
    target = tmp_path / "ckpt.bin"
    target.write_bytes(b"good")
    with pytest.raises(RuntimeError):
        with atomic_file(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("crash while writing")
    assert target.read_bytes() == b"good"
    assert [f.name for f in tmp_path.iterdir()] == ["ckpt.bin"]


def test_atomic_dir_replaces_only_on_success(tmp_path):
    d = tmp_path / "bundle"
    with atomic_dir(d) as stage:
        (stage / "scene.json").write_text("{}")
    with pytest.raises(ValueError):
        with atomic_dir(d) as stage:
            (stage / "scene.json").write_text("broken")
            raise ValueError("stage failed")
    assert (d / "scene.json").read_text() == "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]


def test_read_json_names_the_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ArtefactError, match="bad.json"):
        read_json(bad)
    with pytest.raises(ArtefactError, match="not found"):
        read_json(tmp_path / "none.json")
    json.loads("{}")
