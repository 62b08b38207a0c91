"""The physical world model in PyBullet: a SceneBundle (or the ground-truth task scene) plus the arm.

:func:`load_bundle_world` builds a DIRECT client from a :class:`~physworld.bundle.SceneBundle`: the
background height-map mesh as a static concave collision mesh, static objects likewise, movable
objects as dynamic bodies (one convex hull per connected mesh part, PyBullet's rule for dynamic
meshes, every part colliding: :func:`create_movable_body`) with the bundle's masses and frictions,
and the Franka Panda at the robot base pose (``bundle.meta["robot_base"]``, else the task suite's
default). :func:`world_from_task_scene` wraps
the ground-truth scene of :mod:`physworld.sim.world` in the same :class:`ManipWorld` interface, so
the environment, the baseline and the policy run unchanged in either world.

Object poses are reported in each object's own frame (the frame its mesh is written in): a body
whose inertial frame differs from the mesh frame keeps the offset in ``ManipWorld.com_offset``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..bundle import SceneBundle, load_bundle
from ..errors import ArtefactError, InputError
from . import geometry as geo

PHYSICS_HZ = 240.0
PANDA_HOME = (0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785)
FINGER_OPEN = 0.04  # metres per finger (Panda: 8 cm max opening)
FINGER_FRICTION = 1.0


@dataclass
class RobotHandle:
    body: int
    arm_joints: list[int]
    finger_joints: list[int]
    ee_link: int
    lower: np.ndarray
    upper: np.ndarray
    home: np.ndarray
    base_pose: np.ndarray  # pose7 of the robot base in the world


@dataclass
class ManipWorld:
    """A PyBullet client holding one manipulation scene. ``moved`` is the object the task moves."""

    client: int
    robot: RobotHandle
    bodies: dict[str, int]
    moved: str
    source: str  # "reconstruction" | "ground_truth" | "ground_truth_sim"
    static_ids: list[int] = field(default_factory=list)  # background + fixed objects
    com_offset: dict[str, np.ndarray] = field(default_factory=dict)  # object frame -> inertial frame
    meshes: dict[str, object] = field(default_factory=dict)  # trimesh per object, object frame
    owner: object = None  # keeps a wrapped ground-truth scene alive

    @property
    def moved_id(self) -> int:
        return self.bodies[self.moved]

    def obstacle_ids(self, exclude: tuple[int, ...] = ()) -> list[int]:
        ids = list(self.static_ids) + list(self.bodies.values())
        return [i for i in dict.fromkeys(ids) if i not in exclude]

    def object_pose(self, name: str) -> np.ndarray:
        import pybullet as p

        pos, orn = p.getBasePositionAndOrientation(self.bodies[name], physicsClientId=self.client)
        pose = np.concatenate([pos, geo.canonical_quat(np.asarray(orn))])
        off = self.com_offset.get(name)
        return pose if off is None else geo.compose(pose, geo.inverse(off))

    def set_object_pose(self, name: str, pose: np.ndarray) -> None:
        import pybullet as p

        off = self.com_offset.get(name)
        pose = pose if off is None else geo.compose(pose, off)
        p.resetBasePositionAndOrientation(
            self.bodies[name], list(pose[:3]), list(pose[3:7]), physicsClientId=self.client
        )
        p.resetBaseVelocity(self.bodies[name], [0, 0, 0], [0, 0, 0], physicsClientId=self.client)

    def dynamics(self, name: str) -> tuple[float, float]:
        """(total mass, lateral friction) of an object (a body of > 16 collision shapes has links)."""
        import pybullet as p

        from ..sim.assets import body_mass

        info = p.getDynamicsInfo(self.bodies[name], -1, physicsClientId=self.client)
        return body_mass(self.client, self.bodies[name]), float(info[1])

    def set_dynamics(self, name: str, mass: float, friction: float) -> None:
        from ..sim.assets import set_body_dynamics

        set_body_dynamics(self.client, self.bodies[name], mass=mass, friction=friction)

    def close(self) -> None:
        import pybullet as p

        if self.owner is not None and hasattr(self.owner, "close"):
            self.owner.close()
        elif p.isConnected(self.client):
            p.disconnect(self.client)


def load_panda(client: int, base_pose: np.ndarray, urdf: str | Path | None = None) -> RobotHandle:
    """Load the Franka Panda (fixed base) at ``base_pose``, gear its fingers
    (:func:`physworld.sim.assets.couple_fingers`) and put it at its home configuration."""
    import pybullet as p

    if urdf is None:
        from ..sim.assets import panda_urdf_path

        urdf = panda_urdf_path()
    from ..sim.assets import couple_fingers

    body = p.loadURDF(str(urdf), list(base_pose[:3]), list(base_pose[3:7]), useFixedBase=True, physicsClientId=client)
    robot = robot_handle(client, body, base_pose)
    couple_fingers(client, body, robot.finger_joints)
    return robot


def robot_handle(client: int, body: int, base_pose: np.ndarray, home=PANDA_HOME) -> RobotHandle:
    """Describe a loaded Panda: arm/finger joints by type and name, EE = ``panda_grasptarget``."""
    import pybullet as p

    arm, fingers, ee = [], [], None
    lower, upper = [], []
    for j in range(p.getNumJoints(body, physicsClientId=client)):
        info = p.getJointInfo(body, j, physicsClientId=client)
        name, jtype, link = info[1].decode(), info[2], info[12].decode()
        if jtype == p.JOINT_REVOLUTE:
            arm.append(j)
            lower.append(info[8])
            upper.append(info[9])
        elif jtype == p.JOINT_PRISMATIC and "finger" in name:
            fingers.append(j)
        if link in ("panda_grasptarget", "panda_grasptarget_hand"):
            ee = j
    if len(arm) != 7 or len(fingers) != 2 or ee is None:
        raise ArtefactError(f"robot body {body} is not a Panda with 7 arm joints, 2 fingers and a grasp-target link")
    for j in fingers:
        p.changeDynamics(body, j, lateralFriction=FINGER_FRICTION, physicsClientId=client)
    for j, q in zip(arm, home):
        p.resetJointState(body, j, q, physicsClientId=client)
    for j in fingers:
        p.resetJointState(body, j, FINGER_OPEN, physicsClientId=client)
    return RobotHandle(body, arm, fingers, ee, np.array(lower), np.array(upper), np.array(home), np.asarray(base_pose))


def default_robot_base() -> np.ndarray:
    """The task suite's robot base pose (``physworld.sim.world.ROBOT_BASE`` when defined), else the origin."""
    try:
        from ..sim import world as sim_world

        base = getattr(sim_world, "ROBOT_BASE", None)
    except ImportError:
        base = None
    if base is None:
        return np.array([0.0, 0, 0, 0, 0, 0, 1])
    base = np.asarray(base, dtype=float).ravel()
    return base if base.size == 7 else np.concatenate([base[:3], [0, 0, 0, 1]])


