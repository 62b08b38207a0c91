"""OpenCV capture core (physworld.capture): a small video, colour and 16-bit depth PNG sequences
written here with cv2, calibration files in the camera_info YAML format, and the errors that name
a missing device, file or bad field."""

from __future__ import annotations

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from physworld.capture import CameraCalibration, OpenCvRgbdSource, load_calibration, save_calibration  # noqa: E402
from physworld.capture.opencv_source import classify_source, open_opencv_source  # noqa: E402
from physworld.configs import CameraCaptureConfig  # noqa: E402
from physworld.errors import ArtefactError, BackendError, ConfigError, InputError  # noqa: E402

W, H, N = 64, 48, 5


def colour(i: int) -> tuple[int, int, int]:
    """RGB of frame i: distinct per frame, red != blue so a BGR/RGB swap shows."""
    return (40 * i + 20, 100, 220)


def write_colour_sequence(d, n=N):
    d.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        rgb = np.full((H, W, 3), colour(i), np.uint8)
        assert cv2.imwrite(str(d / f"{i:04d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return str(d / "%04d.png")


def write_depth_sequence(d, n=N, size=(W, H)):
    d.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        mm = np.full((size[1], size[0]), 800 + 10 * i, np.uint16)
        mm[0, 0] = 0  # no reading
        assert cv2.imwrite(str(d / f"depth_{i}.png"), mm)  # unpadded numbers: natural order, not 0, 1, 10, 2
    return str(d)


def write_video(path, n=N):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (W, H))
    assert writer.isOpened()
    for i in range(n):
        writer.write(cv2.cvtColor(np.full((H, W, 3), colour(i), np.uint8), cv2.COLOR_RGB2BGR))
    writer.release()
    return str(path)


def test_video_file_frames_are_rgb_in_order_and_end_or_loop(tmp_path):
    video = write_video(tmp_path / "scene.avi")
    with OpenCvRgbdSource(video) as src:
        assert src.frame_size == (W, H) and not src.live and src.kind == "file"
        frames = [src.read() for _ in range(N)]
        assert src.read() is None and src.ended  # a recording that does not loop ends
    for i, f in enumerate(frames):
        assert f.index == i and f.rgb.shape == (H, W, 3) and f.rgb.dtype == np.uint8 and f.depth_mm is None
        np.testing.assert_allclose(f.rgb[H // 2, W // 2], colour(i), atol=6)  # MJPG is lossy
    with OpenCvRgbdSource(video, loop=True) as src:
        idx = [src.read().index for _ in range(2 * N + 1)]
    assert idx == list(range(N)) * 2 + [0]


def test_colour_and_depth_sequences_pair_frame_by_frame(tmp_path):
    pattern = write_colour_sequence(tmp_path / "rgb")
    depth_dir = write_depth_sequence(tmp_path / "depth", n=12)  # longer: the colour ends the pairs
    with OpenCvRgbdSource(pattern, depth_source=depth_dir) as src:
        assert src.kind == "sequence"
        frames = []
        while (f := src.read()) is not None:
            frames.append(f)
    assert len(frames) == N
    for i, f in enumerate(frames):
        np.testing.assert_array_equal(f.rgb[1, 1], colour(i))  # PNG: exact, and RGB (not BGR)
        assert f.depth_mm.dtype == np.uint16 and f.depth_mm[1, 1] == 800 + 10 * i and f.depth_mm[0, 0] == 0


def test_missing_device_file_and_sequence_are_named(tmp_path):
    with pytest.raises(ArtefactError, match="video file not found: .*nope.avi"):
        OpenCvRgbdSource(str(tmp_path / "nope.avi"))
    with pytest.raises(BackendError, match="camera device /dev/video_physworld_test not found"):
        OpenCvRgbdSource("/dev/video_physworld_test")
    with pytest.raises(ArtefactError, match="image sequence .*frames/%04d.png: no file matches"):
        OpenCvRgbdSource(str(tmp_path / "frames" / "%04d.png"))
    with pytest.raises(ArtefactError, match="depth source .*no_depth.*no PNG images"):
        OpenCvRgbdSource(write_video(tmp_path / "v.avi"), depth_source=str(tmp_path / "no_depth"))
    (tmp_path / "junk.avi").write_bytes(b"not a video")
    with pytest.raises(BackendError, match="video file .*junk.avi"):
        OpenCvRgbdSource(str(tmp_path / "junk.avi"))
    with pytest.raises(BackendError, match="camera index 97"):  # no such camera on any test machine
        OpenCvRgbdSource("97")
    with pytest.raises(ConfigError, match="opencv source is empty"):
        OpenCvRgbdSource("  ")


def test_bad_depth_images_and_sizes_are_rejected_with_the_file(tmp_path):
    pattern = write_colour_sequence(tmp_path / "rgb")
    eight_bit = tmp_path / "d8"
    eight_bit.mkdir()
    for i in range(N):
        cv2.imwrite(str(eight_bit / f"{i}.png"), np.full((H, W), 80, np.uint8))
    with pytest.raises(InputError, match=r"depth .*0.png is uint8 .*16-bit single-channel"):
        OpenCvRgbdSource(pattern, depth_source=str(eight_bit))
    small = write_depth_sequence(tmp_path / "dsmall", size=(32, 24))
    with pytest.raises(InputError, match="depth frame 0 .*is 32x24 but colour frame 0 is 64x48: .*registered"):
        OpenCvRgbdSource(pattern, depth_source=small)


def test_combinations_that_cannot_work_are_config_errors(tmp_path):
    depth = write_depth_sequence(tmp_path / "depth")
    with pytest.raises(ConfigError, match="live device"):
        OpenCvRgbdSource("0", depth_source=depth)
    with pytest.raises(ConfigError, match="openni2.* leave depth_source empty"):
        OpenCvRgbdSource("0", api="openni2", depth_source=depth)
    with pytest.raises(ConfigError, match="opencv_width/opencv_height"):
        OpenCvRgbdSource(write_video(tmp_path / "v.avi"), width=640, height=480)
    with pytest.raises(ConfigError, match="not one of"):
        OpenCvRgbdSource("0", api="directshow")


@pytest.mark.skipif(cv2.videoio_registry.hasBackend(cv2.CAP_OPENNI2), reason="this OpenCV has OpenNI2")
def test_openni2_without_the_backend_says_so():
    with pytest.raises(BackendError, match="built without OpenNI2"):
        OpenCvRgbdSource("0", api="openni2")


class FakeOpenNI:
    """Stands in for cv2.VideoCapture(0, CAP_OPENNI2) where OpenCV lacks OpenNI2 (as here): checks
    the calls this module makes (registration on, grab + retrieve of the BGR image and depth map)."""

    def __init__(self, target, api):
        assert (target, api) == (0, cv2.CAP_OPENNI2)
        self.props, self.grabs = {}, 0

    def isOpened(self):
        return True

    def set(self, prop, value):
        self.props[prop] = value
        return True

    def grab(self):
        self.grabs += 1
        return True

    def retrieve(self, image, flag):
        if flag == cv2.CAP_OPENNI_BGR_IMAGE:
            return True, np.full((H, W, 3), (255, 0, 0), np.uint8)  # blue in BGR
        assert flag == cv2.CAP_OPENNI_DEPTH_MAP
        return True, np.full((H, W), 1234, np.uint16)

    def release(self):
        pass


def test_openni2_path_reads_registered_colour_and_depth(monkeypatch):
    monkeypatch.setattr(cv2.videoio_registry, "hasBackend", lambda api: True)
    fakes = []
    src = OpenCvRgbdSource("0", api="openni2", capture_factory=lambda t, a: fakes.append(FakeOpenNI(t, a)) or fakes[0])
    frame = src.read()
    assert fakes[0].props[cv2.CAP_PROP_OPENNI_REGISTRATION] == 1
    np.testing.assert_array_equal(frame.rgb[0, 0], [0, 0, 255])  # converted to RGB
    assert frame.depth_mm.dtype == np.uint16 and frame.depth_mm[0, 0] == 1234
    assert src.live and src.read().index == 1


def test_classify_source():
    assert classify_source("0") == ("index", 0)
    assert classify_source("/dev/video2") == ("device", "/dev/video2")
    assert classify_source("rtsp://cam/stream") == ("url", "rtsp://cam/stream")
    assert classify_source("f/%06d.jpg") == ("sequence", "f/%06d.jpg")
    assert classify_source("a.mp4") == ("file", "a.mp4")


def _calib_yaml(**over) -> dict:
    base = CameraCalibration(W, H, np.array([[50.0, 0, 31.5], [0, 51.0, 23.5], [0, 0, 1]]),
                             D=np.array([0.1, -0.02, 0, 0, 0]), camera_name="webcam").to_yaml_dict()  # fmt: skip
    base.update(over)
    return base


def test_calibration_round_trip_and_fields(tmp_path):
    import yaml

    path = tmp_path / "cam.yaml"
    path.write_text(yaml.safe_dump(_calib_yaml()))
    c = load_calibration(path)
    assert (c.width, c.height, c.camera_name, c.distortion_model) == (W, H, "webcam", "plumb_bob")
    assert c.K[0, 0] == 50.0 and c.K[1, 1] == 51.0 and c.has_distortion
    np.testing.assert_array_equal(c.P[:, :3], c.K)
    intr = c.intrinsics()
    assert (intr.fx, intr.fy, intr.cx, intr.cy) == (50.0, 51.0, 31.5, 23.5)
    c2 = load_calibration(save_calibration(c, tmp_path / "again.yaml"))
    np.testing.assert_array_equal(c2.K, c.K)
    np.testing.assert_array_equal(c2.D, c.D)
    # optional fields: plumb_bob zeros, R = I, P = [K | 0]
    minimal = {k: v for k, v in _calib_yaml().items() if k in ("image_width", "image_height", "camera_matrix")}
    path.write_text(yaml.safe_dump(minimal))
    c3 = load_calibration(path)
    assert not c3.has_distortion and c3.D.shape == (5,) and (c3.R == np.eye(3)).all()


@pytest.mark.parametrize(
    "change, needle",
    [
        ({"camera_matrix": None}, "missing camera_matrix"),
        ({"image_width": 0}, "image_width must be a positive integer"),
        ({"camera_matrix": {"rows": 3, "cols": 3, "data": [1, 2, 3]}}, "camera_matrix.data must hold rows.cols = 9"),
        ({"camera_matrix": {"rows": 3, "cols": 3, "data": [0] * 9}}, "no valid focal length"),
        ({"camera_matrix": {"rows": 2, "cols": 3, "data": [0] * 6}}, "camera_matrix must be 3x3"),
        ({"distortion_model": "fisheye9"}, "distortion_model 'fisheye9' is not one of"),
        ({"distortion_coefficients": {"rows": 1, "cols": 4, "data": [0] * 4}}, "distortion_coefficients must be 1x5"),
        ({"image_width": 8}, "principal point .* outside the 8x48 image"),
        ({"projection_matrix": {"rows": 3, "cols": 4, "data": ["a"] * 12}}, "not a number"),
    ],
)
def test_bad_calibration_fields_are_named(tmp_path, change, needle):
    import yaml

    data = _calib_yaml(**change)
    data = {k: v for k, v in data.items() if v is not None}
    path = tmp_path / "cam.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(InputError, match=needle) as info:
        load_calibration(path)
    assert "cam.yaml" in str(info.value)


def test_missing_or_broken_calibration_file_is_named(tmp_path):
    with pytest.raises(ArtefactError, match="camera calibration file not found: .*gone.yaml"):
        load_calibration(tmp_path / "gone.yaml")
    (tmp_path / "bad.yaml").write_text("image_width: [1,\n")
    with pytest.raises(ArtefactError, match="bad.yaml: not a valid camera calibration YAML"):
        load_calibration(tmp_path / "bad.yaml")


def _cfg(**kw) -> CameraCaptureConfig:
    return CameraCaptureConfig(backend="opencv", **kw)


def test_open_from_config_needs_a_calibration_or_a_fallback(tmp_path):
    import yaml

    pattern = write_colour_sequence(tmp_path / "rgb")
    with pytest.raises(ConfigError, match="needs calibration_file .* or, for an uncalibrated camera, fallback_hfov"):
        open_opencv_source(_cfg(opencv_source=pattern))
    src, calib = open_opencv_source(_cfg(opencv_source=pattern, fallback_hfov_deg=90.0))
    src.close()
    assert (calib.width, calib.height) == (W, H) and calib.K[0, 0] == pytest.approx(W / 2)  # f = w/2 at 90 deg
    assert "fallback" in calib.source
    (tmp_path / "cam.yaml").write_text(yaml.safe_dump(_calib_yaml()))
    src, calib = open_opencv_source(_cfg(opencv_source=pattern, calibration_file=str(tmp_path / "cam.yaml")))
    src.close()
    assert calib.K[0, 0] == 50.0
    (tmp_path / "big.yaml").write_text(yaml.safe_dump(_calib_yaml(image_width=640, image_height=480)))
    with pytest.raises(InputError, match="big.yaml is for 640x480 images but image sequence .* gives 64x48"):
        open_opencv_source(_cfg(opencv_source=pattern, calibration_file=str(tmp_path / "big.yaml")))


def test_fallback_fov_is_validated():
    with pytest.raises(InputError, match=r"\(0, 180\)"):
        CameraCalibration.from_hfov(64, 48, 0.0)
    c = CameraCalibration.from_hfov(64, 48, 60.0)
    assert c.to_yaml_dict()["image_width"] == 64 and c.K[0, 0] == pytest.approx(32 / np.tan(np.deg2rad(30)))
