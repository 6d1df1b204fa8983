// TesseraTrain: the training loop over any mesh, the deterministic data order, evaluation and generation.
