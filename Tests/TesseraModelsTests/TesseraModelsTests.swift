// Tests for TesseraModels.
