"""Converters: Keras models to every TFLite format, TFMOT bridge, Edge TPU checks, parity suite (needs fer-edge[train])."""
