// How idle OpenMP threads wait: qread's default, applied by starting the process again.
//
// LibTorch (and OpenBLAS in its OpenMP build) run their CPU work on libgomp's threads, which by
// default spin for a long while (GOMP_SPINCOUNT 300,000) before they sleep. On a busy machine
// the spinning threads take the cores that the working ones need. Measured on 2 cores with the
// built-in model, Q-LLM, a 2K prompt (`qread bench`; prefill, then decode per token):
//                            idle machine        beside two busy processes
//   libgomp's default        4.7 s, 106 ms       48 s, 1557 ms
//   GOMP_SPINCOUNT=30000     4.7-5.0 s, 115-125  22.7 s, 443 ms
//   OMP_WAIT_POLICY=passive  7.4 s, 191 ms       8.7 s, 465 ms
// 30,000 costs about a tenth of the decode speed on an idle machine and keeps a busy one usable
// (2 to 3.5 times faster there). libgomp reads these variables once, when it is loaded, before
// main() (and glibc sets up the environment only after the executable's pre-initialisers, too
// late to set them there), so the only way to apply a default is to start again with it set.
#pragma once

#include <cstdlib>
#include <unistd.h>

namespace qread::app {

// When neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT is set, sets GOMP_SPINCOUNT=30000 and starts
// this program again with the same arguments (about 0.4 s: LibTorch is loaded twice); a user's
// own setting is kept. Returns only where there is nothing to do or the new start fails.
inline void relaunch_with_openmp_defaults(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT")) return;
  if (setenv("GOMP_SPINCOUNT", "30000", 0) != 0) return;
  execv("/proc/self/exe", argv);
  unsetenv("GOMP_SPINCOUNT");  // not started again: libgomp keeps its default, and says so
}

}  // namespace qread::app
