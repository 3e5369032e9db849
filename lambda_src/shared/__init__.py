"""Modules several functions use (run storage, run names, Bedrock and OpenSearch clients, customization data)."""