def robot_base_of(bundle: SceneBundle) -> np.ndarray:
    rb = bundle.meta.get("robot_base")
    if rb is None:
        return default_robot_base()
    try:
        pose = np.concatenate([np.asarray(rb["position"], float), np.asarray(rb["orientation"], float)])
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtefactError(f"bundle meta.robot_base must be {{position[3], orientation[4]}} ({exc})") from exc
    if pose.shape != (7,) or not np.all(np.isfinite(pose)):
        raise ArtefactError(f"bundle meta.robot_base is malformed: {rb}")
    return pose


def moved_object_name(bundle: SceneBundle, moved: str | None = None) -> str:
    """The object whose target trajectory the policy tracks: ``moved`` if given, else the single movable
    object that has a target trajectory."""
    if moved is not None:
        try:
            obj = bundle.object(moved)
        except KeyError as exc:
            raise InputError(str(exc)) from exc
        if obj.target_trajectory is None:
            raise InputError(f"object {moved!r} has no target trajectory in the scene bundle; nothing to track")
        return moved
    cands = [o.name for o in bundle.objects if o.movable and o.target_trajectory is not None]
    if len(cands) != 1:
        raise InputError(
            f"scene bundle must have exactly one movable object with a target trajectory, found {cands}; "
            "name the moved object explicitly"
        )
    return cands[0]


