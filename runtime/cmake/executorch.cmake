# Where ExecuTorch is, in either of its two layouts, and which flatbuffers it uses.
#
#   mcuformer_find_executorch(<root>)
#
# <root> is either
#   - the executorch wheel's folder (site-packages/executorch): headers under include/, libexecutorch.so under lib/,
#     flatc 24.3.25 under data/bin/, no runtime sources and no flatbuffers headers; or
#   - a source checkout: runtime/, schema/, third-party/flatbuffers/ at the top. Its sources include
#     <executorch/runtime/...>, so the include folder is a build-tree folder holding one link, executorch -> <root>
#     (a checkout may have any folder name).
# Sets in the caller's scope:
#   MCUFORMER_ET_LAYOUT            wheel | checkout
#   MCUFORMER_ET_INCLUDE_DIRS      include folders for ExecuTorch's headers (with c10's)
#   MCUFORMER_ET_DEFINITIONS       compile definitions every ExecuTorch translation unit needs
#   MCUFORMER_ET_FLATBUFFERS_INCLUDE  the checkout's third-party/flatbuffers/include ("" for the wheel: it ships none)
#   MCUFORMER_ET_FLATBUFFERS_VERSION  the flatbuffers version ExecuTorch pins (checkout: its headers; wheel: its flatc)
#   MCUFORMER_ET_FLATC             the wheel's flatc ("" for a checkout)
#   MCUFORMER_ET_SHARED_LIB        the wheel's libexecutorch.so ("" for a checkout)
include_guard(GLOBAL)
include("${CMAKE_CURRENT_LIST_DIR}/flatbuffers.cmake")

function(mcuformer_find_executorch root)
  if(EXISTS "${root}/include/executorch/runtime/backend/interface.h")
    set(layout wheel)
    set(inc "${root}/include")
    set(c10 "${root}/include/executorch/runtime/core/portable_type/c10")
    set(fb_include "")
    set(flatc "")
    if(EXISTS "${root}/data/bin/flatc")
      set(flatc "${root}/data/bin/flatc")
      mcuformer_flatc_version("${flatc}" fb_version)
    else()
      set(fb_version "")
    endif()
    set(shared_lib "${root}/lib/libexecutorch.so")
    if(NOT EXISTS "${shared_lib}")
      set(shared_lib "")
    endif()
  elseif(EXISTS "${root}/runtime/backend/interface.h" AND EXISTS "${root}/schema/program.fbs")
    set(layout checkout)
    set(inc "${CMAKE_BINARY_DIR}/mcuformer_executorch_include")
    file(MAKE_DIRECTORY "${inc}")
    if(NOT EXISTS "${inc}/executorch/runtime/backend/interface.h")
      file(REMOVE "${inc}/executorch")
      file(CREATE_LINK "${root}" "${inc}/executorch" SYMBOLIC)
    endif()
    set(c10 "${root}/runtime/core/portable_type/c10")
    set(fb_include "${root}/third-party/flatbuffers/include")
    if(NOT EXISTS "${fb_include}/flatbuffers/base.h")
      message(FATAL_ERROR "ExecuTorch checkout ${root} has no third-party/flatbuffers (run "
                          "`git submodule update --init third-party/flatbuffers` in it)")
    endif()
    mcuformer_flatbuffers_header_version("${fb_include}" fb_version)
    set(flatc "")
    set(shared_lib "")
  else()
    message(FATAL_ERROR "MCUFORMER_EXECUTORCH_ROOT='${root}' is neither the executorch wheel's folder "
                        "(<site-packages>/executorch, with include/executorch/runtime/backend/interface.h) nor an "
                        "ExecuTorch source checkout (with runtime/backend/interface.h and schema/program.fbs)")
  endif()
  set(MCUFORMER_ET_LAYOUT "${layout}" PARENT_SCOPE)
  set(MCUFORMER_ET_INCLUDE_DIRS "${inc};${c10}" PARENT_SCOPE)
  set(MCUFORMER_ET_DEFINITIONS C10_USING_CUSTOM_GENERATED_MACROS PARENT_SCOPE)
  set(MCUFORMER_ET_FLATBUFFERS_INCLUDE "${fb_include}" PARENT_SCOPE)
  set(MCUFORMER_ET_FLATBUFFERS_VERSION "${fb_version}" PARENT_SCOPE)
  set(MCUFORMER_ET_FLATC "${flatc}" PARENT_SCOPE)
  set(MCUFORMER_ET_SHARED_LIB "${shared_lib}" PARENT_SCOPE)
endfunction()

# Makes <target>'s own object files part of every executable or shared library that links it, as ExecuTorch does
# for its kernel and backend libraries: a static-init registration object nothing references would otherwise be
# dropped by the linker. Works with CMake 3.20+ (GNU ld / lld).
function(mcuformer_link_whole_archive target)
  target_link_options(${target} INTERFACE
    "SHELL:LINKER:--whole-archive $<TARGET_FILE:${target}> LINKER:--no-whole-archive")
endfunction()
