#include "tools/demo_traffic.h"

#include <curl/curl.h>

#include <algorithm>
#include <cmath>
#include <chrono>
#include <iostream>
#include <map>
#include <random>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "auth/jwt.h"

namespace roomcast::tools {
namespace {

const std::vector<std::string>& Names() {
  static const std::vector<std::string> names = {
      "mia", "leo", "ana", "kai", "zoe", "ivan", "lena", "omar", "yuki", "noah",
      "sofia", "ravi", "ella", "tomas", "nina", "hugo", "aiko", "sam", "maya", "finn"};
  return names;
}

const std::vector<std::string>& Lines() {
  static const std::vector<std::string> lines = {
      "hello from Lisbon!", "this song 🔥🔥", "first time here", "gg", "lol",
      "can you play it again?", "love the lights", "what camera is this?",
      "hi everyone 👋", "that was amazing", "who else is watching at night?",
      "🎉🎉🎉", "nice", "best stream today", "greetings from São Paulo",
      "how long have you been playing?", "wow", "so relaxing", "encore!",
      "sending love ❤️"};
  return lines;
}

const std::vector<std::string>& Pins() {
  static const std::vector<std::string> pins = {
      "Welcome! Be kind, have fun.", "Giveaway at the top of the hour 🎁",
      "New song drops Friday", "Follow for the next stream"};
  return pins;
}

// A small blocking HTTP client on one keep-alive connection.
class Poster {
 public:
  Poster() : h_(curl_easy_init()) {}
  ~Poster() { curl_easy_cleanup(h_); }
  long Send(const char* method, const std::string& url, const std::string& token,
            const std::string& body) {
    curl_slist* hd = nullptr;
    hd = curl_slist_append(hd, ("Authorization: Bearer " + token).c_str());
    hd = curl_slist_append(hd, "Content-Type: application/json");
    curl_easy_setopt(h_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h_, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h_, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(h_, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    curl_easy_setopt(h_, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h_, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(h_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h_, CURLOPT_WRITEFUNCTION, +[](char*, size_t s, size_t n, void*) {
      return s * n;
    });
    long status = 0;
    if (curl_easy_perform(h_) == CURLE_OK) {
      curl_easy_getinfo(h_, CURLINFO_RESPONSE_CODE, &status);
    }
    curl_slist_free_all(hd);
    return status;
  }

 private:
  CURL* h_;
};

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

void DemoTraffic::Start() {
  stop_ = false;
  thread_ = std::thread([this] { Run(); });
}

void DemoTraffic::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void DemoTraffic::Run() {
  const DemoOptions& o = options_;
  const std::string room_url = absl::StrCat(o.publisher_url, "/v1/rooms/", o.room);
  std::map<std::string, std::string> tokens;
  auto token = [&](const std::string& user, v1::Role role) -> const std::string& {
    std::string& t = tokens[user];
    if (t.empty()) {
      t = auth::MintJwt({.sub = user, .role = role, .room = o.room,
                         .exp = absl::ToUnixSeconds(absl::Now()) + 7 * 86400},
                        o.jwt_secret);
    }
    return t;
  };
  Poster poster;
  std::mt19937 rng(std::random_device{}());
  auto chance = [&](double p) { return std::uniform_real_distribution<>(0, 1)(rng) < p; };
  auto pick = [&](const std::vector<std::string>& v) -> const std::string& {
    return v[rng() % v.size()];
  };
  auto viewer = [&](int i) { return absl::StrCat(Names()[i % Names().size()], i / 20 + 1); };

  const std::string& service = token("demo-service", v1::ROLE_SERVICE);
  const std::string& anchor = token("anchor", v1::ROLE_ANCHOR);
  // Open (or find already open after a restart: 409 is fine).
  poster.Send("POST", room_url, service, absl::StrCat(R"({"bucket_ms": )", o.bucket_ms, "}"));
  poster.Send("PUT", room_url + "/state/title", anchor, R"("Late night lo-fi session 🎧")");
  poster.Send("PUT", room_url + "/state/pinned", anchor, JsonString(Pins()[0]));

  std::map<std::string, int64_t> gifted;
  int crowd = o.viewers;
  const auto tick = std::chrono::milliseconds(100);
  for (int64_t n = 0; !stop_; ++n) {
    const auto t0 = std::chrono::steady_clock::now();
    // Bursty chat: the rate itself wanders between half and double.
    const double rate = o.comments_per_s * (1.0 + 0.5 * std::sin(n / 150.0)) ;
    std::poisson_distribution<int> comments(rate / 10);
    for (int i = comments(rng); i > 0 && !stop_; --i) {
      const std::string user = viewer(static_cast<int>(rng() % crowd));
      if (poster.Send("POST", room_url + "/messages", token(user, v1::ROLE_AUDIENCE),
                      absl::StrCat(R"({"type":"comment","text":)", JsonString(pick(Lines())),
                                   "}")) == 200) {
        ++acked_;
      }
    }
    if (chance(0.3)) {  // likes arrive in batches from the client
      const std::string user = viewer(static_cast<int>(rng() % crowd));
      poster.Send("POST", room_url + "/messages", token(user, v1::ROLE_AUDIENCE),
                  absl::StrCat(R"({"type":"like","count":)", 1 + rng() % 5, "}"));
    }
    if (chance(0.03)) {
      const std::string user = viewer(static_cast<int>(rng() % crowd));
      const int count = 1 + static_cast<int>(rng() % 10);
      if (poster.Send("POST", room_url + "/messages", token(user, v1::ROLE_AUDIENCE),
                      absl::StrCat(R"({"type":"gift","gift_id":"rose","count":)", count,
                                   "}")) == 200) {
        gifted[user] += count;
      }
    }
    if (chance(0.08)) {
      const std::string user = viewer(static_cast<int>(rng() % crowd));
      poster.Send("POST", room_url + "/messages", token(user, v1::ROLE_AUDIENCE),
                  R"({"type":"enter"})");
    }
    // Presence: each viewer beats about every 10 s; the crowd drifts.
    if (n % 50 == 0) crowd = std::clamp(crowd + static_cast<int>(rng() % 41) - 20, 20, 3 * o.viewers);
    for (int i = static_cast<int>(n % 100); i < crowd && !stop_; i += 100) {
      poster.Send("POST", room_url + "/presence", token(viewer(i), v1::ROLE_AUDIENCE), "");
    }
    if (n % 50 == 25 && !gifted.empty()) {  // leaderboard every 5 s
      std::vector<std::pair<int64_t, std::string>> top;
      for (const auto& [u, c] : gifted) top.push_back({c, u});
      std::sort(top.rbegin(), top.rend());
      std::vector<std::string> rows;
      for (size_t i = 0; i < std::min<size_t>(5, top.size()); ++i) {
        rows.push_back(absl::StrCat(R"({"user":)", JsonString(top[i].second),
                                    R"(,"score":)", top[i].first, "}"));
      }
      poster.Send("PUT", room_url + "/state/leaderboard", service,
                  absl::StrCat("[", absl::StrJoin(rows, ","), "]"));
    }
    if (n % 600 == 599) {  // a new pinned comment every minute
      poster.Send("PUT", room_url + "/state/pinned", anchor, JsonString(Pins()[(n / 600 + 1) % Pins().size()]));
    }
    std::this_thread::sleep_until(t0 + tick);
  }
}

}  // namespace roomcast::tools
