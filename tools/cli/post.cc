// roomcast post: sends one action to a room through the publisher's ingest
// API (DESIGN §6) and prints the reply ({"seq": ..., "ts_ms": ..., ...}).
#include <iostream>

#include "absl/strings/str_cat.h"
#include "base/flags.h"
#include "client/fetch.h"
#include "roomcast/v1/ingest.pb.h"
#include "segmenter/naming.h"
#include "tools/cli/common.h"
#include "tools/cli/verbs.h"

namespace roomcast::cli {

int Post(int argc, char** argv) {
  constexpr char kProgram[] = "roomcast post";
  std::string publisher, token, token_file, room, text, type = "comment", gift, id;
  int64_t count = 0;
  base::FlagSet flags(kProgram, "--publisher URL --token T --room ROOM --text \"hi\"",
                       "Posts one action as the token's user and prints the publisher's\n"
                       "reply. The token may also come from ROOMCAST_TOKEN or --token-file\n"
                       "(the command line shows in ps). Exit 1 if it is refused.");
  flags.String("publisher", &publisher, "publisher URL, e.g. http://127.0.0.1:8081");
  flags.String("token", &token, "the sender's token (JWT)");
  flags.String("token-file", &token_file, "file holding the token");
  flags.String("room", &room, "room id");
  flags.String("text", &text, "comment text");
  flags.String("type", &type, "comment, like, gift or enter");
  flags.String("gift-id", &gift, "gift id (--type gift)");
  flags.Int("count", &count, "like or gift count");
  flags.String("client-msg-id", &id, "makes a retry idempotent");
  flags.Require("publisher");
  flags.Require("room");
  std::vector<std::string> args = flags.ParseOrExit(argc, argv, 2);
  if (!args.empty()) return UsageError(kProgram, "takes no positional arguments");
  if (!segmenter::IsValidId(room)) return UsageError(kProgram, "--room must be [A-Za-z0-9_-]{1,64}");
  if (type != "comment" && type != "like" && type != "gift" && type != "enter") {
    return UsageError(kProgram, "--type takes comment, like, gift or enter");
  }
  if (type == "comment" && text.empty()) return UsageError(kProgram, "a comment needs --text");
  if (count < 0 || count > 1'000'000) return UsageError(kProgram, "--count is 0..1000000");
  if (token.empty()) {
    auto t = base::ReadSecret("ROOMCAST_TOKEN", token_file);
    if (!t.ok()) return UsageError(kProgram, "needs --token, ROOMCAST_TOKEN or --token-file");
    token = *t;
  }
  v1::MessageInput in;
  in.set_type(type);
  in.set_text(text);
  in.set_gift_id(gift);
  in.set_count(static_cast<uint32_t>(count));
  in.set_client_msg_id(id);
  while (!publisher.empty() && publisher.back() == '/') publisher.pop_back();
  auto reply = client::SendOnce(
      "POST", absl::StrCat(publisher, "/v1/rooms/", room, "/messages"), RenderJson(in),
      {absl::StrCat("Authorization: Bearer ", token), "Content-Type: application/json",
       "Accept: application/json"});
  if (!reply.ok()) return Failure(kProgram, reply.status().message());
  if (reply->status < 200 || reply->status >= 300) {
    return Failure(kProgram, absl::StrCat("HTTP ", reply->status, ": ", reply->body));
  }
  std::cout << reply->body << (reply->body.empty() || reply->body.back() != '\n' ? "\n" : "");
  return 0;
}

}  // namespace roomcast::cli
