// What cluster/ reads of a libnats message: its data and its headers, as
// std types (one copy each; the message may be destroyed after).
#ifndef ROOMCAST_CLUSTER_NATS_MSG_H_
#define ROOMCAST_CLUSTER_NATS_MSG_H_

#include <nats/nats.h>

#include <cstdlib>
#include <map>
#include <string>

namespace roomcast::cluster {

inline std::string DataOf(natsMsg* m) {
  return std::string(natsMsg_GetData(m), static_cast<size_t>(natsMsg_GetDataLength(m)));
}

inline std::map<std::string, std::string> HeadersOf(natsMsg* m) {
  std::map<std::string, std::string> out;
  const char** keys = nullptr;
  int n = 0;
  if (natsMsgHeader_Keys(m, &keys, &n) != NATS_OK) return out;
  for (int i = 0; i < n; ++i) {
    const char* v = nullptr;
    if (natsMsgHeader_Get(m, keys[i], &v) == NATS_OK && v != nullptr) out[keys[i]] = v;
  }
  free(static_cast<void*>(keys));
  return out;
}

}  // namespace roomcast::cluster

#endif  // ROOMCAST_CLUSTER_NATS_MSG_H_
