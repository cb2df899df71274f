// What a heap-less, OS-less newlib image needs once ExecuTorch's runtime and this delegate are linked in
// (CMake target mcuformer_newlib_stubs, an object library: optional, link it or provide your own).
//
//  - abort: ExecuTorch's minimal platform layer aborts through __builtin_trap, but libstdc++ and newlib reference
//    abort(), whose newlib version needs raise/_kill/_getpid from an OS. Here it traps: the firmware's HardFault
//    handler reports it.
//  - operator delete(void*[, size_t]): every class with a virtual destructor (BackendInterface, MemoryAllocator, ...)
//    has a deleting destructor that references it, even when nothing is ever deleted. Nothing is ever new'd here
//    (no heap), so reaching it is a bug: it traps.
//  - _sbrk: newlib's malloc asks it for memory. It always fails (ENOMEM) so a stray malloc returns nullptr instead of
//    growing into the stack; the image still needs no `end` symbol and no heap region. The delegate and
//    ExecuTorch's runtime never call malloc (ExecuTorch's memory comes from the MemoryManager's pools).
#include <cerrno>
#include <cstddef>

extern "C" {

[[noreturn]] void abort(void) { __builtin_trap(); }

void* _sbrk(ptrdiff_t increment) {
  (void)increment;
  errno = ENOMEM;
  return reinterpret_cast<void*>(-1);
}

}  // extern "C"

void operator delete(void* p) noexcept {
  (void)p;
  __builtin_trap();
}

void operator delete(void* p, std::size_t size) noexcept {
  (void)p;
  (void)size;
  __builtin_trap();
}
