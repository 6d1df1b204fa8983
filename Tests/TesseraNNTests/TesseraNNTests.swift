// Tests for TesseraNN.
