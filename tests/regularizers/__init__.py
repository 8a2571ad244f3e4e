"""Tests of verify.regularizers (the regularizer checker)."""
