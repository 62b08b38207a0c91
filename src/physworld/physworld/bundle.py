"""Scene bundle: the physical world model on disk (PhysWorld III-A output, III-B input).

Layout of a bundle directory::

    scene.json            versioned description (this module's schema, SCHEMA_VERSION)
    meshes/<name>.obj     closed object meshes in the object's own frame (metres)
    meshes/background.obj background height-map mesh in the world frame
    (anything else a stage wants to keep: report.png, metrics.json, ...)

All poses are in the gravity-aligned world frame (z up, metres, REP 103); quaternions are
``[x, y, z, w]`` (PyBullet/ROS order). ``T_world_camera`` is the camera's optical frame pose
(``camera_color_optical_frame``: z forward, y down). Target trajectories are the per-frame object
poses tracked in the generated video, one row ``[x, y, z, qx, qy, qz, qw]`` per frame.
A bundle is written with ``physworld.io.atomic_dir``: it is complete or absent.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import ArtefactError
from .io import atomic_dir, atomic_write_json, read_json

SCHEMA_VERSION = 1
SCENE_FILE = "scene.json"


@dataclass
class BundleObject:
    name: str
    category: str
    mesh: str  # path relative to the bundle directory
    position: list[float]  # [x, y, z] world frame
    orientation: list[float]  # quaternion [x, y, z, w]
    mass: float  # kg
    friction: float  # lateral friction coefficient
    extent: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])  # mesh AABB size
    movable: bool = True  # False for static parts (shelf, dustpan, plate) fixed to the world
    target_trajectory: list[list[float]] | None = None  # (T, 7) poses from the video, or None


@dataclass
class SceneBundle:
    task_name: str
    task_text: str
    camera: dict  # CameraIntrinsics.to_dict()
    T_world_camera: list[list[float]]
    gravity_rotation: list[list[float]]  # R (3x3) applied to camera-frame geometry, eq. 2
    background_mesh: str | None
    background_friction: float
    objects: list[BundleObject]
    frame_dt: float = 0.1  # seconds between video frames
    source: str = "reconstruction"  # "reconstruction" or "ground_truth" (oracle bundles, debugging only)
    meta: dict = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def object(self, name: str) -> BundleObject:
        for o in self.objects:
            if o.name == name:
                return o
        raise KeyError(f"scene has no object {name!r}; objects: {[o.name for o in self.objects]}")

    def target_trajectory(self, name: str) -> np.ndarray | None:
        traj = self.object(name).target_trajectory
        return None if traj is None else np.asarray(traj, dtype=float)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict, where: str = "scene.json") -> SceneBundle:
        version = d.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ArtefactError(f"{where}: schema_version {version!r} is not supported (expected {SCHEMA_VERSION})")
        try:
            objects = [BundleObject(**o) for o in d["objects"]]
            kw = {k: v for k, v in d.items() if k != "objects"}
            bundle = cls(objects=objects, **kw)
        except (KeyError, TypeError) as exc:
            raise ArtefactError(f"{where}: malformed scene description ({exc})") from exc
        _check(bundle, where)
        return bundle


def _check(b: SceneBundle, where: str) -> None:
    if np.asarray(b.T_world_camera).shape != (4, 4):
        raise ArtefactError(f"{where}: T_world_camera must be 4x4")
    if np.asarray(b.gravity_rotation).shape != (3, 3):
        raise ArtefactError(f"{where}: gravity_rotation must be 3x3")
    names = [o.name for o in b.objects]
    if len(set(names)) != len(names):
        raise ArtefactError(f"{where}: duplicate object names {names}")
    for o in b.objects:
        if len(o.position) != 3 or len(o.orientation) != 4:
            raise ArtefactError(f"{where}: object {o.name!r} needs position[3] and orientation[4]")
        if not (o.mass > 0 and np.isfinite(o.mass)):
            raise ArtefactError(f"{where}: object {o.name!r} has invalid mass {o.mass}")
        if o.target_trajectory is not None:
            t = np.asarray(o.target_trajectory, dtype=float)
            if t.ndim != 2 or t.shape[1] != 7 or not np.all(np.isfinite(t)):
                raise ArtefactError(f"{where}: object {o.name!r} target_trajectory must be finite (T, 7)")


def save_bundle(bundle: SceneBundle, out_dir: str | Path, meshes: dict[str, object]) -> Path:
    """Write ``bundle`` and its meshes atomically. ``meshes`` maps a relative mesh path (as named in
    the bundle) to a ``trimesh.Trimesh``. Returns the bundle directory."""
    _check(bundle, "bundle")
    out_dir = Path(out_dir)
    wanted = {o.mesh for o in bundle.objects} | ({bundle.background_mesh} if bundle.background_mesh else set())
    missing = wanted - set(meshes)
    if missing:
        raise ArtefactError(f"save_bundle: no mesh given for {sorted(missing)}")
    with atomic_dir(out_dir) as stage:
        for rel, mesh in meshes.items():
            path = stage / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            mesh.export(path)
        atomic_write_json(stage / SCENE_FILE, bundle.to_dict())
    return out_dir


def load_bundle(bundle_dir: str | Path) -> SceneBundle:
    """Load and validate a bundle; every referenced mesh must exist."""
    bundle_dir = Path(bundle_dir)
    if not bundle_dir.is_dir():
        raise ArtefactError(f"{bundle_dir}: scene bundle directory not found")
    where = str(bundle_dir / SCENE_FILE)
    bundle = SceneBundle.from_dict(read_json(bundle_dir / SCENE_FILE), where)
    for rel in [o.mesh for o in bundle.objects] + ([bundle.background_mesh] if bundle.background_mesh else []):
        if not (bundle_dir / rel).is_file():
            raise ArtefactError(f"{where}: mesh file {rel!r} is missing from the bundle")
    return bundle
