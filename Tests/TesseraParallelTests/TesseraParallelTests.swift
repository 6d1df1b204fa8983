// Tests for TesseraParallel.
