// Moved to the public interface.
#pragma once
#include "qread/chat_template.hpp"
