// A private room "vip" stored in a test origin (DESIGN §12): its manifest
// under /v1/private/, a closed segment, a state component; edge tokens for
// it; and every class of its objects as a viewer reads them. Shared by the
// origin's own private-room tests and those through the reference edges.
#ifndef ROOMCAST_TESTS_ORIGIN_PRIVATE_ROOM_FIXTURE_H_
#define ROOMCAST_TESTS_ORIGIN_PRIVATE_ROOM_FIXTURE_H_

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "auth/edge_token.h"
#include "roomcast/v1/state.pb.h"
#include "segmenter/bucketer.h"
#include "tests/origin/origin_fixture.h"

namespace roomcast::testing {

class PrivateRoomFixture : public OriginTest {
 protected:
  // Stores the room with a segment of `messages` actions in bucket k_.
  void StoreRoom(int messages) {
    using segmenter::Format;
    using segmenter::Scope;
    opened_ms_ = WallMs() - 60'000;
    v1::Manifest m = MakeManifest("vip", 1, opened_ms_);
    m.mutable_config()->set_private_(true);
    m.set_state_version(1);
    ASSERT_EQ(origin_->PutObject(segmenter::ManifestPath("vip", Format::kProto, Scope::kPrivate),
                                 segmenter::Encode(m).bytes).status, 200);
    ASSERT_EQ(origin_->PutWatermark(WallMs() - 20'000).status, 200);
    k_ = segmenter::BucketIndex(WallMs(), 1000) - 10;
    bytes_ = segmenter::Encode(MakeSegment("vip", 1000, k_, messages)).bytes;
    ASSERT_EQ(origin_->PutObject(segmenter::SegmentPath("vip", 1000, k_, Format::kProto,
                                                        Scope::kPrivate), bytes_).status, 201);
    v1::StateComponent c;
    c.set_room("vip");
    c.set_name("title");
    c.set_version(1);
    c.mutable_value()->set_string_value("members only");
    ASSERT_EQ(origin_->PutObject(segmenter::StatePath("vip", "title", 1, Format::kProto,
                                                      Scope::kPrivate),
                                 c.SerializeAsString()).status, 201);
  }
  std::string Token(const std::string& room, int64_t ttl_s = 600,
                    const std::string& secret = kEdgeSecret) {
    return auth::MintEdgeToken(auth::EdgeAclForRoom(room), WallMs() / 1000 + ttl_s, secret);
  }
  // Every class of object of the room, as a viewer reads them.
  std::vector<std::string> Objects() {
    using segmenter::Format;
    using segmenter::Scope;
    return {segmenter::ManifestPath("vip", Format::kProto, Scope::kPrivate),
            segmenter::ManifestPath("vip", Format::kJson, Scope::kPrivate) + "?after=0",
            segmenter::SegmentPath("vip", 1000, k_, Format::kProto, Scope::kPrivate),
            segmenter::SegmentPath("vip", 1000, k_ - 15, Format::kJson, Scope::kPrivate),
            segmenter::StatePath("vip", "title", 1, Format::kJson, Scope::kPrivate)};
  }
  // `path` at `server` with the token as rc_token.
  static std::string TokenUrl(const std::string& server, const std::string& path,
                              const std::string& token) {
    return absl::StrCat(server, path, path.find('?') == std::string::npos ? "?" : "&",
                        "rc_token=", token);
  }

  int64_t k_ = 0;
  std::string bytes_;  // the stored segment
};

}  // namespace roomcast::testing

#endif  // ROOMCAST_TESTS_ORIGIN_PRIVATE_ROOM_FIXTURE_H_
