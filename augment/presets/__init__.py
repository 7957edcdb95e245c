"""Preset YAML files, shipped as package data."""
