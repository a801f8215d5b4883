# Run configuration: YAML -> RunConfig (qread/config.hpp). Included from engine/CMakeLists.txt.
# GLOBAL: qread_engine_core is static, so the executables in app/ and tests/ link yaml-cpp too
# and must see its imported target (the GPU machine has it in a prefix, not on the default path).
find_package(yaml-cpp REQUIRED GLOBAL)
target_sources(qread_engine_core PRIVATE
  config/config.cpp
  config/config_text.cpp)
# yaml-cpp 0.7 (Debian 12) names its target yaml-cpp; 0.8 names it yaml-cpp::yaml-cpp.
if(TARGET yaml-cpp::yaml-cpp)
  target_link_libraries(qread_engine_core PRIVATE yaml-cpp::yaml-cpp)
else()
  target_link_libraries(qread_engine_core PRIVATE yaml-cpp)
endif()
