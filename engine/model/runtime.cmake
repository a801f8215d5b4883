# The model runtime on LibTorch.
target_sources(qread_engine PRIVATE
  model/rope.cpp
  model/transformer.cpp
  model/language_model.cpp
  memory/dense_memory.cpp)
target_sources(qread_engine_core PRIVATE model/sampling.cpp)
