"""zplan_train: trains latent models of the image-based tasks on zplan buffers and exports them
as zplan model bundles (docs/model-bundle.md).

Entry point: ``python -m zplan_train --data DIR --task T --out DIR``.
"""

__version__ = "0.1.0"
