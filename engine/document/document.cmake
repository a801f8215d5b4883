# Documents: PDF (poppler-cpp), plain text and Markdown, and the page map. Included from
# engine/CMakeLists.txt.
target_sources(qread_engine_core PRIVATE
  document/document.cpp
  document/text_decode.cpp
  document/text_loader.cpp
  document/pdf_text.cpp
  document/pdf_loader.cpp)

if(QREAD_PDF)
  find_package(PkgConfig REQUIRED)
  # GLOBAL: qread_engine_core is static, so the executables in app/ and tests/ link poppler
  # too and must see this imported target.
  pkg_check_modules(QREAD_POPPLER_CPP REQUIRED IMPORTED_TARGET GLOBAL poppler-cpp)
  # zlib (zlib1g-dev; libtorch-dev and libfreetype-dev pull it in) keeps the page
  # texts deflated while poppler reads the rest (pdf_loader.cpp, TextStore).
  find_package(ZLIB REQUIRED GLOBAL)
  target_link_libraries(qread_engine_core PRIVATE PkgConfig::QREAD_POPPLER_CPP ZLIB::ZLIB)
  target_compile_definitions(qread_engine_core PRIVATE QREAD_WITH_PDF=1)
endif()
target_sources(qread_engine_core PRIVATE document/prompt.cpp)
