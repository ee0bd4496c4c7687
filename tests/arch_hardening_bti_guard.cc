// Turns BTI enforcement on for the test executable it is linked into
// (--config=aarch64_bti links it into every test; see .bazelrc).
//
// Why by hand: enforcement needs the executable's text mapped PROT_BTI, and
// loaders (Linux, qemu-user, glibc's ld.so) do that only for an executable
// whose GNU property note claims BTI. Debian's glibc start files (Scrt1.o,
// crti.o, crtbeginS.o) and libgcc.a carry no BTI note and no landing pads:
// linking with -z force-bti claims BTI anyway, and the program then dies at
// the loader's `br` to _start, before any test runs. So the executable is
// linked as usual (not claiming BTI), and a GoogleTest environment guards its
// text for the tests and unguards it after them: outside, start-up and exit
// code that is not ours is called indirectly (frame_dummy, libgcc's
// init_have_lse_atomics, __do_global_dtors_aux, _fini). Everything the tests
// run is compiled with -mbranch-protection=standard and must carry its own
// landing pads, which is what the suite then proves.

#include <link.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "gtest/gtest.h"

#ifndef PROT_BTI
#define PROT_BTI 0x10  // asm/mman.h of arm64 Linux
#endif

namespace {

// mprotect()s every executable segment of the main program with `prot`.
void ProtectMainProgramText(int prot) {
  dl_iterate_phdr(
      [](dl_phdr_info* info, std::size_t, void* data) -> int {
        const int prot = *static_cast<int*>(data);
        const auto page = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const ElfW(Phdr)& segment = info->dlpi_phdr[i];
          if (segment.p_type != PT_LOAD || (segment.p_flags & PF_X) == 0) {
            continue;
          }
          const std::uintptr_t begin = info->dlpi_addr + segment.p_vaddr;
          const std::uintptr_t start = begin & ~(page - 1);
          const std::uintptr_t end = begin + segment.p_memsz;
          if (mprotect(reinterpret_cast<void*>(start), end - start, prot) !=
              0) {
            std::fprintf(stderr,
                         "arch_hardening_bti_guard: mprotect(PROT_BTI) of the "
                         "test's text failed (%s); this configuration needs a "
                         "CPU with BTI (qemu-aarch64 -cpu max)\n",
                         std::strerror(errno));
            std::abort();
          }
        }
        return 1;  // The first object listed is the main program.
      },
      &prot);
}

class BtiGuard : public ::testing::Environment {
 public:
  void SetUp() override {
    ProtectMainProgramText(PROT_READ | PROT_EXEC | PROT_BTI);
  }
  void TearDown() override { ProtectMainProgramText(PROT_READ | PROT_EXEC); }
};

// GoogleTest takes ownership.
::testing::Environment* const bti_guard =
    ::testing::AddGlobalTestEnvironment(new BtiGuard);

}  // namespace
