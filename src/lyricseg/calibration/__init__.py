"""Post-hoc calibration of ``P(chorus)``; labels always stay the raw-logit argmax."""

from lyricseg.calibration.auto import AutoCalibrator, two_folds
from lyricseg.calibration.base import (
    Calibrator,
    apply_calibration,
    calibrator_from_dict,
    chorus_margin,
)
from lyricseg.calibration.fitting import cross_fitted_probs, fit_calibration
from lyricseg.calibration.isotonic import IsotonicCalibrator
from lyricseg.calibration.reliability import reliability_data
from lyricseg.calibration.scalers import PlattScaler, TemperatureScaler

__all__ = [
    "AutoCalibrator",
    "Calibrator",
    "IsotonicCalibrator",
    "PlattScaler",
    "TemperatureScaler",
    "apply_calibration",
    "calibrator_from_dict",
    "chorus_margin",
    "cross_fitted_probs",
    "fit_calibration",
    "reliability_data",
    "two_folds",
]
