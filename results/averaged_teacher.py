"""The averaged teacher of the stable default: c1 and c6 (their val-picked weights), each face's probabilities
averaged over the face, its four one-pixel shifts and the mirror image of each (20 views).

Run from the repository root (about 10 minutes on 2 cores):
    python results/averaged_teacher.py results/campaign/c1-c6-averaged-teacher/probs.npz
"""
import sys
from pathlib import Path

from fer_edge.training.distill import write_teacher_cache
from fer_edge.training.train import best_weights
from fer_edge.training.views import ONE_PIXEL

RUNS = ("results/campaign/c1-edge-s-e120", "results/campaign/c6-edge-s-e120-kd-teacher")

if __name__ == "__main__":
    dest = Path(sys.argv[1])
    dest.parent.mkdir(parents=True, exist_ok=True)
    write_teacher_cache([best_weights(r) for r in RUNS], "../shared/datasets/fer2013", dest,
                        shifts=ONE_PIXEL, with_mirror=True)
