"""The Lambda functions' code, one subpackage per function, and ``shared``: modules several functions use.

Each function's asset holds this package with its own subpackage (and ``shared`` where it uses it), and its
handler is ``lambda_src.<function>.handler.lambda_handler``; the command line and the tests import the same
modules by the same names.
"""
