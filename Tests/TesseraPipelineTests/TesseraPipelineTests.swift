// Tests for TesseraPipeline.
