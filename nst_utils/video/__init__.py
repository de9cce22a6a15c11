"""Painting a clip (notebook 09): optical flow and warping, clips, and the temporal term of
Ruder, Dosovitskiy & Brox (2016)."""
