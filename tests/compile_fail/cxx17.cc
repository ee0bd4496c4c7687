// Must not compile as C++17, and must say why in one error.
#include "fringe/generator/generator.h"
