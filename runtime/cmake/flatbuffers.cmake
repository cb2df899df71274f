# One flatbuffers per image: the headers and the flatc that generates code for them must be the same version (the
# generated headers static_assert it), and when ExecuTorch's runtime shares the image, that version is ExecuTorch's.
#
#   mcuformer_select_flatbuffers(<out_include> <out_flatc> <out_version> HEADERS <dir or ""> FLATC <path or "">
#                                CANDIDATES <flatc>...)
# takes the given headers folder (the one holding flatbuffers/base.h) and the given flatc, or, for an empty FLATC, the
# first of CANDIDATES (then flatc on PATH) whose version equals the headers'. Fails at configure on a mismatch.
include_guard(GLOBAL)

function(mcuformer_flatbuffers_header_version include_dir out)
  file(STRINGS "${include_dir}/flatbuffers/base.h" v REGEX "#define FLATBUFFERS_VERSION_(MAJOR|MINOR|REVISION) ")
  string(REGEX REPLACE ".*MAJOR ([0-9]+).*MINOR ([0-9]+).*REVISION ([0-9]+).*" "\\1.\\2.\\3" v "${v}")
  set(${out} "${v}" PARENT_SCOPE)
endfunction()

function(mcuformer_flatc_version flatc out)
  execute_process(COMMAND "${flatc}" --version OUTPUT_VARIABLE v RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(rc EQUAL 0 AND v MATCHES "([0-9]+\\.[0-9]+\\.[0-9]+)$")
    set(${out} "${CMAKE_MATCH_1}" PARENT_SCOPE)
  else()
    set(${out} "" PARENT_SCOPE)
  endif()
endfunction()

function(mcuformer_select_flatbuffers out_include out_flatc out_version)
  cmake_parse_arguments(PARSE_ARGV 3 A "" "HEADERS;FLATC" "CANDIDATES")
  if("${A_HEADERS}" STREQUAL "")
    find_path(inc flatbuffers/flatbuffers.h PATHS /usr/include /usr/local/include NO_CACHE NO_CMAKE_FIND_ROOT_PATH)
  else()
    set(inc "${A_HEADERS}")
  endif()
  if(NOT inc OR NOT EXISTS "${inc}/flatbuffers/base.h")
    message(FATAL_ERROR "flatbuffers headers not found (MCUFORMER_FLATBUFFERS_INCLUDE='${A_HEADERS}'): "
                        "apt-get install libflatbuffers-dev, or point MCUFORMER_FLATBUFFERS_INCLUDE at the folder "
                        "holding flatbuffers/base.h")
  endif()
  mcuformer_flatbuffers_header_version("${inc}" want)
  if(NOT "${A_FLATC}" STREQUAL "")
    mcuformer_flatc_version("${A_FLATC}" got)
    if(NOT got STREQUAL want)
      message(FATAL_ERROR "MCUFORMER_FLATC=${A_FLATC} is flatc '${got}' but the flatbuffers headers in ${inc} are "
                          "${want}: the generated code would not compile (or would mix two flatbuffers)")
    endif()
    set(flatc "${A_FLATC}")
  else()
    find_program(path_flatc flatc NO_CACHE NO_CMAKE_FIND_ROOT_PATH)
    set(flatc "")
    set(tried "")
    foreach(c IN LISTS A_CANDIDATES path_flatc)
      if(c AND EXISTS "${c}")
        mcuformer_flatc_version("${c}" got)
        list(APPEND tried "${c} (${got})")
        if(got STREQUAL want)
          set(flatc "${c}")
          break()
        endif()
      endif()
    endforeach()
    if(flatc STREQUAL "")
      list(JOIN tried ", " tried)
      message(FATAL_ERROR "no flatc of version ${want} (the headers in ${inc}); tried: ${tried}. "
                          "Set MCUFORMER_FLATC to a flatc ${want}")
    endif()
  endif()
  set(${out_include} "${inc}" PARENT_SCOPE)
  set(${out_flatc} "${flatc}" PARENT_SCOPE)
  set(${out_version} "${want}" PARENT_SCOPE)
endfunction()
