"""The shortest fer-edge program: emotions of every face in one picture."""
import sys

import cv2

from fer_edge import EmotionRecognizer

image = cv2.imread(sys.argv[1] if len(sys.argv) > 1 else "examples/images/group.jpg")
with EmotionRecognizer.create_from_model_path() as recognizer:  # the bundled INT8 model
    for face in recognizer.recognize(image):
        print(face.box, face.emotion, f"{face.emotion_score:.2f}")
