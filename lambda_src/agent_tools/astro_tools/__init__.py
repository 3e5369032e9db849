"""Astronomy research tools behind the Bedrock agent's action group.

Plain modules that also run outside Lambda: ``simbad_lookup`` (name resolution), ``gaia_search`` (Gaia DR3
cone search), ``selection`` (colour/magnitude cuts on a stored result), ``literature`` (NASA ADS),
``plots`` (colour-magnitude and sky plots) and ``storage`` (CSV and PNG outputs in S3 with presigned links).
``api`` exposes them as typed routes of a Powertools ``BedrockAgentResolver``; the OpenAPI schema the agent
reads is generated from those routes (``python -m astro_tools.openapi``).
"""
