"""Helpers shared by the tests (real servers, real files)."""
