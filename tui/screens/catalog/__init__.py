"""Choosing a model: the catalog and its weights picker."""
