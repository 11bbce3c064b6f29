"""Backbones shared by the zoo models."""
