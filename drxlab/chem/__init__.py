"""Chemistry: composition parsing, oxidation states, element embeddings, composition graphs."""
