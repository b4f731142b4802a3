"""Training: FER2013 data, recipes, Keras 3 models, search and evaluation reports (needs fer-edge[train])."""
