"""Evaluation: utility sweeps on the papers' data sets, closed-form prediction, plots.

Plotting needs matplotlib and SSIM needs scikit-image (``pip install 'dpimage[eval]'``);
both are imported only where used.
"""

from .predict import (
    UtilityPrediction,
    clipped_laplace_moments,
    discrete_laplace_variance,
    predict_dp_blur,
    predict_dp_pix,
    predict_method,
)

__all__ = [
    "UtilityPrediction",
    "clipped_laplace_moments",
    "discrete_laplace_variance",
    "predict_dp_blur",
    "predict_dp_pix",
    "predict_method",
]
