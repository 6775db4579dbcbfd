// `roomcast dev`: the whole system in one process with embedded storage and
// no set-up: an origin, a publisher uploading to it, a demo room with
// synthetic traffic and a private demo room beside it (DESIGN §12). Prints
// the URLs (viewers included: the private one with its edge token) and
// ready-made tokens; Ctrl-C stops everything cleanly.
#ifndef ROOMCAST_TOOLS_DEV_H_
#define ROOMCAST_TOOLS_DEV_H_

namespace roomcast::tools {

// argv[first..] are the verb's flags. Returns the exit status.
int DevMain(int argc, char** argv, int first);

}  // namespace roomcast::tools

#endif  // ROOMCAST_TOOLS_DEV_H_