MAX_PARTS = 64


def create_movable_body(client: int, mesh, com: np.ndarray, mass: float, pos, quat) -> int:
    """A dynamic body of ``mesh`` with its inertial frame at ``com`` (mesh frame) placed at ``pos``,
    ``quat``: one convex hull per connected part of ``mesh`` (a pot built of a floor and wall segments
    stays hollow), or the convex hull of the whole mesh when it is one part or has more than
    ``MAX_PARTS``. Every part collides, also beyond PyBullet's 16 shapes per compound
    (:func:`physworld.sim.assets.create_compound_body`)."""
    import tempfile

    import pybullet as p

    from ..sim.assets import create_compound_body

    parts = mesh.split(only_watertight=False) if len(mesh.faces) < 200_000 else []
    if not 1 < len(parts) <= MAX_PARTS:
        parts = [mesh]
    with tempfile.TemporaryDirectory(prefix="physworld-col-") as tmp:
        files = []
        for i, part in enumerate(parts):
            f = Path(tmp) / f"part{i}.obj"
            part.convex_hull.export(f)
            files.append(str(f))
        if len(files) == 1:
            col = p.createCollisionShape(
                p.GEOM_MESH, fileName=files[0], collisionFramePosition=list(-com), physicsClientId=client
            )
            return p.createMultiBody(
                mass, col, basePosition=list(pos), baseOrientation=list(quat), physicsClientId=client
            )
        children = [{"shapeType": p.GEOM_MESH, "fileName": f, "collisionFramePosition": list(-com)} for f in files]
        return create_compound_body(client, children, mass=mass, pos=pos, quat=quat)


def load_bundle_world(bundle_dir: str | Path, moved: str | None = None, with_gui: bool = False) -> ManipWorld:
    """Load the scene bundle at ``bundle_dir`` into a fresh PyBullet client with the Panda."""
    import pybullet as p
    import trimesh

    from ..sim.assets import set_body_dynamics

    bundle_dir = Path(bundle_dir)
    bundle = load_bundle(bundle_dir)
    moved = moved_object_name(bundle, moved)
    client = p.connect(p.GUI if with_gui else p.DIRECT)
    try:
        p.setGravity(0, 0, -9.81, physicsClientId=client)
        p.setTimeStep(1.0 / PHYSICS_HZ, physicsClientId=client)
        static_ids = []
        if bundle.background_mesh:
            col = p.createCollisionShape(
                p.GEOM_MESH,
                fileName=str(bundle_dir / bundle.background_mesh),
                flags=p.GEOM_FORCE_CONCAVE_TRIMESH,
                physicsClientId=client,
            )
            bg = p.createMultiBody(0, col, physicsClientId=client)
            p.changeDynamics(bg, -1, lateralFriction=bundle.background_friction, physicsClientId=client)
            static_ids.append(bg)
        bodies, offsets, meshes = {}, {}, {}
        for o in bundle.objects:
            path = bundle_dir / o.mesh
            try:
                mesh = trimesh.load(path, force="mesh")
            except Exception as exc:  # trimesh raises many types on corrupt files
                raise ArtefactError(f"{path}: cannot read object mesh ({exc})") from exc
            if len(mesh.faces) == 0:
                raise ArtefactError(f"{path}: object mesh {o.name!r} has no faces")
            meshes[o.name] = mesh
            pose = np.concatenate([o.position, geo.canonical_quat(np.asarray(o.orientation, float))])
            if o.movable:
                com = np.asarray(mesh.center_mass if mesh.is_watertight else mesh.centroid, float)
                off = np.concatenate([com, [0, 0, 0, 1]])
                world_com = geo.compose(pose, off)
                if np.linalg.norm(com) < 1e-9:
                    off = None  # mesh frame = inertial frame
                body = create_movable_body(client, mesh, com, o.mass, world_com[:3], world_com[3:])
                if off is not None:
                    offsets[o.name] = off
            else:
                col = p.createCollisionShape(
                    p.GEOM_MESH, fileName=str(path), flags=p.GEOM_FORCE_CONCAVE_TRIMESH, physicsClientId=client
                )
                body = p.createMultiBody(
                    0, col, basePosition=list(pose[:3]), baseOrientation=list(pose[3:]), physicsClientId=client
                )
                static_ids.append(body)
            set_body_dynamics(client, body, friction=o.friction)
            bodies[o.name] = body
        robot = load_panda(client, robot_base_of(bundle))
    except BaseException:
        p.disconnect(client)
        raise
    return ManipWorld(client, robot, bodies, moved, bundle.source, static_ids, offsets, meshes)


