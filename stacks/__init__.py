"""Deployment units. Each stack composes constructs from ``constructs/``; none holds business logic."""
