// TesseraModels: GPT-2 and Llama configurations (Hugging Face config.json), the transformer assembled
// from parallel layers, and loading/saving of Hugging Face and GGUF checkpoints on any layout.
