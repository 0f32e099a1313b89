#include "frontend/Frontend.h"

#include "frontend/LowerToIR.h"
#include "frontend/Parser.h"

namespace cnnc {

Graph compileSource(const std::string &source) { return lowerToIR(parseProgram(source)); }

} // namespace cnnc
