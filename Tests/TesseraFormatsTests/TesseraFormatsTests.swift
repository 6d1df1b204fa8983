// Tests for TesseraFormats.
