"""Video release: PyAV I/O, the frame loop and privacy accounting across frames.

Needs the ``video`` extra (PyAV): ``pip install 'dpimage[video]'``. The
accounting functions are pure and import nothing heavy.
"""

from .accounting import (
    VideoAccounting,
    account,
    accumulate_manifest,
    compose,
    full_frame_release_frames,
    region_release_frames,
    split_budget,
)
from .process import Progress, TruncatedVideoError, process_video, run_to_end
from .regions import RegionSettings
from .settings import VideoResult, VideoSettings

__all__ = [
    "Progress",
    "RegionSettings",
    "TruncatedVideoError",
    "VideoAccounting",
    "VideoResult",
    "VideoSettings",
    "account",
    "accumulate_manifest",
    "compose",
    "full_frame_release_frames",
    "process_video",
    "region_release_frames",
    "run_to_end",
    "split_budget",
]
