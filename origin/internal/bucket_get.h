// One GET of a bucket object, shared by the held answer (get.cc) and the
// streamed one (stream.cc). Internal to origin/.
#ifndef ROOMCAST_ORIGIN_INTERNAL_BUCKET_GET_H_
#define ROOMCAST_ORIGIN_INTERNAL_BUCKET_GET_H_

#include <cstdint>
#include <string>

#include "origin/origin.h"

namespace roomcast::origin {

// How a cache may keep each answer about a bucket: a room's actions are
// public, a user's peer objects never leave the user.
struct BucketCaching {
  const char* found;     // the object (stored or synthesized empty)
  const char* not_yet;   // it may exist soon
  const char* never;     // it never will
};

// One GET of a bucket object (a room's actions or a user's peer batch) in a
// room that may have it: what each look at the store needs to answer it.
struct Origin::BucketGet {
  const Call& call;
  const BucketCaching& caching;
  RoomMeta meta;
  std::string key;
  int64_t end_ms;  // when the bucket ends
  int64_t now_ms;  // when the request arrived
};

}  // namespace roomcast::origin

#endif  // ROOMCAST_ORIGIN_INTERNAL_BUCKET_GET_H_
