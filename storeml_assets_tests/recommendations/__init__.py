"""Tests of the recommendations family."""
