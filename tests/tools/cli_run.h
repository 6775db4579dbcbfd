// Running the real `roomcast` binary in the CLI tests: its output line by
// line, and a live `tail` while a synthetic publisher posts.
#ifndef ROOMCAST_TESTS_TOOLS_CLI_RUN_H_
#define ROOMCAST_TESTS_TOOLS_CLI_RUN_H_

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "roomcast/v1/message.pb.h"
#include "tests/client/synthetic_publisher.h"
#include "tests/support/process.h"

namespace roomcast::testing {

// `roomcast ARGS...` to completion, with extra environment variables.
RunResult Cli(std::vector<std::string> args, std::map<std::string, std::string> env = {},
              std::chrono::milliseconds timeout = std::chrono::seconds(20));

std::vector<std::string> Lines(const std::string& s);

// `roomcast tail ARGS... --json --count 3 --duration-ms 8000`, started and
// given time to join, while `pub` posts "live 0", "live 1" and "live 2".
RunResult TailWhilePosting(std::vector<std::string> args,
                           std::map<std::string, std::string> env, SyntheticPublisher& pub);

// Each line of `out` as a Message (protobuf's JSON mapping); a line that
// is not one is a test failure, left out.
std::vector<v1::Message> JsonMessages(const std::string& out);

}  // namespace roomcast::testing

#endif  // ROOMCAST_TESTS_TOOLS_CLI_RUN_H_
