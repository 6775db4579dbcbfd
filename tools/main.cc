// roomcast: the command-line client (DESIGN §8). A thin dispatcher; each
// verb lives in tools/cli/ and parses its own flags.
#include <cstring>
#include <iostream>

#include "tools/cli/verbs.h"

namespace {

struct Verb {
  const char* name;
  int (*run)(int, char**);
  const char* what;
};

constexpr Verb kVerbs[] = {
    {"dev", roomcast::cli::Dev, "origin + publisher + a demo room in one process"},
    {"token", roomcast::cli::Token, "mint a token (HS256 JWT) for tests and demos"},
    {"post", roomcast::cli::Post, "send one action through the publisher"},
    {"moderate", roomcast::cli::Moderate, "retract, ban, unban, live settings (moderators)"},
    {"tail", roomcast::cli::Tail, "follow a room live and print what arrives"},
    {"replay", roomcast::cli::Replay, "print a time range of a room's actions"},
    {"inspect", roomcast::cli::Inspect, "decode any object (file or URL) to JSON"},
    {"verify", roomcast::cli::Verify, "check a time range for seq and digest faults"},
};

void Usage(std::ostream& out) {
  out << "Usage: roomcast VERB [flags]   (roomcast VERB --help for each)\n\nVerbs:\n";
  for (const Verb& v : kVerbs) out << "  " << v.name << std::string(10 - std::strlen(v.name), ' ') << v.what << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    Usage(std::cerr);
    return 2;
  }
  if (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0 ||
      std::strcmp(argv[1], "help") == 0) {
    Usage(std::cout);
    return 0;
  }
  for (const Verb& v : kVerbs) {
    if (std::strcmp(argv[1], v.name) == 0) return v.run(argc, argv);
  }
  std::cerr << "roomcast: unknown verb '" << argv[1] << "'\nTry 'roomcast --help'." << std::endl;
  return 2;
}
