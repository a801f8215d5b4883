# Model files without LibTorch: config.json, safetensors.
target_sources(qread_engine_core PRIVATE
  common/mapped_file.cpp
  model/model_config.cpp
  model/safetensors.cpp
  model/model_maker.cpp)
