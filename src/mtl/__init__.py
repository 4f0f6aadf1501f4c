"""mtl: multi-task Keras models, data and training, with no knowledge of any search engine."""
