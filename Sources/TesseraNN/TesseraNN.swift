// TesseraNN: single-device layers with explicit forward and backward passes (each keeps what its
// backward needs, as llm.c does), parameters addressed by Hugging Face names, AdamW and learning-rate schedules.
