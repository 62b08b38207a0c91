"""Reconstruction of the physical world model from a generated video (PhysWorld section III-A).

One module per stage, each a set of small functions testable on its own:

- ``depth``: video depth estimation (relative, affine-invariant depth per frame).
- ``align``: eq. 1, robust (Huber/IRLS) global scale and shift against the captured metric depth.
- ``gravity``: eq. 2, RANSAC support plane and the minimal (Rodrigues) rotation to the world up axis.
- ``segment``: first-frame segmentation into support plane, objects and background.
- ``meshing``: closed object meshes from one-sided points; background completion under the
  object-on-ground assumption and height-map triangulation.
- ``properties``: physical properties (mass, friction) per object category.

Submodules are not imported here so that importing one stage does not pull in the others'
dependencies (torch, transformers, open3d).
"""
