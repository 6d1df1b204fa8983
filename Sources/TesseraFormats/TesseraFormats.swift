// TesseraFormats: real file formats read exactly and refused clearly when damaged:
// safetensors (single and sharded), GGUF v3, Hugging Face tokenizer.json and GGUF-embedded tokenizers.
