// TesseraParallel: the conjugate mappings and the tensor-, sequence-, pipeline- and data-parallel
// machinery built on them. Layers here call only the mappings, never the communicator.
