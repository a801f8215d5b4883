# GGUF model files (llama.cpp format) without LibTorch.
target_sources(qread_engine_core PRIVATE model/gguf.cpp model/gguf_model.cpp)
