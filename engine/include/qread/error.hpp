// Errors the engine reports. Messages name the file, field or value at fault.
#pragma once

#include <stdexcept>
#include <string>

namespace qread {

// Something went wrong while running (I/O failure, out of memory, a bug). CLI exit code 1.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The user's input is at fault: a file that is missing, truncated or malformed, a bad config
// value, an unsupported model. CLI exit code 2.
class InputError : public Error {
 public:
  using Error::Error;
};

// Work stopped because cancel was requested.
class Cancelled : public Error {
 public:
  Cancelled() : Error("cancelled") {}
};

}  // namespace qread
