"""Causal feature pipelines: declared once, computed in batch and online identically."""

from tradeloom.research.features.pipeline import Feature, FeaturePipeline, OnlineFeatures

__all__ = ["Feature", "FeaturePipeline", "OnlineFeatures"]
