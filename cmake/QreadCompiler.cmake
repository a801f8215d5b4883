# Compiler setup shared by every project target: ccache, warnings, sanitizers.

find_program(QREAD_CCACHE ccache)
if(QREAD_CCACHE)
  # Precompiled headers need these sloppiness settings to be cacheable.
  set(_launcher ${CMAKE_COMMAND} -E env
      CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
      ${QREAD_CCACHE})
  set(CMAKE_CXX_COMPILER_LAUNCHER ${_launcher})
  set(CMAKE_CUDA_COMPILER_LAUNCHER ${_launcher})
endif()

if(QREAD_SANITIZE)
  set(_sanitize -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_compile_options("$<$<COMPILE_LANGUAGE:CXX>:${_sanitize}>")
  add_link_options(${_sanitize})
endif()

# Warnings for code we write; third-party headers come in as SYSTEM includes.
function(qread_warnings target)
  set(_flags -Wall -Wextra -Wpedantic)
  if(QREAD_WERROR)
    list(APPEND _flags -Werror)
  endif()
  target_compile_options(${target} PRIVATE "$<$<COMPILE_LANGUAGE:CXX>:${_flags}>")
  if(QREAD_WERROR)
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:-Werror=all-warnings>)
  endif()
endfunction()
