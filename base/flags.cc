
#include "base/flags.h"

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace roomcast::base {

FlagSet::FlagSet(std::string program, std::string synopsis,
                 std::string description)
    : program_(std::move(program)),
      synopsis_(std::move(synopsis)),
      description_(std::move(description)) {}

void FlagSet::String(std::string name, std::string* out, std::string help) {
  flags_.push_back({.name = std::move(name), .help = std::move(help),
                    .default_text = *out,
                    .set = [out](absl::string_view v) {
                      *out = std::string(v);
                      return absl::OkStatus();
                    }});
}

void FlagSet::Int(std::string name, int64_t* out, std::string help) {
  const std::string flag = name;
  flags_.push_back({.name = std::move(name), .help = std::move(help),
                    .default_text = absl::StrCat(*out),
                    .set = [out, flag](absl::string_view v) {
                      if (!absl::SimpleAtoi(v, out)) {
                        return absl::InvalidArgumentError(absl::StrCat(
                            "--", flag, " takes a whole number, got '", v, "'"));
                      }
                      return absl::OkStatus();
                    }});
}

void FlagSet::Double(std::string name, double* out, std::string help) {
  const std::string flag = name;
  flags_.push_back({.name = std::move(name), .help = std::move(help),
                    .default_text = absl::StrCat(*out),
                    .set = [out, flag](absl::string_view v) {
                      double d = 0;
                      if (!absl::SimpleAtod(v, &d) || !std::isfinite(d)) {
                        return absl::InvalidArgumentError(absl::StrCat(
                            "--", flag, " takes a number, got '", v, "'"));
                      }
                      *out = d;
                      return absl::OkStatus();
                    }});
}

void FlagSet::Bool(std::string name, bool* out, std::string help) {
  const std::string flag = name;
  flags_.push_back({.name = std::move(name), .help = std::move(help),
                    .default_text = *out ? "true" : "false", .is_bool = true,
                    .set = [out, flag](absl::string_view v) {
                      if (v.empty() || v == "true" || v == "1") {
                        *out = true;
                      } else if (v == "false" || v == "0") {
                        *out = false;
                      } else {
                        return absl::InvalidArgumentError(absl::StrCat(
                            "--", flag, " takes true or false, got '", v, "'"));
                      }
                      return absl::OkStatus();
                    }});
}

void FlagSet::Strings(std::string name, std::vector<std::string>* out, std::string help) {
  flags_.push_back({.name = std::move(name), .help = std::move(help) + " (repeatable)",
                    .set = [out](absl::string_view v) {
                      out->emplace_back(v);
                      return absl::OkStatus();
                    }});
}

void FlagSet::Require(const std::string& name) {
  if (Flag* f = Find(name)) f->required = true;
}

FlagSet::Flag* FlagSet::Find(absl::string_view name) {
  for (Flag& f : flags_) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

absl::StatusOr<std::vector<std::string>> FlagSet::Parse(int argc, char** argv,
                                                        int first) {
  std::vector<std::string> positional;
  for (int i = first; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      help_ = true;
      return positional;
    }
    if (arg == "--") {
      for (++i; i < argc; ++i) positional.emplace_back(argv[i]);
      break;
    }
    if (!absl::ConsumePrefix(&arg, "--")) {
      positional.emplace_back(arg);
      continue;
    }
    absl::string_view name = arg, value;
    bool has_value = false;
    if (size_t eq = arg.find('='); eq != absl::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      has_value = true;
    }
    Flag* f = Find(name);
    if (f == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
    }
    if (!has_value && !f->is_bool) {
      if (i + 1 >= argc) {
        return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
      }
      value = argv[++i];
    }
    if (absl::Status s = f->set(value); !s.ok()) return s;
    f->seen = true;
  }
  for (const Flag& f : flags_) {
    if (f.required && !f.seen) {
      return absl::InvalidArgumentError(absl::StrCat("--", f.name, " is required"));
    }
  }
  return positional;
}

std::vector<std::string> FlagSet::ParseOrExit(int argc, char** argv, int first) {
  auto args = Parse(argc, argv, first);
  if (help_) {
    std::cout << Usage();
    std::exit(0);
  }
  if (!args.ok()) {
    std::cerr << program_ << ": " << args.status().message() << "\n"
              << "Try '" << program_ << " --help'." << std::endl;
    std::exit(2);
  }
  return *std::move(args);
}

std::string FlagSet::Usage() const {
  std::string out = absl::StrCat("Usage: ", program_, " ", synopsis_, "\n\n",
                                 description_, "\n\nFlags:\n");
  for (const Flag& f : flags_) {
    std::string head = absl::StrCat("  --", f.name, f.is_bool ? "" : " VALUE");
    absl::StrAppend(&out, head, "\n      ", f.help);
    if (f.required) {
      absl::StrAppend(&out, " (required)");
    } else if (!f.default_text.empty()) {
      absl::StrAppend(&out, " (default: ", f.default_text, ")");
    }
    absl::StrAppend(&out, "\n");
  }
  absl::StrAppend(&out, "  --help\n      print this help and exit\n");
  return out;
}

absl::StatusOr<std::string> ReadSecret(const char* env, const std::string& file) {
  if (const char* v = std::getenv(env); v != nullptr && *v != '\0') {
    return std::string(absl::StripTrailingAsciiWhitespace(v));
  }
  if (file.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("no secret: set ", env, " or pass the secret file flag"));
  }
  std::ifstream in(file);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot read secret file ", file));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string secret(absl::StripTrailingAsciiWhitespace(ss.str()));
  if (secret.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("secret file ", file, " is empty"));
  }
  return secret;
}

void Fail(absl::string_view program, const absl::Status& status) {
  std::cerr << program << ": " << status.message() << std::endl;
  std::exit(1);
}

}  // namespace roomcast::base
