# qread_add_test(NAME name SOURCES ... [LIBS ...] [GUI] [LABELS ...] [TIMEOUT s])
# One Qt Test executable, registered with CTest. GUI tests run on the offscreen platform.
function(qread_add_test)
  cmake_parse_arguments(T "GUI" "NAME;TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  set_target_properties(${T_NAME} PROPERTIES AUTOMOC ON
    RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  target_link_libraries(${T_NAME} PRIVATE Qt6::Test qread_test_support ${T_LIBS})
  qread_warnings(${T_NAME})
  add_test(NAME ${T_NAME} COMMAND ${T_NAME})
  set(_env "QREAD_SOURCE_DIR=${PROJECT_SOURCE_DIR}"
           "QREAD_BINARY_DIR=${CMAKE_BINARY_DIR}"
           "LSAN_OPTIONS=suppressions=${PROJECT_SOURCE_DIR}/tests/support/lsan.supp"
           "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
  if(T_GUI)
    list(APPEND _env QT_QPA_PLATFORM=offscreen)
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  set_tests_properties(${T_NAME} PROPERTIES ENVIRONMENT "${_env}" TIMEOUT ${T_TIMEOUT}
    LABELS "${T_LABELS}")
endfunction()
