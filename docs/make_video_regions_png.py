"""Make docs/video-regions.png: frame 100 of PETS-2009 vtest.avi, three ways.

Original | ``dpimage video --people`` (DP-Pix on the tracked boxes only) |
full-frame DP-Pix, defaults b=16, m=16, eps=0.5 (secure noise, not seeded).
Thumbnails 384x288, 256-colour PNG. Needs `make data` (or DPIMAGE_DATA).

Run:  python docs/make_video_regions_png.py
"""

from __future__ import annotations

import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

import dpimage
from dpimage.datasets import find_vtest
from dpimage.video import RegionSettings, VideoSettings, process_video, run_to_end
from dpimage.video.io import VideoWriter, read_frames

FRAME = 100
OUT = Path(__file__).with_name("video-regions.png")


def main() -> None:
    frames = []
    for i, frame in enumerate(read_frames(find_vtest())):
        if i == FRAME + 20:
            break
        frames.append(frame)
    with tempfile.TemporaryDirectory() as tmp:
        clip, people = Path(tmp) / "clip.mp4", Path(tmp) / "people.mp4"
        with VideoWriter(clip, width=768, height=576, rate=Fraction(10)) as writer:
            for frame in frames:
                writer.write(frame)
        settings = VideoSettings(regions=RegionSettings("people", detect_every=5, carry=10))
        run_to_end(process_video(clip, people, settings))
        released = list(read_frames(people))[FRAME]
    panels = [frames[FRAME], released, dpimage.dp_pix(frames[FRAME])]
    thumbs = [np.asarray(Image.fromarray(p).resize((384, 288), Image.LANCZOS)) for p in panels]
    picture = Image.fromarray(np.concatenate(thumbs, axis=1))
    picture.quantize(colors=256, dither=Image.Dither.NONE).save(OUT, optimize=True)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
