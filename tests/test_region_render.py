"""Region drawing with the published surroundings as a prior: reads the release and the
pixels outside the regions, never the raw pixels inside a region."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import dpimage
from conftest import SAMPLES, flatten_cells, in_boxes, pan_frames, permute_within_cells, run
from dpimage.cli._common import _seeded_rng
from dpimage.privacy.colour import rgb_to_ycocg
from dpimage.regions import dp_blur_regions, dp_pix_regions, method_regions, region_releaser
from dpimage.release import release_cells, release_colour
from dpimage.render.region import fill_unknown, published_mask, render_region
from dpimage.video.regions import region_stream

# two boxes, sides not multiples of the cells (partial cells at their right and bottom)
BOXES = [(151, 43, 293, 196), (20, 300, 101, 337)]
FACE = BOXES[0]



@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return np.asarray(Image.open(SAMPLES / "astronaut.jpg").convert("RGB"))


CASES = [
    ("dp_pix", {"b": 16, "render": "smooth", "colour": "luma-chroma"}, 16),
    ("dp_pix", {"b": 16, "render": "blocks", "colour": "rgb"}, 16),
    ("dp_blur", {"b0": 4, "k": 31, "render": "blocks", "colour": "rgb"}, 4),
]


def _same_release_cells(image, boxes, b, change):
    return in_boxes(image, boxes, lambda crop: change(crop, b))


@pytest.mark.parametrize(("method", "params", "b"), CASES)
@pytest.mark.parametrize("change", [permute_within_cells, flatten_cells])
def test_only_cell_sums_inside_regions_matter(astronaut, method, params, b, change):
    # permuting the pixels of every cell of every region, or replacing them by others with
    # the same cell sums, keeps the releases: under one seed the output must not change
    other = _same_release_cells(astronaut, BOXES, b, change)
    assert (other != astronaut).any()
    out = method_regions(astronaut, BOXES, method, params, rng=3)
    np.testing.assert_array_equal(method_regions(other, BOXES, method, params, rng=3), out)


def test_a_renderer_that_reads_the_regions_fails_the_permutation_test(astronaut):
    # control: the same release drawn with the region's raw pixels exposed (every pixel
    # marked published) changes when the pixels inside the cells move
    other = _same_release_cells(astronaut, [FACE], 16, flatten_cells)
    x0, y0, x1, y1 = FACE
    everything = np.ones(astronaut.shape[:2], bool)
    drawn = []
    for image in (astronaut, other):
        release = release_colour(image[y0:y1, x0:x1], 16, 16, 0.5, rng=1)
        drawn.append(render_region(release, image, everything, (x0, y0)))
    assert (drawn[0] != drawn[1]).any()


@pytest.mark.parametrize("gray", [False, True])
def test_the_renderer_never_reads_the_pixels_it_is_not_given(astronaut, gray):
    image = astronaut.mean(axis=2).astype(np.uint8) if gray else astronaut
    known = published_mask(image.shape, BOXES)
    x0, y0, x1, y1 = FACE
    release = release_cells(image[y0:y1, x0:x1], 16, 16, 0.5, rng=2)
    out = render_region(release, image, known, (x0, y0))
    garbage = np.random.default_rng(0).integers(0, 256, image.shape, dtype=np.uint8)
    scrambled = np.where(known if gray else known[..., None], image, garbage).astype(np.uint8)
    np.testing.assert_array_equal(render_region(release, scrambled, known, (x0, y0)), out)
    # and the region releaser hands it a picture with every region zeroed
    seen = []
    released = region_releaser("dp_pix", {"b": 16}, rng=2)

    def spy(*args, **kwargs):
        seen.append(args[1].copy())
        return render_region(*args, **kwargs)

    import dpimage.regions.release as region_release

    original = region_release.render_region
    region_release.render_region = spy
    try:
        released(image, BOXES, None)
    finally:
        region_release.render_region = original
    for picture in seen:
        assert (picture[~known] == 0).all()
        np.testing.assert_array_equal(picture[known], image[known])


def test_outside_the_boxes_is_the_input_and_none_is_the_crop_release(astronaut):
    before = astronaut.copy()
    out = dp_pix_regions(astronaut, [FACE], rng=7)
    np.testing.assert_array_equal(astronaut, before)
    known = published_mask(astronaut.shape, [FACE])
    np.testing.assert_array_equal(out[known], astronaut[known])
    x0, y0, x1, y1 = FACE
    old = dp_pix_regions(astronaut, [FACE], rng=7, context="none")
    expected = dpimage.dp_pix(astronaut[y0:y1, x0:x1], rng=np.random.default_rng(7))
    np.testing.assert_array_equal(old[y0:y1, x0:x1], expected)
    assert (out[y0:y1, x0:x1] != old[y0:y1, x0:x1]).any()
    with pytest.raises(ValueError, match="context"):
        dp_pix_regions(astronaut, [FACE], rng=7, context="nearby")


def _inside(image, out, boxes):
    inside = ~published_mask(image.shape, boxes)
    return image[inside].astype(np.float64), out[inside].astype(np.float64)


@pytest.mark.parametrize("blur", [False, True])
def test_the_surroundings_bring_the_regions_closer_to_the_photo(astronaut, blur):
    # seeded releases of the face and a strip of the suit: the same noise both ways
    draw = dp_blur_regions if blur else dp_pix_regions
    options = {"k": 31} if blur else {"render": "smooth", "colour": "luma-chroma"}
    errors = {}
    for context in ("none", "border"):
        errors[context] = np.mean([
            ((np.subtract(*_inside(astronaut, draw(astronaut, BOXES, rng=seed, context=context,
                                                    **options), BOXES))) ** 2).mean()
            for seed in range(3)
        ])  # fmt: skip
    assert errors["border"] < 0.9 * errors["none"]


def test_chroma_of_a_small_noisy_box_stays_near_its_surroundings(astronaut):
    # a 40x20 box: one chroma cell, noise far above any colour; its chroma follows the suit's
    box = (40, 330, 80, 350)
    original, out = _inside(astronaut, dp_pix_regions(astronaut, [box], rng=0,
                                                       colour="luma-chroma"), [box])
    _, old = _inside(astronaut, dp_pix_regions(astronaut, [box], rng=0, colour="luma-chroma",
                                               context="none"), [box])
    chroma = [np.hypot(*rgb_to_ycocg(p)[:, 1:].T).mean() for p in (original, out, old)]
    assert abs(chroma[1] - chroma[0]) < abs(chroma[2] - chroma[0])


def test_fill_unknown_keeps_known_pixels_and_fills_smoothly():
    values = np.zeros((40, 60, 1))
    values[:, :30] = 10.0
    values[:, 30:] = 50.0
    known = np.ones((40, 60), bool)
    known[10:30, 15:45] = False
    filled = fill_unknown(np.where(known[..., None], values, 1e9), known)
    np.testing.assert_allclose(filled[known], values[known], atol=1e-3)
    hole = filled[10:30, 15:45, 0]
    assert hole.min() >= 10 - 1e-3 and hole.max() <= 50 + 1e-3
    assert hole[:, 0].mean() < hole[:, -1].mean()  # follows the border: dark left, light right
    assert np.all(fill_unknown(values, np.zeros((40, 60), bool)) == 0)


def test_a_box_with_no_published_pixel_uses_its_own_release(astronaut):
    # the whole image is one region: nothing around it, shrinkage to the release's mean
    h, w = astronaut.shape[:2]
    out = dp_pix_regions(astronaut, [(0, 0, w, h)], rng=0)
    assert out.shape == astronaut.shape and out.dtype == np.uint8
    again = dp_pix_regions(astronaut, [(0, 0, w, h)], rng=0)
    np.testing.assert_array_equal(out, again)


def test_video_frames_read_only_cell_sums_inside_the_regions():
    # two tracks: released in every frame (every=1), or once and then reused (every=None).
    # Permuting inside the cells of every fresh box, and anything at all inside a box
    # whose patch is reused, changes nothing
    frames = pan_frames(4)
    boxes = [(100, 40, 164, 100), (60, 110, 120, 160)]  # near: each reads round the other
    covered = [list(enumerate(boxes)) for _ in frames]

    def stream(clip, every):
        releaser = region_releaser("dp_pix", {"b": 8, "colour": "luma-chroma"}, rng=4,
                                   steady=True)  # as video frames are drawn
        return list(region_stream(clip, covered, releaser, every=every, fresh=[],
                                  track_releases={}))  # fmt: skip

    def permuted(frame, seed):
        return in_boxes(frame, boxes, lambda c: permute_within_cells(c, 8, seed=seed))

    every_frame = [permuted(f, seed) for seed, f in enumerate(frames)]
    reused = [permuted(frames[0], 9)] + [in_boxes(f, boxes, lambda c: 255 - c)
                                         for f in frames[1:]]  # fmt: skip
    for every, changed in ((1, every_frame), (None, reused)):
        assert any((c != f).any() for c, f in zip(changed, frames, strict=True))
        for a, b in zip(stream(frames, every), stream(changed, every), strict=True):
            np.testing.assert_array_equal(a, b)


def test_region_drawing_option(astronaut, tmp_path):
    out = tmp_path / "astro.png"
    result = run("pixelate", SAMPLES / "astronaut.jpg", "-o", out, "--boxes",
                 _boxes_file(tmp_path), "--mask-scale", "1", "--seed", "5",
                 "--region-drawing", "none")  # fmt: skip
    assert result.exit_code == 0, result.output
    expected = dp_pix_regions(astronaut, [FACE], rng=_seeded_rng(5, "astro.png"),
                              render="smooth", colour="luma-chroma", context="none")
    np.testing.assert_array_equal(np.asarray(Image.open(out)), expected)
    manifest = (tmp_path / "astro.png.manifest.json").read_text()
    assert '"drawing": "none"' in manifest
    bad = run("pixelate", SAMPLES / "astronaut.jpg", "-o", tmp_path / "b.png", "--boxes",
              _boxes_file(tmp_path), "--region-drawing", "nearby")  # fmt: skip
    assert bad.exit_code == 2 and "--region-drawing" in bad.output
    assert not (tmp_path / "b.png").exists()


def _boxes_file(folder):
    x0, y0, x1, y1 = FACE
    path = folder / "boxes.json"
    path.write_text(f"[[{x0}, {y0}, {x1 - x0}, {y1 - y0}]]")
    return path


def test_releaser_refuses_a_mask_that_publishes_region_pixels():
    # The renderer reads every pixel the mask calls published: a caller's mask that
    # covers part of a region would hand it raw private pixels.
    image = np.full((32, 32), 100, dtype=np.uint8)
    release = region_releaser("dp_pix", {"b": 8, "m": 4, "eps": 1.0}, 0)
    known = np.ones((32, 32), dtype=bool)
    with pytest.raises(ValueError, match="inside a region"):
        release(image, [(8, 8, 24, 24)], known)
    with pytest.raises(ValueError, match="empty or outside"):
        release(image, [(-4, 8, 24, 24)], None)
