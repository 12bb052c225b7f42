"""Building blocks of medwave's networks.

:mod:`~medwave.networks.blocks.fields` (warping, velocity integration by scaling and squaring, Jacobian
determinant, with the compiled kernel in :mod:`~medwave.networks.blocks.kernels_numba`),
:mod:`~medwave.networks.blocks.graph` (GEM's visual behaviour graph and Sinkhorn matching) and
:mod:`~medwave.networks.blocks.text` (GEM's offline word tokenizer and text encoder). They sit below the
pipelines (registration, gaze), which import them; nothing here imports a pipeline.
"""
