"""dpimage: share images with a provable differential-privacy guarantee.

The public API is four mechanisms on NumPy arrays and the noise-scale map::

    import dpimage
    dpimage.np_pix(image, b=16)
    dpimage.dp_pix(image, b=16, m=16, eps=0.5, rng=None)
    dpimage.np_blur(image, k=99)
    dpimage.dp_blur(image, b0=4, k=99, m=16, eps=0.5, rng=None)
    dpimage.cell_noise_scale(shape, b=16, m=16, eps=0.5)
    dpimage.dp_pix(image, ..., render="smooth")   # the same release, another renderer

Underneath: :func:`dpimage.release.release_cells` is the one private step
(image -> noisy cell means, a :class:`dpimage.release.Release`),
:mod:`dpimage.render` the post-processing, and :mod:`dpimage.methods` the one
table of methods (names, aliases, parameters, privacy map).
"""

from importlib.metadata import PackageNotFoundError, version

from .mechanisms import dp_blur, dp_pix, np_blur, np_pix
from .release import cell_noise_scale

try:
    __version__ = version("dpimage")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+unknown"

__all__ = ["__version__", "cell_noise_scale", "dp_blur", "dp_pix", "np_blur", "np_pix"]
