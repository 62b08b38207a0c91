"""Scene bundle -> visualization_msgs/MarkerArray and target trajectories -> nav_msgs/Path.

Meshes go out as TRIANGLE_LIST markers (self-contained: RViz on another machine needs no access to
the bundle's files); each object also gets a text label. Frame: the bundle's world frame, named by
the caller (``world`` by default, REP 105's fixed frame of the cell).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from geometry_msgs.msg import Point, Pose, PoseStamped
from nav_msgs.msg import Path as PathMsg
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from ..bundle import SceneBundle

_PALETTE = [(0.90, 0.35, 0.20), (0.20, 0.55, 0.90), (0.30, 0.75, 0.35), (0.85, 0.70, 0.20), (0.60, 0.40, 0.80)]


def _pose(position, quat_xyzw) -> Pose:
    p = Pose()
    p.position.x, p.position.y, p.position.z = (float(v) for v in position)
    p.orientation.x, p.orientation.y, p.orientation.z, p.orientation.w = (float(v) for v in quat_xyzw)
    return p


def _triangles(mesh_path: Path, max_faces: int) -> list[Point]:
    import trimesh

    mesh = trimesh.load(mesh_path, force="mesh")
    faces = mesh.faces
    if len(faces) > max_faces:  # keep RViz responsive for big background meshes
        faces = faces[np.linspace(0, len(faces) - 1, max_faces).astype(int)]
    verts = mesh.vertices[faces.reshape(-1)]
    return [Point(x=float(x), y=float(y), z=float(z)) for x, y, z in verts]


def bundle_markers(
    bundle: SceneBundle, bundle_dir: str | Path, frame_id: str = "world", stamp=None, max_faces: int = 4000
) -> MarkerArray:
    bundle_dir = Path(bundle_dir)
    out = MarkerArray()
    out.markers.append(Marker(action=Marker.DELETEALL))
    marker_id = 0

    def new(ns: str, kind: int) -> Marker:
        nonlocal marker_id
        marker_id += 1
        m = Marker(ns=ns, id=marker_id, type=kind, action=Marker.ADD)
        m.header.frame_id = frame_id
        if stamp is not None:
            m.header.stamp = stamp
        m.scale.x = m.scale.y = m.scale.z = 1.0
        return m

    if bundle.background_mesh:
        bg = new("background", Marker.TRIANGLE_LIST)
        bg.pose.orientation.w = 1.0
        bg.points = _triangles(bundle_dir / bundle.background_mesh, max_faces)
        bg.color = ColorRGBA(r=0.6, g=0.6, b=0.6, a=0.6)
        out.markers.append(bg)
    for i, obj in enumerate(bundle.objects):
        r, g, b = _PALETTE[i % len(_PALETTE)]
        m = new("objects", Marker.TRIANGLE_LIST)
        m.pose = _pose(obj.position, obj.orientation)
        m.points = _triangles(bundle_dir / obj.mesh, max_faces)
        m.color = ColorRGBA(r=r, g=g, b=b, a=1.0)
        out.markers.append(m)
        label = new("labels", Marker.TEXT_VIEW_FACING)
        label.pose = _pose(np.asarray(obj.position) + [0.0, 0.0, 0.08], (0, 0, 0, 1))
        label.scale.z = 0.03
        label.text = f"{obj.name} ({obj.mass:.2f} kg)"
        label.color = ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0)
        out.markers.append(label)
    return out


def trajectory_path(trajectory: np.ndarray, frame_id: str = "world", stamp=None) -> PathMsg:
    """(T, 7) poses [x, y, z, qx, qy, qz, qw] -> nav_msgs/Path."""
    traj = np.asarray(trajectory, dtype=float)
    if traj.ndim != 2 or traj.shape[1] != 7:
        raise ValueError(f"trajectory must be (T, 7) [x y z qx qy qz qw], got shape {traj.shape}")
    path = PathMsg()
    path.header.frame_id = frame_id
    if stamp is not None:
        path.header.stamp = stamp
    for row in traj:
        ps = PoseStamped(pose=_pose(row[:3], row[3:]))
        ps.header = path.header
        path.poses.append(ps)
    return path
