// Where the context memories spend their time, for performance work: with QREAD_PROFILE=1 in
// the environment, the host time spent in each named phase is summed and printed to stderr at
// exit. On CUDA that is launch time, plus any wait for the device in a phase that synchronises;
// QREAD_PROFILE=sync waits for the device at the end of every phase, so that each phase is
// charged its own device time (and everything runs serialised, slower). QREAD_PROFILE=gpu
// records CUDA events on the current stream at each phase's ends instead and sums the device
// time between them: when the device is the bottleneck (always busy), what each phase's work
// costs it, without serialising anything. Beside it, the host's time in the phase (without the
// profile's own event calls): a phase whose device time is about its host time, or less, and
// has little device work of its own, most likely kept the device waiting for the host.
// QREAD_PROFILE=ops sums the host time of the ATen operators called in each phase (the
// outermost ones: what they call is inside them), by phase and operator, besides the phases'
// host times: where the host's time per phase goes.
#pragma once

namespace qread::memory {

class PhaseScope {
 public:
  explicit PhaseScope(const char* name);
  ~PhaseScope();
  PhaseScope(const PhaseScope&) = delete;
  PhaseScope& operator=(const PhaseScope&) = delete;

 private:
  const char* name_;
  double start_ = 0;
  void* begin_event_ = nullptr;  // gpu mode
  const char* outer_ = nullptr;  // ops mode: the phase this one is inside
};

}  // namespace qread::memory
