// Tests for TesseraPlanner.
