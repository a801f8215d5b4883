# The model runtime on LibTorch.
target_sources(qread_engine PRIVATE
  model/rope.cpp
  model/fused_ops.cpp
  model/transformer.cpp
  model/language_model.cpp
  memory/dense_memory.cpp)
target_sources(qread_engine_core PRIVATE model/sampling.cpp)
target_sources(qread_engine PRIVATE
  memory/multi_stage_attention.cpp
  memory/phase_profile.cpp
  memory/sink_window_memory.cpp
  memory/block_store.cpp
  memory/block_memory.cpp
  memory/quest_memory.cpp
  memory/memory_factory.cpp)
