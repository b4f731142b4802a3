"""fer-edge: facial emotion recognition for edge devices (numpy + OpenCV + LiteRT, no TensorFlow).

    from fer_edge import EmotionRecognizer
    with EmotionRecognizer.create_from_model_path() as rec:
        faces = rec.recognize(bgr_image)
"""
__version__ = "0.4.6"

_LAZY = {
    "EmotionRecognizer": "recognizer", "RecognizerOptions": "options", "RunningMode": "options",
    "DetectorOptions": "options", "TrackingOptions": "options",
    "FaceResult": "results", "FrameResult": "results", "EmotionClassifier": "classifier",
    "Emotion": "classifier", "SmoothingOptions": "tracking", "ModelMetadata": "metadata",
    "Preprocessing": "preprocessing", "make_interpreter": "interpreter", "FER2013_CLASSES": "labels",
    "ImageError": "errors", "ModelError": "errors", "MetadataError": "errors", "DelegateError": "errors",
    "InferenceError": "errors", "RuntimeMissingError": "errors",
}


def __getattr__(name):
    """Import the public API on first use, so ``import fer_edge`` stays cheap on a Pi."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'fer_edge' has no attribute {name!r}")


__all__ = sorted(_LAZY)
