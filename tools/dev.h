// `roomcast dev`: the whole system in one process with embedded storage and
// no set-up: an origin, a publisher uploading to it, and a demo room with
// synthetic traffic. Prints the URLs (viewer included) and a ready-made
// token; Ctrl-C stops everything cleanly.
#ifndef ROOMCAST_TOOLS_DEV_H_
#define ROOMCAST_TOOLS_DEV_H_

namespace roomcast::tools {

// argv[first..] are the verb's flags. Returns the exit status.
int DevMain(int argc, char** argv, int first);

}  // namespace roomcast::tools

#endif  // ROOMCAST_TOOLS_DEV_H_
