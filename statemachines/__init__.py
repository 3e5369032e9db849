"""Workflow definitions, built in Python with aws_stepfunctions_tasks (one module per state machine).

``schemas/`` holds each workflow's execution-input JSON Schema (checked by its first state, by the command
line and by tests); ``examples/`` holds example execution inputs to paste into the console.
"""
