"""Action recognition on one video file: the code behind notebook 08's widget and
``python -m helpers predict``.

    from helpers.inference import load_predictor, predict_video
    predictor = load_predictor()                 # models/moe_split1_best.pth
    result = predict_video("clip.mp4", model=predictor, top_k=5)
    result.top[0]                                 # ("move_left", 0.93)

Names load lazily so importing the package costs nothing.
"""
from __future__ import annotations

from helpers._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "Predictor": "predictor", "load_predictor": "predictor", "default_checkpoint": "predictor",
    "InferenceError": "predictor", "NoCheckpointError": "predictor", "TRAINING_NOTEBOOK": "predictor",
    "predictor_from_model": "predictor", "MissingMetadataError": "types",
    "Prediction": "predict", "predict_video": "predict", "predict_frames": "predict",
    "model_for_clip": "predict", "sound_predictor": "predict", "readable_reason": "predict",
    "with_runtime": "runtime", "RUNTIMES": "runtime", "onnx_cache_path": "runtime",
    "main": "cli",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS, globals())