@dataclass(frozen=True)
class WorldSource:
    """A picklable recipe for a world (vectorised environments build one per worker process).

    ``kind="bundle"``: the scene bundle at ``path``; ``kind="task"``: the ground-truth scene of ``task``
    for ``seed`` (:func:`physworld.sim.world.build_task_scene`). With ``frame_bundle``, the true moved
    object's pose is reported in that world model's object frame -- what a model-based tracker using
    the reconstructed mesh reports: the body-fixed offset between the true frame and the world
    model's frame is taken at the start, where the world model's pose is the tracker's estimate."""

    kind: str
    path: str | None = None
    task: str | None = None
    seed: int = 0
    moved: str | None = None
    frame_bundle: str | None = None

    def build(self) -> ManipWorld:
        if self.kind == "bundle":
            return load_bundle_world(self.path, self.moved)
        if self.kind == "task":
            from ..sim.tasks import resolve_task
            from ..sim.world import build_task_scene

            task = resolve_task(self.task)
            scene = build_task_scene(task, int(self.seed), with_robot=True)
            world = world_from_task_scene(scene, self.moved or task.moved_object)
            if self.frame_bundle:
                b = load_bundle(self.frame_bundle)
                o = b.object(world.moved)
                model0 = np.concatenate([o.position, geo.canonical_quat(np.asarray(o.orientation, float))])
                world.com_offset[world.moved] = geo.compose(geo.inverse(model0), world.object_pose(world.moved))
            return world
        raise InputError(f"world source kind {self.kind!r} unknown; use 'bundle' or 'task'")


def world_from_task_scene(scene, moved: str) -> ManipWorld:
    """Wrap a ground-truth :class:`physworld.sim.world.TaskScene` (with robot) as a :class:`ManipWorld`.

    Object frames of the task suite are the bodies' inertial frames, so no offsets are needed."""
    r = scene.robot
    if r is None:
        raise InputError("the ground-truth scene was built without a robot; use build_task_scene(..., with_robot=True)")
    body = getattr(r, "body", getattr(r, "body_id", None))
    # the URDF base frame (getBasePositionAndOrientation would give link0's inertial frame, 5 cm higher)
    base = np.concatenate([np.asarray(getattr(r, "base_position", (0.0, 0.0, 0.0)), float), [0, 0, 0, 1.0]])
    home = tuple(getattr(r, "home", getattr(r, "home_q", PANDA_HOME)))
    robot = robot_handle(scene.client, body, base, home=home)
    bodies, meshes, static = {}, {}, []
    for name, obj in _scene_objects(scene).items():
        bid = getattr(obj, "body", getattr(obj, "body_id", None))
        bodies[name] = bid
        meshes[name] = getattr(obj, "mesh", None)
        if not getattr(obj, "movable", True):
            static.append(bid)
    for extra in ("table", "plane", "table_id", "plane_id"):
        bid = getattr(scene, extra, None)
        if isinstance(bid, int):
            static.append(bid)
    if moved not in bodies:
        raise InputError(f"ground-truth scene has no object {moved!r}; objects: {sorted(bodies)}")
    return ManipWorld(scene.client, robot, bodies, moved, "ground_truth_sim", static, {}, meshes, owner=scene)


def _scene_objects(scene) -> dict:
    objs = scene.objects
    if isinstance(objs, dict):
        return objs
    return {o.name: o for o in objs}
