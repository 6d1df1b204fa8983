// Tests for TesseraTrain.
