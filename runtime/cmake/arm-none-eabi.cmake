# CMake toolchain file: bare-metal Cortex-M7 (STM32F746 class) with Debian's arm-none-eabi GCC 12.
#
#   cmake -S <src> -B <build> -DCMAKE_TOOLCHAIN_FILE=runtime/cmake/arm-none-eabi.cmake
#
# Code generation: Cortex-M7, single-precision FPv5 (the F746 has no double-precision FPU), hard-float ABI, Thumb-2,
# -O2, no exceptions, no RTTI, one section per function/object so the linker can drop what is unused
# (--gc-sections). C++ statics register no destructors (-fno-use-cxa-atexit: there is no exit path and no
# __dso_handle without crt0) and need no guard locks (-fno-threadsafe-statics: single thread, no __cxa_guard_*).
#
# Include paths: arm-none-eabi-g++ searches only its own newlib sysroot. It must never see the host's /usr/include
# (glibc headers would silently break the build). Host-only header libraries such as flatbuffers are put on the path
# through a folder of their own (see examples/stm32f746/CMakeLists.txt: a build-time symlink dir holding only
# `flatbuffers/`).
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)

set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_CXX_COMPILER arm-none-eabi-g++)
set(CMAKE_ASM_COMPILER arm-none-eabi-gcc)
set(CMAKE_OBJCOPY arm-none-eabi-objcopy CACHE FILEPATH "objcopy for the target")
set(CMAKE_SIZE arm-none-eabi-size CACHE FILEPATH "size for the target")
set(CMAKE_NM arm-none-eabi-nm CACHE FILEPATH "nm for the target")

# Compiler checks cannot link a bare-metal executable without a linker script: test with a static library.
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)

set(MCU_CPU_FLAGS "-mcpu=cortex-m7 -mfpu=fpv5-sp-d16 -mfloat-abi=hard -mthumb")
set(MCU_COMMON_FLAGS "${MCU_CPU_FLAGS} -O2 -ffunction-sections -fdata-sections")

set(CMAKE_C_FLAGS_INIT "${MCU_COMMON_FLAGS}")
set(CMAKE_CXX_FLAGS_INIT
    "${MCU_COMMON_FLAGS} -fno-exceptions -fno-rtti -fno-use-cxa-atexit -fno-threadsafe-statics")
set(CMAKE_ASM_FLAGS_INIT "${MCU_CPU_FLAGS}")
set(CMAKE_EXE_LINKER_FLAGS_INIT "${MCU_CPU_FLAGS} -Wl,--gc-sections")

# Keep -O2 whatever CMAKE_BUILD_TYPE says (the defaults would switch Release to -O3).
foreach(lang C CXX)
  set(CMAKE_${lang}_FLAGS_RELEASE_INIT "-DNDEBUG")
  set(CMAKE_${lang}_FLAGS_MINSIZEREL_INIT "-DNDEBUG")
  set(CMAKE_${lang}_FLAGS_RELWITHDEBINFO_INIT "-g -DNDEBUG")
  set(CMAKE_${lang}_FLAGS_DEBUG_INIT "-g")
endforeach()

# Find target libraries/headers only in the (empty) target root; host programs (flatc) from the host.
set(CMAKE_FIND_ROOT_PATH "")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

set(MCUFORMER_TARGET_CORTEX_M7 ON)
