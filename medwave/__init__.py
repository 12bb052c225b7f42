"""medwave: exact, fast, differentiable wavelets for medical and volumetric imaging."""

__version__ = "0.1.0"
