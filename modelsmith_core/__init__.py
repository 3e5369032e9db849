"""The core every layer shares: the configuration schema (``config``), the AWS catalogue of models, images and
instance types (``catalogue``), service limits and model lifecycles (``limits``), resource names and tags
(``naming``), and the cost estimator with its price table (``cost``, ``prices.json``).

It imports nothing of the project's other packages: the infrastructure (``stacks``, ``constructs``,
``statemachines``), the runtime code (``lambda_src``, ``sagemaker_src``) and the tools (``modelsmith``: the
command line, the dry run, RAG, the ops bundle) depend on it, never the reverse (``tests/test_layers.py``).
The cost-estimating Lambda function ships this package and nothing else of the project.
"""
