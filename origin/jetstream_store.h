// The origin's object store on NATS JetStream (DESIGN §13): any number of
// stateless origins share one replicated stream and serve the same bytes.
//
// Layout: one stream RCOBJ (R3, file storage, one message per subject),
// one subject per store key (ObjectSubject: "rcobj." + the key with '/'
// as '.'), the message being the StoredObject (body, digest, gzip copies)
// or record, as the RocksDB store keeps it:
//   rcobj.r.{room}.…, rcobj.q.{room}.…  objects (segmenter::StorageKey)
//   rcobj.c.{room}                      room metadata (RoomMeta)
//   rcobj.w.{publisher}                 watermarks (v1::Watermark)
//   rcobj.t.{object key}.{digest}       takedown records
//   rcobj.p.{digest}.{hash}             owed cache purges
//   rcobj.r.{room}.x.{digest}.{i}       parts of an object too large for
//                                       one NATS message (max_payload, 1 MiB
//                                       by default), written before its
//                                       head (StoredObject.parts)
// Writes:
//   PutImmutable  fenced on Nats-Expected-Last-Subject-Sequence 0: the
//                 first writer of a key wins across origins; a loser reads
//                 the stored one (same bytes: kUnchanged, else
//                 kAlreadyExists). A publish whose ack timed out is in
//                 doubt: it is sent once more with the same Nats-Msg-Id
//                 (deduplicated if it was stored), and a duplicate ack is
//                 checked by reading the stored bytes back.
//   PutMutable    (the manifest) and room metadata: plain publishes.
//   PutWatermark  compare-and-set on the subject's sequence: it only moves
//                 forward, whatever two origins race.
//   Takedowns     fenced on the sequence of the version read.
// Notices: the stream RePublishes every stored message headers-only on
// "rcnote.{rest}"; each origin's Watch turns them into StoreEvents (the
// publish's own headers say what it was: Rc-Kind, Rc-Meta, Rc-Watermark),
// and forgets a replaced object from its memory cache.
// Expiry (DESIGN §14): SweepExpired deletes a room's objects and takedown
// records (by subject filter, message by message: a JetStream purge is not
// safe on 2.9.10) once its manifest (re-PUT while the room lives, so it
// expires last) is past its retention; the manifest goes last, so a sweep cut
// short is finished by the next. Every origin sweeps; a delete is idempotent
// and each origin forgets the room's objects from memory.
//
//   ROOMCAST_ASSIGN_OR_RETURN(auto store, JetStreamStore::Open({.urls = urls}));
//   store->Watch([&](const StoreEvent& e) { ... });
#ifndef ROOMCAST_ORIGIN_JETSTREAM_STORE_H_
#define ROOMCAST_ORIGIN_JETSTREAM_STORE_H_

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "cluster/bus.h"
#include "cluster/jetstream.h"
#include "origin/internal/object_cache.h"
#include "origin/object_store.h"

namespace roomcast::origin {

inline constexpr char kObjectStream[] = "RCOBJ";

// The subject of store key `key`, and back. Keys are made of
// [A-Za-z0-9_-] tokens joined by '/' (segmenter::StorageKey and the
// store's own prefixes); anything else is kInvalidArgument, so no key can
// name a wildcard or another key's subject. `prefix` is "rcobj" (stored) or
// "rcnote" (a notice).
absl::StatusOr<std::string> ObjectSubject(absl::string_view key,
                                          absl::string_view prefix = "rcobj");
absl::StatusOr<std::string> KeyOfSubject(absl::string_view subject,
                                         absl::string_view prefix = "rcobj");

struct JetStreamStoreOptions {
  std::vector<std::string> urls;  // nats://HOST:PORT of any nodes
  std::string origin_id;          // sent with each write (Rc-Origin)
  // Start-up waits this long at most for the stream to answer (a cold
  // cluster says healthy seconds before its streams take requests).
  std::chrono::milliseconds startup_timeout{30000};
  std::chrono::milliseconds request_timeout{2000};
  int replicas = 3;
};

class JetStreamStore : public ObjectStore {
 public:
  // Connects, creates the stream if missing and waits (bounded, logged)
  // until it answers. kUnavailable if it did not within startup_timeout.
  static absl::StatusOr<std::unique_ptr<JetStreamStore>> Open(JetStreamStoreOptions options);
  ~JetStreamStore() override;

