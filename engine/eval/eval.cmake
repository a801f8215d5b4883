# Evaluation (qread/eval.hpp): the synthetic retrieval tasks of `qread eval`, their reports, and
# the side-by-side runs of `qread compare`. Included from engine/CMakeLists.txt after both
# engine libraries exist: the cases and reports need no LibTorch (core); running them goes
# through qread::Reader (engine).
target_sources(qread_engine_core PRIVATE
  eval/cases.cpp
  eval/options.cpp
  eval/report.cpp)
target_sources(qread_engine PRIVATE eval/run.cpp)
