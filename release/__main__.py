"""``python -m fer_edge.release RUN ...``: release a run as a tier (:func:`fer_edge.release.tier.main`)."""
import sys

from fer_edge.release.tier import main

sys.exit(main())