  absl::StatusOr<std::optional<StoredObject>> Get(const std::string& key) const override;
  absl::StatusOr<std::shared_ptr<const StoredObject>> GetImmutable(
      const std::string& key) const override;
  absl::StatusOr<PutOutcome> PutImmutable(const std::string& key, std::string body,
                                          int64_t now_ms, int64_t retention_s,
                                          std::optional<Encodings> enc = std::nullopt) override;
  // Always kCreated: the stream does not say whether a manifest was there.
  absl::StatusOr<PutOutcome> PutMutable(const std::string& key, std::string body,
                                        int64_t now_ms, int64_t retention_s) override;
  absl::Status PutRoomMeta(const RoomMeta& meta) override;
  absl::StatusOr<std::vector<RoomMeta>> LoadRoomMetas() const override;
  absl::Status PutWatermark(const v1::Watermark& wm) override;
  absl::StatusOr<std::vector<v1::Watermark>> LoadWatermarks() const override;
  // Not one write: the record and purges go first (alone they are
  // harmless: a record of bytes never stored, a purge of an unchanged
  // object), the object last, fenced on the version read.
  absl::Status ReplaceForTakedown(const std::string& key, const std::string& old_digest,
                                  std::string body, const TakedownRecord& record,
                                  const std::vector<QueuedPurge>& purges,
                                  std::optional<Encodings> enc = std::nullopt) override;
  absl::StatusOr<std::optional<TakedownRecord>> GetTakedown(
      const std::string& key, const std::string& new_digest) const override;
  absl::StatusOr<std::vector<TakedownRecord>> ListTakedowns(const std::string& key_prefix,
                                                            size_t max) const override;
  absl::StatusOr<std::vector<QueuedPurge>> LoadPurges() const override;
  absl::Status DeletePurge(const std::string& key) override;
  // Counts rooms purged, not objects; `max` is not used.
  absl::StatusOr<size_t> SweepExpired(int64_t now_ms, size_t max = 10000) override;
  uint64_t EstimatedKeys() const override;
  // Subscribes to the notices; null unsubscribes (no call after it returns).
  absl::Status Watch(std::function<void(const StoreEvent&)> on_event) override;

  cluster::JetStream& jetstream() { return *js_; }
  cluster::Bus& bus() { return bus_; }

 private:
  struct Last {  // a subject's message, decoded
    uint64_t seq = 0;
    std::string data;
  };
  JetStreamStore(JetStreamStoreOptions options, std::unique_ptr<cluster::JetStream> js);
  absl::Status WaitForStream();
  // The last message of key's subject; nullopt if none.
  absl::StatusOr<std::optional<Last>> ReadLast(const std::string& key) const;
  // Every stored key under `key_prefix` (e.g. "c/"), with its message.
  absl::StatusOr<std::vector<std::pair<std::string, Last>>> ReadAll(
      const std::string& key_prefix) const;
  // What to publish at `key` for `obj`: its bytes, or (too large for one
  // message) a head, once its parts are stored. And back.
  absl::StatusOr<std::string> Split(const std::string& key, const StoredObject& obj);
  absl::StatusOr<StoredObject> Join(const std::string& key, const std::string& data) const;
  absl::StatusOr<cluster::Acked> Write(const std::string& key, const std::string& data,
                                       std::map<std::string, std::string> headers,
                                       const cluster::Fence& fence = {});
  // What a fenced immutable write found stored instead.
  absl::StatusOr<PutOutcome> Resolve(const std::string& key, const std::string& digest) const;
  absl::StatusOr<bool> SweepRoom(const RoomMeta& meta, int64_t now_ms);
  // Deletes every message on subjects matching `filter`, one by one, those
  // on `last` after the rest are gone.
  absl::Status DeleteMatching(const std::string& filter, const std::string& last);
  void OnNotice(const cluster::BusMessage& m);

  JetStreamStoreOptions options_;
  std::unique_ptr<cluster::JetStream> js_;
  cluster::Bus bus_;
  mutable ObjectCache cache_;
  absl::Mutex watch_mu_;  // serializes Watch calls
  std::function<void(const StoreEvent&)> on_event_;  // set before subscribing
  std::unique_ptr<cluster::Bus::Subscription> sub_ ABSL_GUARDED_BY(watch_mu_);
};

}  // namespace roomcast::origin

#endif  // ROOMCAST_ORIGIN_JETSTREAM_STORE_H_
