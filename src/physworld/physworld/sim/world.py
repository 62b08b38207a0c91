"""The ground-truth simulated world: a table-top task scene with a Franka Panda and an RGB-D camera.

``build_task_scene(task, seed)`` creates (or fills) a PyBullet DIRECT client with a ground plane,
a table (top at ``TABLE_TOP_Z``), the task's objects, the Panda (fixed base at the table edge,
ready pose, gripper open) and a fixed camera looking at the workspace. The seed randomises object
poses (+-2 cm, +-10 deg yaw), object sizes (+-3 %) and the camera pose (+-2 cm eye, +-1 cm target);
the same seed gives the same scene, bit for bit.

World frame: z up, x away from the robot, metres (REP 103). Object poses are the pose of each
object's centre-of-mass frame (PyBullet base frame); ``SceneObjectInfo.mesh`` is the TRUE mesh in
that frame, for evaluation only (reconstruction must not read it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import trimesh
from scipy.spatial.transform import Rotation

from ..errors import ConfigError, InputError
from . import assets
from .camera import CameraIntrinsics, PyBulletCamera, look_at
from .replay import replay_trajectory, scripted_object_trajectory  # noqa: F401  (public API)
from .tasks import TABLE_TOP_Z, ObjectSpec, TaskSpec, resolve_task

PHYSICS_HZ = 240.0
ROBOT_BASE = (0.0, 0.0, TABLE_TOP_Z)
TABLE_CENTRE_XY, TABLE_HALF_XY = (0.45, 0.0), (0.6, 0.75)
HOME_Q = (0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785)
FINGER_OPEN = 0.04
CAMERA_EYE = (1.08, 0.0, TABLE_TOP_Z + 0.55)
CAMERA_TARGET = (0.5, 0.0, TABLE_TOP_Z + 0.1)
CAMERA_FOV_Y_DEG = 55.0


@dataclass
class SceneObjectInfo:
    name: str
    body_id: int
    category: str
    mass: float
    friction: float
    movable: bool
    scale: float
    shape: assets.Shape  # scaled; anchors/dims in the build frame
    mesh: trimesh.Trimesh  # TRUE mesh in the object (centre-of-mass) frame; evaluation only
    spec: ObjectSpec

    @property
    def shape_description(self) -> dict:
        return {
            "parts": [
                {"kind": p.kind, "dims": list(p.dims), "pos": list(p.pos), "rpy": list(p.rpy)} for p in self.shape.parts
            ],
            "dims": dict(self.shape.dims),
            "com_in_build_frame": self.shape.com.tolist(),
        }


@dataclass
class RobotInfo:
    body_id: int
    arm_joints: tuple[int, ...]  # 7 revolute joints
    finger_joints: tuple[int, ...]  # 2 prismatic joints (0 = closed, 0.04 = open, each)
    ee_link: int  # panda_grasptarget (between the fingertips)
    joint_lower: np.ndarray
    joint_upper: np.ndarray
    home: np.ndarray  # ready pose of the 7 arm joints
    joint_names: tuple[str, ...]
    max_force: np.ndarray  # N m (arm) from the URDF
    max_velocity: np.ndarray  # rad/s (arm) from the URDF
    finger_open: float = FINGER_OPEN
    base_position: tuple[float, float, float] = ROBOT_BASE


@dataclass
class TaskScene:
    client: int
    task: TaskSpec
    seed: int
    camera: PyBulletCamera
    objects: dict[str, SceneObjectInfo]
    robot: RobotInfo | None
    table_id: int
    plane_id: int
    dt: float = 1.0 / PHYSICS_HZ
    owns_client: bool = True
    initial_poses: dict = field(default_factory=dict)

    # -- state ------------------------------------------------------------------------------
    def object_pose(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        import pybullet as p

        if name not in self.objects:
            raise InputError(f"scene of task {self.task.name!r} has no object {name!r}; it has {list(self.objects)}")
        pos, quat = p.getBasePositionAndOrientation(self.objects[name].body_id, physicsClientId=self.client)
        return np.array(pos), np.array(quat)

    def object_poses(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        return {name: self.object_pose(name) for name in self.objects}

    def set_object_pose(self, name: str, pos, quat, lin_vel=(0.0, 0.0, 0.0), ang_vel=(0.0, 0.0, 0.0)) -> None:
        import pybullet as p

        body = self.objects[name].body_id
        p.resetBasePositionAndOrientation(body, list(pos), list(quat), physicsClientId=self.client)
        p.resetBaseVelocity(body, list(lin_vel), list(ang_vel), physicsClientId=self.client)

    def body_names(self) -> dict[int, str]:
        """Body id -> name, for reading the segmentation image (table, plane, robot included)."""
        out = {o.body_id: n for n, o in self.objects.items()}
        out[self.table_id], out[self.plane_id] = "table", "plane"
        if self.robot is not None:
            out[self.robot.body_id] = "robot"
        return out

    def is_success(self) -> bool:
        return bool(self.task.success(self.object_poses()))

    # -- stepping and sensing ------------------------------------------------------------------
    def step(self, n: int = 1) -> None:
        import pybullet as p

        for _ in range(int(n)):
            p.stepSimulation(physicsClientId=self.client)

    def render(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """RGB (H, W, 3) uint8, depth (H, W) float32 metres (NaN = none), body-id segmentation."""
        return self.camera.render(self.client)

    def close(self) -> None:
        import pybullet as p

        if self.owns_client and p.isConnected(self.client):
            p.disconnect(self.client)

    def __enter__(self) -> TaskScene:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------


def scene_camera(rng: np.random.Generator, image_size: tuple[int, int]) -> PyBulletCamera:
    w, h = image_size
    eye = np.asarray(CAMERA_EYE) + rng.uniform(-0.02, 0.02, 3)
    target = np.asarray(CAMERA_TARGET) + rng.uniform(-0.01, 0.01, 3)
    return PyBulletCamera(CameraIntrinsics.from_fov(w, h, CAMERA_FOV_Y_DEG), look_at(eye, target))


def _check_args(seed, image_size) -> tuple[int, tuple[int, int]]:
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")
    try:
        w, h = (int(v) for v in image_size)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"image_size must be (width, height), got {image_size!r}") from exc
    if not (16 <= w <= 4096 and 16 <= h <= 4096):
        raise ConfigError(f"image_size {w}x{h} out of range (16..4096 pixels per side)")
    return int(seed), (w, h)


def _place_objects(client: int, task: TaskSpec, rng: np.random.Generator) -> dict[str, SceneObjectInfo]:
    objects: dict[str, SceneObjectInfo] = {}
    frames: dict[str, tuple[np.ndarray, float, float]] = {}  # name -> (build origin, yaw, scale)
    for spec in task.objects:
        u = rng.uniform(-1.0, 1.0, 4)  # always 4 draws per object: streams stay aligned
        scale = 1.0 + spec.scale_jitter * u[3]
        local = np.array([spec.xy[0] + spec.pos_jitter * u[0], spec.xy[1] + spec.pos_jitter * u[1], spec.z])
        yaw = spec.yaw + spec.yaw_jitter * u[2]
        if spec.parent is None:
            origin = local + np.array([0.0, 0.0, TABLE_TOP_Z])
        else:
            if spec.parent not in frames:
                raise ConfigError(f"task {task.name}: object {spec.name} comes before its parent {spec.parent}")
            p_origin, p_yaw, p_scale = frames[spec.parent]
            origin = p_origin + Rotation.from_euler("z", p_yaw).apply(local * p_scale)
            yaw += p_yaw
        frames[spec.name] = (origin, yaw, scale)
        shape = spec.shape.scaled(scale)
        rot = Rotation.from_euler("z", yaw)
        com_world = origin + rot.apply(shape.com)
        mass = spec.mass * scale**3
        body = assets.create_body(
            client,
            shape,
            mass=mass,
            friction=spec.friction,
            rgba=spec.rgba,
            pos=com_world,
            quat=rot.as_quat(),
            rolling_friction=spec.rolling_friction,
        )
        objects[spec.name] = SceneObjectInfo(
            spec.name, body, spec.category, mass, spec.friction, spec.movable, scale, shape, shape.mesh(), spec
        )
    return objects


def _load_robot(client: int) -> RobotInfo:
    import pybullet as p

    body = p.loadURDF(str(assets.panda_urdf_path()), ROBOT_BASE, useFixedBase=True, physicsClientId=client)
    arm, fingers, names, lo, hi, fmax, vmax = [], [], [], [], [], [], []
    ee = -1
    for j in range(p.getNumJoints(body, physicsClientId=client)):
        info = p.getJointInfo(body, j, physicsClientId=client)
        jname, jtype, link = info[1].decode(), info[2], info[12].decode()
        if jtype == p.JOINT_REVOLUTE:
            arm.append(j)
            names.append(jname)
            lo.append(info[8])
            hi.append(info[9])
            fmax.append(info[10])
            vmax.append(info[11])
        elif jtype == p.JOINT_PRISMATIC:
            fingers.append(j)
        if link == "panda_grasptarget":
            ee = j
    if len(arm) != 7 or len(fingers) != 2 or ee < 0:
        raise ConfigError(f"{assets.panda_urdf_path()}: expected a Panda (7 arm joints, 2 fingers, panda_grasptarget)")
    for j, q in zip(arm, HOME_Q):
        p.resetJointState(body, j, q, physicsClientId=client)
    for j in fingers:
        p.resetJointState(body, j, FINGER_OPEN, physicsClientId=client)
    assets.couple_fingers(client, body, fingers)
    p.setJointMotorControlArray(
        body, arm, p.POSITION_CONTROL, targetPositions=list(HOME_Q), forces=fmax, physicsClientId=client
    )
    p.setJointMotorControlArray(
        body, fingers, p.POSITION_CONTROL, targetPositions=[FINGER_OPEN] * 2, forces=[20.0] * 2, physicsClientId=client
    )
    return RobotInfo(
        body, tuple(arm), tuple(fingers), ee, np.array(lo), np.array(hi), np.array(HOME_Q), tuple(names),
        np.array(fmax), np.array(vmax),
    )  # fmt: skip


def _build_static(client: int) -> tuple[int, int]:
    import pybullet as p
    import pybullet_data

    plane = p.loadURDF(str(pybullet_data.getDataPath()) + "/plane.urdf", physicsClientId=client)
    half = [TABLE_HALF_XY[0], TABLE_HALF_XY[1], TABLE_TOP_Z / 2]
    col = p.createCollisionShape(p.GEOM_BOX, halfExtents=half, physicsClientId=client)
    vis = p.createVisualShape(p.GEOM_BOX, halfExtents=half, rgbaColor=[0.78, 0.7, 0.58, 1], physicsClientId=client)
    table = p.createMultiBody(
        0.0, col, vis, [TABLE_CENTRE_XY[0], TABLE_CENTRE_XY[1], TABLE_TOP_Z / 2], physicsClientId=client
    )
    p.changeDynamics(table, -1, lateralFriction=0.6, physicsClientId=client)
    return plane, table


def build_task_scene(
    task: TaskSpec | str,
    seed: int,
    *,
    with_robot: bool = True,
    client: int | None = None,
    image_size: tuple[int, int] = (320, 240),
    settle_s: float = 0.5,
) -> TaskScene:
    """Build the ground-truth scene of ``task`` (a TaskSpec, name or command) for ``seed``.

    ``client``: an existing, EMPTY PyBullet client to fill (it is not disconnected by ``close``);
    default: a new DIRECT client. Objects are simulated for ``settle_s`` seconds so that the
    returned scene is at rest.
    """
    import pybullet as p

    if isinstance(task, str):
        task = resolve_task(task)
    seed, image_size = _check_args(seed, image_size)
    owns = client is None
    if owns:
        client = p.connect(p.DIRECT)
    try:
        p.resetSimulation(physicsClientId=client)
        p.setGravity(0, 0, -9.81, physicsClientId=client)
        p.setTimeStep(1.0 / PHYSICS_HZ, physicsClientId=client)
        rng = np.random.default_rng(seed)
        camera = scene_camera(rng, image_size)
        plane, table = _build_static(client)
        objects = _place_objects(client, task, rng)
        robot = _load_robot(client) if with_robot else None
        scene = TaskScene(client, task, seed, camera, objects, robot, table, plane, owns_client=owns)
        scene.step(int(round(settle_s * PHYSICS_HZ)))
        scene.initial_poses = scene.object_poses()
        return scene
    except BaseException:
        if owns:
            p.disconnect(client)
        raise
