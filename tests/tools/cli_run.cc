#include "tests/tools/cli_run.h"

#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "absl/strings/str_split.h"
#include "google/protobuf/util/json_util.h"

namespace roomcast::testing {

using namespace std::chrono_literals;

RunResult Cli(std::vector<std::string> args, std::map<std::string, std::string> env,
              std::chrono::milliseconds timeout) {
  args.insert(args.begin(), BinaryPath("roomcast"));
  return Run(args, env, timeout);
}

std::vector<std::string> Lines(const std::string& s) {
  return absl::StrSplit(s, '\n', absl::SkipEmpty());
}

RunResult TailWhilePosting(std::vector<std::string> args,
                           std::map<std::string, std::string> env, SyntheticPublisher& pub) {
  args.insert(args.begin(), "tail");
  for (const char* a : {"--json", "--count", "3", "--duration-ms", "8000"}) args.push_back(a);
  auto tail = std::async(std::launch::async, [&] { return Cli(args, env, 15s); });
  std::this_thread::sleep_for(1500ms);  // joined by now
  for (int i = 0; i < 3; ++i) {
    pub.Post("live " + std::to_string(i));
    std::this_thread::sleep_for(100ms);
  }
  return tail.get();
}

std::vector<v1::Message> JsonMessages(const std::string& out) {
  std::vector<v1::Message> messages;
  for (const std::string& line : Lines(out)) {
    v1::Message m;
    if (google::protobuf::util::JsonStringToMessage(line, &m).ok()) {
      messages.push_back(std::move(m));
    } else {
      ADD_FAILURE() << "not a Message: " << line;
    }
  }
  return messages;
}

}  // namespace roomcast::testing
