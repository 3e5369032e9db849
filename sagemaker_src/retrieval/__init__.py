"""Fine-tuning of a bi-encoder (sentence-transformers) for passage retrieval.

``python -m sagemaker_src.retrieval.train`` trains on the retrieval pipeline's query/passage pairs with
in-batch negatives and writes the model and ``metrics.json`` (base vs fine-tuned nDCG@10, MRR@10 and
recall@1/10/100 on held-out pairs). See :mod:`sagemaker_src.retrieval.train`.
"""
