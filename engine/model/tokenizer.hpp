// Moved to the public interface.
#pragma once
#include "qread/tokenizer.hpp"
