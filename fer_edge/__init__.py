"""fer-edge: facial emotion recognition for edge devices (numpy + OpenCV + LiteRT, no TensorFlow)."""
__version__ = "0.1.0"
