"""Postprocessing chains: postprocessors applied to an image, one step after another."""
