"""The engine (no Qt, no napari), in the order data flows: encoder, training, embedding, pipeline."""
