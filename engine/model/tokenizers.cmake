# Tokenizers and chat templates, in qread_engine_core (no LibTorch), plus the SentencePiece shim.
#
# SentencePiece is only ever linked into the shared library qread_spm, which the engine
# dlopen()s (see model/spm_library.hpp): Debian's libsentencepiece carries a protobuf that
# collides with LibTorch's. Nothing else may link sentencepiece.

find_path(QREAD_SENTENCEPIECE_INCLUDE_DIR sentencepiece_processor.h)
find_library(QREAD_SENTENCEPIECE_LIBRARY sentencepiece)
find_library(QREAD_SENTENCEPIECE_TRAIN_LIBRARY sentencepiece_train)
if(NOT QREAD_SENTENCEPIECE_INCLUDE_DIR OR NOT QREAD_SENTENCEPIECE_LIBRARY OR NOT QREAD_SENTENCEPIECE_TRAIN_LIBRARY)
  message(FATAL_ERROR "SentencePiece not found (headers: ${QREAD_SENTENCEPIECE_INCLUDE_DIR}, "
    "libraries: ${QREAD_SENTENCEPIECE_LIBRARY} ${QREAD_SENTENCEPIECE_TRAIN_LIBRARY}); install libsentencepiece-dev")
endif()

# PCRE2 (8-bit code units) for the regex pre-tokenizers of tokenizer.json.
find_path(QREAD_PCRE2_INCLUDE_DIR pcre2.h)
find_library(QREAD_PCRE2_LIBRARY pcre2-8)
if(NOT QREAD_PCRE2_INCLUDE_DIR OR NOT QREAD_PCRE2_LIBRARY)
  message(FATAL_ERROR "PCRE2 not found; install libpcre2-dev")
endif()

# ICU for the NFC normalizer of Qwen2's tokenizer.json. Optional: without it text passes
# unnormalized (the same as HF for any text already in NFC).
find_package(ICU COMPONENTS uc QUIET)

# --- the shim: the only binary that links sentencepiece ---
add_library(qread_spm SHARED model/spm_shim/qread_spm.cpp)
target_include_directories(qread_spm SYSTEM PRIVATE ${QREAD_SENTENCEPIECE_INCLUDE_DIR})
target_link_libraries(qread_spm PRIVATE ${QREAD_SENTENCEPIECE_TRAIN_LIBRARY} ${QREAD_SENTENCEPIECE_LIBRARY})
# Only the extern "C" API is exported; sentencepiece's C++ symbols stay inside.
set_target_properties(qread_spm PROPERTIES
  CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON
  LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/lib)
target_link_options(qread_spm PRIVATE
  "-Wl,--version-script=${CMAKE_CURRENT_SOURCE_DIR}/model/spm_shim/qread_spm.map")
set_property(TARGET qread_spm APPEND PROPERTY LINK_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/model/spm_shim/qread_spm.map)
if(NOT QREAD_SANITIZE)
  target_link_options(qread_spm PRIVATE -Wl,--no-undefined)
endif()
qread_warnings(qread_spm)
install(TARGETS qread_spm LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/qread)

# --- the engine side ---
target_sources(qread_engine_core PRIVATE
  model/tokenizer.cpp
  model/bpe_tokenizer.cpp
  model/sentencepiece_tokenizer.cpp
  model/spm_library.cpp
  model/chat_template.cpp
  model/tokenizer_training.cpp)
target_include_directories(qread_engine_core SYSTEM PRIVATE ${QREAD_PCRE2_INCLUDE_DIR})
target_link_libraries(qread_engine_core PRIVATE ${QREAD_PCRE2_LIBRARY} ${CMAKE_DL_LIBS})
# Last place the loader looks for the shim: where `make install` puts it.
set_source_files_properties(model/spm_library.cpp PROPERTIES COMPILE_DEFINITIONS
  "QREAD_SPM_INSTALLED_PATH=\"${CMAKE_INSTALL_FULL_LIBDIR}/qread/libqread_spm.so\"")
set_property(GLOBAL PROPERTY QREAD_TOKENIZER_NFC ${ICU_FOUND})  # for the tests
if(ICU_FOUND)
  target_link_libraries(qread_engine_core PRIVATE ICU::uc)
  set_source_files_properties(model/bpe_tokenizer.cpp PROPERTIES COMPILE_DEFINITIONS QREAD_WITH_ICU=1)
else()
  message(STATUS "ICU not found: tokenizer.json NFC normalizers pass text unchanged")
endif()
# Whatever links the engine can load tokenizer.model: build the shim first.
add_dependencies(qread_engine_core qread_spm)
