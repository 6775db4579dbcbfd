// `roomcast dev` is built in tools/dev.cc (roomcast::dev); this adapts it to
// the verb table.
#include "tools/cli/verbs.h"
#include "tools/dev.h"

namespace roomcast::cli {

int Dev(int argc, char** argv) { return tools::DevMain(argc, argv, 2); }

}  // namespace roomcast::cli
