"""Test helpers shared across test files (import as ``tests.support.<module>``)."""
