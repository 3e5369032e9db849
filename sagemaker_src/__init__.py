"""Training and inference entry points that run on SageMaker, on the GPU training instance and locally."""
