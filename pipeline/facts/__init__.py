"""Numeric verification: extract numbers, store facts, check claims."""
