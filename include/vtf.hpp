// vtf.hpp - header-only C++17 layer over the C ABI of ValkeyTestFramework (vtf.h).
//
// Ownership (the rule of zero, as in wasmtime's C++ header): every owning class
// holds its C handle in a std::unique_ptr with one deleter per C type, so none
// declares a destructor, move or copy of its own. Config is a copyable value;
// Server, Client, Replication and Cluster are move-only (moving leaves the source
// empty); ServerRef is a non-owning view (the nodes of a replication group or
// cluster, which C++ never frees, or a view of a Server); Reply shares ownership
// of its C reply tree, so elements stay valid as long as any Reply that refers to
// the tree is alive.
//
// Errors: every failing C call throws vtf::Error, which carries the vtf_status
// and the thread's vtf_last_error() message. A server error reply (-ERR ...)
// is not an exception: it is a Reply whose is_error() is true.
//
//   vtf::Server server(vtf::Config().arg("maxmemory", "1mb"));
//   vtf::Client client = server.connect();
//   client.command("SET", "key", 42);
//   std::string v = client.command("GET", "key").str();   // "42"
#ifndef VTF_HPP
#define VTF_HPP

#include <cstddef>
#include <cstdint>
#include <cstdlib>

extern "C" {
#include "vtf.h"
}

#include <algorithm>
#include <chrono>
#include <deque>
#include <exception>
#include <functional>
#include <iterator>
#include <limits>
#include <memory>
#include <optional>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace vtf {

/// Default deadlines used when a caller gives none.
inline constexpr std::chrono::milliseconds kDefaultTimeout{10000};

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// The name of a status, e.g. "VTF_ERR_TIMEOUT".
inline std::string status_name(vtf_status status) {
  const char* name = vtf_status_name(status);
  return name ? name : "VTF_ERR_UNKNOWN";
}

/// The message of the most recent failure on this thread ("" after success).
inline std::string last_error() {
  const char* msg = vtf_last_error();
  return msg ? msg : "";
}

/// The library's version, e.g. "0.1.0".
inline std::string version() {
  const char* v = vtf_version();
  return v ? v : "";
}

/// A failed vtf call: the status, what was attempted, and the library's message.
/// what() is "<operation> failed (<status>): <message>", naming the operation once
/// (a C message already starts with "<function>: ").
class Error : public std::runtime_error {
 public:
  Error(vtf_status status, const std::string& operation, const std::string& message)
      : std::runtime_error(describe(status, operation, message)),
        status_(status),
        operation_(operation),
        message_(message) {}

  /// The status the C function returned.
  vtf_status status() const noexcept { return status_; }
  /// The C function's name or the C++ operation, e.g. "vtf_server_start".
  const std::string& operation() const noexcept { return operation_; }
  /// vtf_last_error() at the time of the failure.
  const std::string& message() const noexcept { return message_; }

 private:
  static std::string describe(vtf_status status, const std::string& operation, const std::string& message) {
    std::string_view rest = message;
    const std::string prefix = operation + ": ";
    if (rest.substr(0, prefix.size()) == prefix) rest.remove_prefix(prefix.size());
    return operation + " failed (" + status_name(status) + "): " + std::string(rest);
  }

  vtf_status status_;
  std::string operation_;
  std::string message_;
};

namespace detail {

/// Throws vtf::Error when `status` is not VTF_OK; reads vtf_last_error() at once.
inline void check(vtf_status status, const char* operation) {
  if (status != VTF_OK) throw Error(status, operation, last_error());
}

/// A C++-side failure reported with a vtf status (wrong reply type, bad index ...).
[[noreturn]] inline void fail(vtf_status status, const std::string& operation,
                              const std::string& message) {
  throw Error(status, operation, message);
}

inline std::string borrowed(const char* s) { return s ? std::string(s) : std::string(); }

/// Takes ownership of a string returned through `char **` and frees it.
inline std::string take_string(char* s) {
  if (!s) return std::string();
  std::string out(s);
  vtf_string_free(s);
  return out;
}

inline uint32_t to_ms(std::chrono::milliseconds timeout) {
  auto count = timeout.count();
  if (count < 0) return 0;
  if (static_cast<unsigned long long>(count) > std::numeric_limits<uint32_t>::max())
    return std::numeric_limits<uint32_t>::max();
  return static_cast<uint32_t>(count);
}

// One deleter per C type: a std::unique_ptr with one of these is the whole
// ownership of a C++ class (no hand-written destructor, move or reset).
struct ConfigDeleter {
  void operator()(vtf_config* p) const noexcept { vtf_config_free(p); }
};
struct ServerDeleter {
  void operator()(vtf_server* p) const noexcept { vtf_server_free(p); }
};
struct ClientDeleter {
  void operator()(vtf_client* p) const noexcept { vtf_client_free(p); }
};
struct ReplyDeleter {
  void operator()(vtf_reply* p) const noexcept { vtf_reply_free(p); }
};
struct ReplicationDeleter {
  void operator()(vtf_replication* p) const noexcept { vtf_replication_free(p); }
};
struct ClusterDeleter {
  void operator()(vtf_cluster* p) const noexcept { vtf_cluster_free(p); }
};
struct PortDeleter {
  void operator()(vtf_port* p) const noexcept { vtf_port_free(p); }
};
using CConfig = std::unique_ptr<vtf_config, ConfigDeleter>;

/// Runs a C constructor that writes its handle through `T **out` and returns it
/// owned; throws vtf::Error (naming `operation`) when the call fails.
template <class T, class Deleter, class Call>
std::unique_ptr<T, Deleter> create(const char* operation, Call&& call) {
  T* out = nullptr;
  check(call(&out), operation);
  return std::unique_ptr<T, Deleter>(out);
}

}  // namespace detail

// ---------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------

/// What a server is started with. A plain copyable value (builder style); it is
/// turned into a vtf_config each time a server or group is started from it.
///
///   vtf::Config().arg("maxmemory", "1mb").module(path, {"a"}).tls(VTF_TLS_ON)
class Config {
 public:
  struct Module {
    std::string path;
    std::vector<std::string> args;
  };

  Config() = default;

  /// `--name value` (the value is one argv item; "" passes an empty value).
  Config& arg(std::string name, std::string value) & {
    args_.emplace_back(std::move(name), std::move(value));
    return *this;
  }
  Config&& arg(std::string name, std::string value) && { return std::move(arg(std::move(name), std::move(value))); }
  template <class Int, std::enable_if_t<std::is_integral_v<Int> && !std::is_same_v<Int, bool>, int> = 0>
  Config& arg(std::string name, Int value) & { return arg(std::move(name), std::to_string(value)); }
  template <class Int, std::enable_if_t<std::is_integral_v<Int> && !std::is_same_v<Int, bool>, int> = 0>
  Config&& arg(std::string name, Int value) && { return std::move(arg(std::move(name), std::to_string(value))); }

  /// `--loadmodule path args...`
  Config& module(std::string path, std::vector<std::string> args = {}) & {
    modules_.push_back(Module{std::move(path), std::move(args)});
    return *this;
  }
  Config&& module(std::string path, std::vector<std::string> args = {}) && {
    return std::move(module(std::move(path), std::move(args)));
  }

  /// The valkey-server binary (else env VTF_SERVER_BINARY, PATH, the build cache).
  Config& binary(std::string path) & { binary_ = std::move(path); return *this; }
  Config&& binary(std::string path) && { return std::move(binary(std::move(path))); }

  /// A config file given to the server before the arguments.
  Config& config_file(std::string path) & { config_file_ = std::move(path); return *this; }
  Config&& config_file(std::string path) && { return std::move(config_file(std::move(path))); }

  /// TLS mode; when never set, the library's default applies (env VTF_TLS=1 means on).
  Config& tls(vtf_tls_mode mode) & { tls_ = mode; return *this; }
  Config&& tls(vtf_tls_mode mode) && { return std::move(tls(mode)); }

  Config& startup_timeout(std::chrono::milliseconds timeout) & { startup_timeout_ = timeout; return *this; }
  Config&& startup_timeout(std::chrono::milliseconds timeout) && { return std::move(startup_timeout(timeout)); }

  /// How long clients of these servers wait for each reply (default 60 s, x10
  /// under a wrapper; env VTF_COMMAND_TIMEOUT_MS); 0 ms waits forever, for tests
  /// that block on purpose.
  Config& command_timeout(std::chrono::milliseconds timeout) & { command_timeout_ = timeout; return *this; }
  Config&& command_timeout(std::chrono::milliseconds timeout) && { return std::move(command_timeout(timeout)); }

  /// A Valkey version (git ref) to run, built from source and cached; wins over
  /// VTF_SERVER_BINARY and PATH (not over binary()).
  Config& version(std::string git_ref) & { version_ = std::move(git_ref); return *this; }
  Config&& version(std::string git_ref) && { return std::move(version(std::move(git_ref))); }

  /// Keep the server's directory (log, data) when it is stopped and freed.
  Config& keep_data(bool keep = true) & { keep_data_ = keep; return *this; }
  Config&& keep_data(bool keep = true) && { return std::move(keep_data(keep)); }

  /// Run the server under a command line, e.g. "valgrind --error-exitcode=99"
  /// (double quotes group); "" means no wrapper even when VTF_SERVER_WRAPPER is set.
  Config& wrapper(std::string command) & { wrapper_ = std::move(command); return *this; }
  Config&& wrapper(std::string command) && { return std::move(wrapper(std::move(command))); }

  /// The password servers require and clients send, instead of the one generated
  /// per test process (turns auth on even under VTF_AUTH=0).
  Config& password(std::string password) & { password_ = std::move(password); return *this; }
  Config&& password(std::string password) && { return std::move(this->password(std::move(password))); }

  /// Whether servers require a password (default on, unless env VTF_AUTH=0);
  /// false gives open servers, for tests of authentication itself.
  Config& auth(bool on) & { auth_ = on; return *this; }
  Config&& auth(bool on) && { return std::move(auth(on)); }

  /// TLS files to attach with instead of vtf's CA; the client certificate and key
  /// (both or neither, "" for none) are for mutual TLS.
  Config& tls_files(std::string ca_cert, std::string client_cert = {}, std::string client_key = {}) & {
    tls_files_ = {std::move(ca_cert), std::move(client_cert), std::move(client_key)};
    return *this;
  }
  Config&& tls_files(std::string ca_cert, std::string client_cert = {}, std::string client_key = {}) && {
    return std::move(tls_files(std::move(ca_cert), std::move(client_cert), std::move(client_key)));
  }

  /// FLUSHALL when attaching (default: env VTF_EXTERNAL_FLUSH=1, else off).
  Config& flush_on_attach(bool flush = true) & { flush_on_attach_ = flush; return *this; }
  Config&& flush_on_attach(bool flush = true) && { return std::move(flush_on_attach(flush)); }

  const std::vector<std::pair<std::string, std::string>>& args() const noexcept { return args_; }
  const std::vector<Module>& modules() const noexcept { return modules_; }
  const std::optional<std::string>& binary() const noexcept { return binary_; }
  const std::optional<std::string>& config_file() const noexcept { return config_file_; }
  const std::optional<vtf_tls_mode>& tls() const noexcept { return tls_; }
  const std::optional<std::chrono::milliseconds>& startup_timeout() const noexcept { return startup_timeout_; }
  const std::optional<std::chrono::milliseconds>& command_timeout() const noexcept { return command_timeout_; }
  const std::optional<std::string>& version() const noexcept { return version_; }
  bool keep_data() const noexcept { return keep_data_; }
  const std::optional<std::string>& wrapper() const noexcept { return wrapper_; }
  const std::optional<std::string>& password() const noexcept { return password_; }
  const std::optional<bool>& auth() const noexcept { return auth_; }

  /// A fresh C config with everything applied; owned by the returned pointer.
  detail::CConfig to_c() const {
    detail::CConfig c(vtf_config_new());
    if (!c) detail::check(VTF_ERR_PANIC, "vtf_config_new");
    if (binary_) detail::check(vtf_config_set_binary(c.get(), binary_->c_str()), "vtf_config_set_binary");
    if (config_file_)
      detail::check(vtf_config_set_config_file(c.get(), config_file_->c_str()), "vtf_config_set_config_file");
    for (const auto& [name, value] : args_)
      detail::check(vtf_config_add_arg(c.get(), name.c_str(), value.c_str()), "vtf_config_add_arg");
    for (const auto& m : modules_) {
      std::vector<const char*> argv;
      argv.reserve(m.args.size());
      for (const auto& a : m.args) argv.push_back(a.c_str());
      detail::check(vtf_config_add_module(c.get(), m.path.c_str(), argv.empty() ? nullptr : argv.data(), argv.size()),
                    "vtf_config_add_module");
    }
    if (tls_) detail::check(vtf_config_set_tls(c.get(), *tls_), "vtf_config_set_tls");
    if (startup_timeout_)
      detail::check(vtf_config_set_startup_timeout_ms(c.get(), detail::to_ms(*startup_timeout_)),
                    "vtf_config_set_startup_timeout_ms");
    if (command_timeout_)
      detail::check(vtf_config_set_command_timeout_ms(c.get(), detail::to_ms(*command_timeout_)),
                    "vtf_config_set_command_timeout_ms");
    if (version_) detail::check(vtf_config_set_version(c.get(), version_->c_str()), "vtf_config_set_version");
    if (keep_data_) detail::check(vtf_config_set_keep_data(c.get(), true), "vtf_config_set_keep_data");
    if (wrapper_) detail::check(vtf_config_set_wrapper(c.get(), wrapper_->c_str()), "vtf_config_set_wrapper");
    if (password_) detail::check(vtf_config_set_password(c.get(), password_->c_str()), "vtf_config_set_password");
    if (auth_) detail::check(vtf_config_set_auth(c.get(), *auth_), "vtf_config_set_auth");
    if (tls_files_) {
      const auto& [ca, cert, key] = *tls_files_;
      detail::check(vtf_config_set_tls_files(c.get(), ca.c_str(), cert.empty() ? nullptr : cert.c_str(),
                                             key.empty() ? nullptr : key.c_str()),
                    "vtf_config_set_tls_files");
    }
    if (flush_on_attach_)
      detail::check(vtf_config_set_flush_on_attach(c.get(), *flush_on_attach_), "vtf_config_set_flush_on_attach");
    return c;
  }

 private:
  std::vector<std::pair<std::string, std::string>> args_;
  std::vector<Module> modules_;
  std::optional<std::string> binary_;
  std::optional<std::string> config_file_;
  std::optional<vtf_tls_mode> tls_;
  std::optional<std::chrono::milliseconds> startup_timeout_;
  std::optional<std::chrono::milliseconds> command_timeout_;
  std::optional<std::string> version_;
  bool keep_data_ = false;
  std::optional<std::string> wrapper_;
  std::optional<std::string> password_;
  std::optional<bool> auth_;
  std::optional<std::tuple<std::string, std::string, std::string>> tls_files_;
  std::optional<bool> flush_on_attach_;
};

// ---------------------------------------------------------------------------
// Reply
// ---------------------------------------------------------------------------

/// The name of a reply type, e.g. "STRING".
inline const char* reply_type_name(vtf_reply_type type) {
  switch (type) {
    case VTF_REPLY_NIL: return "NIL";
    case VTF_REPLY_STATUS: return "STATUS";
    case VTF_REPLY_ERROR: return "ERROR";
    case VTF_REPLY_INTEGER: return "INTEGER";
    case VTF_REPLY_STRING: return "STRING";
    case VTF_REPLY_ARRAY: return "ARRAY";
    case VTF_REPLY_MAP: return "MAP";
    case VTF_REPLY_SET: return "SET";
    case VTF_REPLY_DOUBLE: return "DOUBLE";
    case VTF_REPLY_BOOLEAN: return "BOOLEAN";
    case VTF_REPLY_BIG_NUMBER: return "BIG_NUMBER";
    case VTF_REPLY_VERBATIM: return "VERBATIM";
    case VTF_REPLY_PUSH: return "PUSH";
  }
  return "UNKNOWN";
}

/// A reply, or an element of one. Copies share the underlying C reply tree.
class Reply {
 public:
  class iterator;

  Reply() = default;

  /// Takes ownership of a reply returned by vtf_client_command*.
  static Reply adopt(vtf_reply* reply) {
    Reply r;
    r.root_ = std::shared_ptr<vtf_reply>(reply, detail::ReplyDeleter{});
    r.node_ = reply;
    return r;
  }

  /// True when this holds a reply (a default-constructed Reply does not).
  bool valid() const noexcept { return node_ != nullptr; }
  explicit operator bool() const noexcept { return valid(); }

  vtf_reply_type type() const {
    require_valid("type");
    return vtf_reply_get_type(node_);
  }
  const char* type_name() const { return reply_type_name(type()); }

  bool is_nil() const { return type() == VTF_REPLY_NIL; }
  bool is_error() const { return type() == VTF_REPLY_ERROR; }
  bool is_status() const { return type() == VTF_REPLY_STATUS; }
  bool is_integer() const { return type() == VTF_REPLY_INTEGER; }
  bool is_double() const { return type() == VTF_REPLY_DOUBLE; }
  bool is_bool() const { return type() == VTF_REPLY_BOOLEAN; }
  /// STRING, STATUS, ERROR, VERBATIM or BIG_NUMBER: str() works.
  bool has_string() const {
    switch (type()) {
      case VTF_REPLY_STRING: case VTF_REPLY_STATUS: case VTF_REPLY_ERROR:
      case VTF_REPLY_VERBATIM: case VTF_REPLY_BIG_NUMBER:
        return true;
      default:
        return false;
    }
  }
  /// ARRAY, MAP, SET or PUSH: size(), operator[] and iteration work.
  bool is_aggregate() const {
    switch (type()) {
      case VTF_REPLY_ARRAY: case VTF_REPLY_MAP: case VTF_REPLY_SET: case VTF_REPLY_PUSH:
        return true;
      default:
        return false;
    }
  }

  /// The bytes of a STRING/STATUS/ERROR/VERBATIM/BIG_NUMBER reply (binary-safe),
  /// valid while this Reply (or a copy) lives.
  std::string_view view() const {
    if (!has_string())
      detail::fail(VTF_ERR_INVALID_ARGUMENT, "vtf::Reply::str",
                   std::string("the reply is ") + type_name() + ", not a string: " + to_string());
    size_t len = 0;
    const char* s = vtf_reply_string(node_, &len);
    if (!s) return std::string_view();
    return std::string_view(s, len);
  }
  std::string str() const { return std::string(view()); }

  /// An INTEGER (or BOOLEAN, as 0/1) reply's value.
  int64_t integer() const {
    auto t = type();
    if (t != VTF_REPLY_INTEGER && t != VTF_REPLY_BOOLEAN)
      detail::fail(VTF_ERR_INVALID_ARGUMENT, "vtf::Reply::integer",
                   std::string("the reply is ") + type_name() + ", not an integer: " + to_string());
    return vtf_reply_integer(node_);
  }

  /// A DOUBLE reply's value (an INTEGER reply converts).
  double dbl() const {
    auto t = type();
    if (t == VTF_REPLY_INTEGER) return static_cast<double>(vtf_reply_integer(node_));
    if (t != VTF_REPLY_DOUBLE)
      detail::fail(VTF_ERR_INVALID_ARGUMENT, "vtf::Reply::dbl",
                   std::string("the reply is ") + type_name() + ", not a double: " + to_string());
    return vtf_reply_double(node_);
  }

  /// A BOOLEAN (or INTEGER) reply as bool.
  bool boolean() const { return integer() != 0; }

  /// Elements of ARRAY/SET/PUSH; 2*pairs for MAP (keys and values alternate); 0 otherwise.
  size_t size() const {
    if (!valid() || !is_aggregate()) return 0;
    return vtf_reply_len(node_);
  }
  bool empty() const { return size() == 0; }

  /// Element `index`; throws std::out_of_range past the end.
  Reply at(size_t index) const {
    size_t n = size();
    if (index >= n)
      throw std::out_of_range("vtf::Reply: index " + std::to_string(index) + " out of range for " +
                              (valid() ? type_name() : "an empty Reply") + " of " + std::to_string(n) +
                              " elements");
    const vtf_reply* e = vtf_reply_element(node_, index);
    if (!e) throw std::out_of_range("vtf::Reply: vtf_reply_element returned NULL at " + std::to_string(index));
    Reply r;
    r.root_ = root_;
    r.node_ = e;
    return r;
  }
  Reply operator[](size_t index) const { return at(index); }

  /// In a MAP reply, the value whose key's string equals `key`.
  std::optional<Reply> get(std::string_view key) const {
    if (type() != VTF_REPLY_MAP) return std::nullopt;
    size_t n = size();
    for (size_t i = 0; i + 1 < n; i += 2) {
      Reply k = at(i);
      if (k.has_string() && k.view() == key) return at(i + 1);
    }
    return std::nullopt;
  }

  /// The elements' strings (each element must have a string).
  std::vector<std::string> strings() const {
    std::vector<std::string> out;
    for (size_t i = 0, n = size(); i < n; ++i) out.push_back(at(i).str());
    return out;
  }
  /// The elements' integers.
  std::vector<int64_t> integers() const {
    std::vector<int64_t> out;
    for (size_t i = 0, n = size(); i < n; ++i) out.push_back(at(i).integer());
    return out;
  }

  iterator begin() const;
  iterator end() const;

  /// A readable, single-line rendering for messages: "OK", "\"abc\"", "(integer) 3",
  /// "(error) ERR ...", "(nil)", "[1, \"a\"]", "{\"k\": 1}".
  std::string to_string() const {
    std::ostringstream os;
    render(os);
    return os.str();
  }

  /// The C reply (borrowed).
  const vtf_reply* get() const noexcept { return node_; }

 private:
  void require_valid(const char* what) const {
    if (!node_)
      detail::fail(VTF_ERR_NULL_ARGUMENT, std::string("vtf::Reply::") + what, "the Reply holds no reply");
  }

  static void quote(std::ostream& os, std::string_view s) {
    os << '"';
    static const char* hex = "0123456789abcdef";
    for (char ch : s) {
      const auto c = static_cast<unsigned char>(ch);
      if (ch == '"' || ch == '\\') {
        os << '\\' << ch;
      } else if (c == '\n') {
        os << "\\n";
      } else if (c == '\r') {
        os << "\\r";
      } else if (c < 0x20 || c >= 0x7f) {
        os << "\\x" << hex[c >> 4] << hex[c & 0xf];
      } else {
        os << ch;
      }
    }
    os << '"';
  }

  void render(std::ostream& os) const {
    if (!node_) {
      os << "(no reply)";
      return;
    }
    switch (type()) {
      case VTF_REPLY_NIL: os << "(nil)"; break;
      case VTF_REPLY_STATUS: os << view(); break;
      case VTF_REPLY_ERROR: os << "(error) " << view(); break;
      case VTF_REPLY_INTEGER: os << "(integer) " << vtf_reply_integer(node_); break;
      case VTF_REPLY_DOUBLE: os << "(double) " << vtf_reply_double(node_); break;
      case VTF_REPLY_BOOLEAN: os << (vtf_reply_integer(node_) ? "(true)" : "(false)"); break;
      case VTF_REPLY_BIG_NUMBER: os << "(big number) " << view(); break;
      case VTF_REPLY_STRING: case VTF_REPLY_VERBATIM: quote(os, view()); break;
      case VTF_REPLY_MAP: {
        os << '{';
        size_t n = size();
        for (size_t i = 0; i + 1 < n; i += 2) {
          if (i) os << ", ";
          at(i).render(os);
          os << ": ";
          at(i + 1).render(os);
        }
        os << '}';
        break;
      }
      default: {  // ARRAY, SET, PUSH
        auto t = type();
        os << (t == VTF_REPLY_SET ? "(set) [" : t == VTF_REPLY_PUSH ? "(push) [" : "[");
        size_t n = size();
        for (size_t i = 0; i < n; ++i) {
          if (i) os << ", ";
          at(i).render(os);
        }
        os << ']';
      }
    }
  }

  std::shared_ptr<vtf_reply> root_;
  const vtf_reply* node_ = nullptr;
};

/// Iterates over a reply's elements (each a Reply).
class Reply::iterator {
 public:
  using iterator_category = std::forward_iterator_tag;
  using value_type = Reply;
  using difference_type = std::ptrdiff_t;
  using pointer = const Reply*;
  using reference = Reply;

  iterator() = default;
  iterator(const Reply* parent, size_t index) : parent_(parent), index_(index) {}
  Reply operator*() const { return parent_->at(index_); }
  iterator& operator++() { ++index_; return *this; }
  iterator operator++(int) { iterator old = *this; ++index_; return old; }
  bool operator==(const iterator& o) const { return parent_ == o.parent_ && index_ == o.index_; }
  bool operator!=(const iterator& o) const { return !(*this == o); }

 private:
  const Reply* parent_ = nullptr;
  size_t index_ = 0;
};

inline Reply::iterator Reply::begin() const { return iterator(this, 0); }
inline Reply::iterator Reply::end() const { return iterator(this, size()); }

inline std::ostream& operator<<(std::ostream& os, const Reply& reply) { return os << reply.to_string(); }
/// GoogleTest prints values with PrintTo when it is found by ADL.
inline void PrintTo(const Reply& reply, std::ostream* os) { *os << reply.to_string(); }

// ---------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------

namespace detail {

/// Collects command arguments as (pointer, length) pairs without copying strings;
/// numbers are formatted into stable storage.
class ArgList {
 public:
  void add(std::string_view s) {
    ptrs_.push_back(s.data() ? s.data() : "");
    lens_.push_back(s.size());
  }
  void add(const std::string& s) { add(std::string_view(s)); }
  void add(const char* s) { add(std::string_view(s ? s : "")); }
  void add(char* s) { add(static_cast<const char*>(s)); }
  void add(char c) { add_owned(std::string(1, c)); }
  void add(bool) = delete;  // ambiguous: say "1"/"0" or "true" explicitly
  template <class T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool> && !std::is_same_v<T, char>, int> = 0>
  void add(T value) { add_owned(std::to_string(value)); }
  template <class T, std::enable_if_t<std::is_floating_point_v<T>, int> = 0>
  void add(T value) {
    std::ostringstream os;
    os.precision(std::numeric_limits<T>::max_digits10);
    os << value;
    add_owned(os.str());
  }
  /// A vector of strings expands to one argument per element.
  template <class S>
  void add(const std::vector<S>& items) {
    for (const auto& item : items) add(item);
  }

  size_t size() const { return ptrs_.size(); }
  const char* const* argv() const { return ptrs_.data(); }
  const size_t* lens() const { return lens_.data(); }

 private:
  void add_owned(std::string s) {
    owned_.push_back(std::move(s));
    add(std::string_view(owned_.back()));
  }
  std::deque<std::string> owned_;  // deque: growth keeps earlier elements in place
  std::vector<const char*> ptrs_;
  std::vector<size_t> lens_;
};

}  // namespace detail

class ServerRef;

/// A connection to a server (or, from Cluster::connect, to a whole cluster, routed
/// by key slot). Move-only; one thread at a time.
class Client {
 public:
  Client() = default;
  /// Takes ownership of a C client.
  explicit Client(vtf_client* client) noexcept : client_(client) {}
  /// Connects to `server`.
  explicit Client(const ServerRef& server);

  /// Sends one command; each argument is one argv item (binary-safe): std::string,
  /// std::string_view, const char*, integers, floating point, or a std::vector of
  /// strings (expanded). A server error reply is returned, not thrown.
  template <class... Args>
  Reply command(const Args&... args) {
    static_assert(sizeof...(Args) > 0, "vtf::Client::command needs at least the command name");
    detail::ArgList list;
    (list.add(args), ...);
    return send(list);
  }

  /// Sends a command given as a vector of arguments (binary-safe).
  Reply command_argv(const std::vector<std::string>& argv) {
    detail::ArgList list;
    list.add(argv);
    return send(list);
  }

  /// Sends a command line split on whitespace; double quotes group: `SET k "a b"`.
  Reply command_str(const std::string& line) {
    vtf_reply* out = nullptr;
    detail::check(vtf_client_command_str(get(), line.c_str(), &out), "vtf_client_command_str");
    return Reply::adopt(out);
  }

  /// How long a command may wait for its reply; zero means forever (the default).
  void set_timeout(std::chrono::milliseconds timeout) {
    detail::check(vtf_client_set_timeout_ms(get(), detail::to_ms(timeout)), "vtf_client_set_timeout_ms");
  }

  bool valid() const noexcept { return client_ != nullptr; }
  vtf_client* get() const noexcept { return client_.get(); }
  vtf_client* release() noexcept { return client_.release(); }
  /// Closes the connection now.
  void reset() noexcept { client_.reset(); }

 private:
  Reply send(const detail::ArgList& list) {
    vtf_reply* out = nullptr;
    detail::check(vtf_client_command(get(), list.size(), list.argv(), list.lens(), &out), "vtf_client_command");
    return Reply::adopt(out);
  }

  std::unique_ptr<vtf_client, detail::ClientDeleter> client_;
};

// ---------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------

namespace detail {

/// What a server can do, for the owning Server and the view ServerRef alike
/// (CRTP: `Self::get()` gives the C handle, owned or borrowed).
template <class Self>
class ServerApi {
 public:
  uint16_t port() const { return vtf_server_port(c()); }
  std::string host() const { return borrowed(vtf_server_host(c())); }
  /// "host:port"
  std::string address() const { return host() + ":" + std::to_string(port()); }
  /// -1 when not running.
  int32_t pid() const { return vtf_server_pid(c()); }
  /// The working directory (rdb, aof, nodes.conf).
  std::string dir() const { return borrowed(vtf_server_dir(c())); }
  std::string log_path() const { return borrowed(vtf_server_log_path(c())); }
  bool is_running() const { return vtf_server_is_running(c()); }
  /// Attached (Server::attach, env VTF_EXTERNAL) rather than started: stop,
  /// restart, logs and check_clean throw (VTF_ERR_UNSUPPORTED).
  bool is_external() const { return vtf_server_is_external(c()); }

  /// Graceful stop; idempotent.
  void stop() const { check(vtf_server_stop(c()), "vtf_server_stop"); }
  /// Restarts on the same port; keep_data keeps the directory (RDB/AOF are loaded again).
  void restart(bool keep_data = true) const { check(vtf_server_restart(c(), keep_data), "vtf_server_restart"); }

  /// TLS file paths; empty when TLS is off.
  std::string tls_ca_cert_path() const { return borrowed(vtf_server_tls_ca_cert_path(c())); }
  std::string tls_client_cert_path() const { return borrowed(vtf_server_tls_client_cert_path(c())); }
  std::string tls_client_key_path() const { return borrowed(vtf_server_tls_client_key_path(c())); }

  /// The password the server requires (for valkey-cli's -a or env REDISCLI_AUTH);
  /// empty optional when auth is off. vtf's own clients send it themselves.
  std::optional<std::string> password() const {
    const char* p = vtf_server_password(c());
    if (!p) return std::nullopt;
    return std::string(p);
  }

  bool log_contains(const std::string& needle) const {
    bool found = false;
    check(vtf_server_log_contains(c(), needle.c_str(), &found), "vtf_server_log_contains");
    return found;
  }
  void wait_for_log(const std::string& needle, std::chrono::milliseconds timeout = kDefaultTimeout) const {
    check(vtf_server_wait_for_log(c(), needle.c_str(), to_ms(timeout)), "vtf_server_wait_for_log");
  }
  /// The last `lines` lines of the server's log.
  std::string log_tail(size_t lines = 40) const {
    char* text = nullptr;
    check(vtf_server_log_tail(c(), lines, &text), "vtf_server_log_tail");
    return take_string(text);
  }
  /// One field of INFO <section>, e.g. info_field("persistence", "aof_rewrite_in_progress").
  std::string info_field(const std::string& section, const std::string& field) const {
    char* value = nullptr;
    check(vtf_server_info_field(c(), section.c_str(), field.c_str(), &value), "vtf_server_info_field");
    return take_string(value);
  }
  /// After stop: throws when sanitizer/valgrind reports or a bad exit status were found.
  void check_clean() const { check(vtf_server_check_clean(c()), "vtf_server_check_clean"); }

  /// A new connection to this server.
  Client connect() const {
    vtf_client* client = nullptr;
    check(vtf_client_connect(c(), &client), "vtf_client_connect");
    return Client(client);  // owned from here
  }

  explicit operator bool() const noexcept { return c() != nullptr; }

 private:
  vtf_server* c() const noexcept { return static_cast<const Self&>(*this).get(); }
};

}  // namespace detail

class Server;

/// A non-owning view of a server: a node of a replication group or cluster, or a
/// view of a vtf::Server. It never frees the server; it must not outlive it.
/// Copyable; a Server converts to one implicitly (or with ref()).
class ServerRef : public detail::ServerApi<ServerRef> {
 public:
  ServerRef() = default;
  explicit ServerRef(vtf_server* server) noexcept : server_(server) {}
  /// A view of `server`; valid while `server` owns its process.
  ServerRef(const Server& server) noexcept;  // NOLINT(google-explicit-constructor): a view, as a Server&

  vtf_server* get() const noexcept { return server_; }

 private:
  vtf_server* server_ = nullptr;
};

inline Client::Client(const ServerRef& server)
    : client_(detail::create<vtf_client, detail::ClientDeleter>(
          "vtf_client_connect", [&](vtf_client** out) { return vtf_client_connect(server.get(), out); })) {}

/// An owned server: started by the constructor, stopped and its directory removed
/// when it is destroyed or reset(). Move-only. Converts to ServerRef (a view).
class Server : public detail::ServerApi<Server> {
 public:
  /// Starts a server; returns once it answers PING.
  explicit Server(const Config& config = Config())
      : server_(detail::create<vtf_server, detail::ServerDeleter>(
            "vtf_server_start", [&](vtf_server** out) { return vtf_server_start(config.to_c().get(), out); })) {}
  /// Takes ownership of a C server.
  static Server adopt(vtf_server* server) noexcept { return Server(server, Adopt{}); }
  /// Attaches to a server vtf did not start; destroying it leaves the server running.
  static Server attach(const Config& config, const std::string& host, uint16_t port) {
    return adopt(detail::create<vtf_server, detail::ServerDeleter>("vtf_server_attach", [&](vtf_server** out) {
                   return vtf_server_attach(config.to_c().get(), host.c_str(), port, out);
                 }).release());
  }

  vtf_server* get() const noexcept { return server_.get(); }
  ServerRef ref() const noexcept { return ServerRef(get()); }
  vtf_server* release() noexcept { return server_.release(); }
  /// Stops the server and removes its directory now.
  void reset() noexcept { server_.reset(); }

 private:
  struct Adopt {};
  Server(vtf_server* server, Adopt) noexcept : server_(server) {}

  std::unique_ptr<vtf_server, detail::ServerDeleter> server_;
};

inline ServerRef::ServerRef(const Server& server) noexcept : server_(server.get()) {}

// ---------------------------------------------------------------------------
// Port
// ---------------------------------------------------------------------------

/// A port (and its bus port, +10000) reserved across processes, for a program
/// the test starts itself; no vtf server or other reservation gets it until the
/// Port is destroyed. Move-only.
///
///   vtf::Port port;  my_proxy --listen port.number()
class Port {
 public:
  Port() : port_(detail::create<vtf_port, detail::PortDeleter>("vtf_port_reserve", vtf_port_reserve)) {}

  uint16_t number() const noexcept { return vtf_port_number(port_.get()); }
  vtf_port* get() const noexcept { return port_.get(); }

 private:
  std::unique_ptr<vtf_port, detail::PortDeleter> port_;
};

// ---------------------------------------------------------------------------
// Replication
// ---------------------------------------------------------------------------

/// A primary and N replicas. Nodes are borrowed (ServerRef); the group frees them.
/// Move-only.
class Replication {
 public:
  Replication(const Config& config, size_t replicas)
      : group_(detail::create<vtf_replication, detail::ReplicationDeleter>(
            "vtf_replication_create", [&](vtf_replication** out) {
              return vtf_replication_create(config.to_c().get(), replicas, out);
            })) {}
  Replication(const Config& primary, const Config& replica, size_t replicas)
      : group_(detail::create<vtf_replication, detail::ReplicationDeleter>(
            "vtf_replication_create_with", [&](vtf_replication** out) {
              return vtf_replication_create_with(primary.to_c().get(), replica.to_c().get(), replicas, out);
            })) {}

  /// The current primary (follows promote()).
  ServerRef primary() const {
    vtf_server* s = vtf_replication_primary(get());
    if (!s) detail::fail(VTF_ERR_NULL_ARGUMENT, "vtf_replication_primary", last_error());
    return ServerRef(s);
  }
  ServerRef replica(size_t index) const {
    vtf_server* s = vtf_replication_replica(get(), index);
    if (!s)
      throw std::out_of_range("vtf::Replication::replica(" + std::to_string(index) + "): the group has " +
                              std::to_string(replica_count()) + " replicas");
    return ServerRef(s);
  }
  size_t replica_count() const { return vtf_replication_replica_count(get()); }
  std::vector<ServerRef> replicas() const {
    std::vector<ServerRef> out;
    for (size_t i = 0, n = replica_count(); i < n; ++i) out.push_back(replica(i));
    return out;
  }

  /// Waits until every replica has caught up with the primary.
  void wait_sync(std::chrono::milliseconds timeout = kDefaultTimeout) {
    detail::check(vtf_replication_wait_sync(get(), detail::to_ms(timeout)), "vtf_replication_wait_sync");
  }
  void promote(size_t replica_index) {
    detail::check(vtf_replication_promote(get(), replica_index), "vtf_replication_promote");
  }
  /// Adds a replica; returns its index.
  size_t add_replica() {
    size_t index = 0;
    detail::check(vtf_replication_add_replica(get(), &index), "vtf_replication_add_replica");
    return index;
  }

  vtf_replication* get() const noexcept { return group_.get(); }
  /// Stops every node and removes their directories now.
  void reset() noexcept { group_.reset(); }

 private:
  std::unique_ptr<vtf_replication, detail::ReplicationDeleter> group_;
};

// ---------------------------------------------------------------------------
// Cluster
// ---------------------------------------------------------------------------

/// A cluster of `shards` primaries with `replicas_per_shard` replicas each.
/// Nodes are borrowed (ServerRef), primaries first. Move-only.
class Cluster {
 public:
  Cluster(const Config& config, size_t shards, size_t replicas_per_shard = 0)
      : cluster_(detail::create<vtf_cluster, detail::ClusterDeleter>(
            "vtf_cluster_create", [&](vtf_cluster** out) {
              return vtf_cluster_create(config.to_c().get(), shards, replicas_per_shard, out);
            })),
        shards_(shards),
        replicas_per_shard_(replicas_per_shard) {}

  /// Attaches to the cluster of the node at host:port (found with CLUSTER NODES);
  /// destroying it leaves every node running.
  static Cluster attach(const Config& config, const std::string& host, uint16_t port) {
    return Cluster(detail::create<vtf_cluster, detail::ClusterDeleter>("vtf_cluster_attach", [&](vtf_cluster** out) {
      return vtf_cluster_attach(config.to_c().get(), host.c_str(), port, out);
    }));
  }

  /// One past the highest node index: a removed shard's indices stay counted
  /// (vacant; node() throws for them, nodes() skips them).
  size_t node_count() const { return vtf_cluster_node_count(get()); }
  /// The number of shards the cluster was started with (see shard_count()).
  size_t shards() const noexcept { return shards_; }
  size_t replicas_per_shard() const noexcept { return replicas_per_shard_; }

  /// Node `index`; primaries first (0 .. shards-1). Each process keeps its index
  /// after a failover.
  ServerRef node(size_t index) const {
    vtf_server* s = vtf_cluster_node(get(), index);
    if (!s)
      throw std::out_of_range("vtf::Cluster::node(" + std::to_string(index) + "): " + last_error());
    return ServerRef(s);
  }
  /// Every node of the cluster in index order (vacant indices skipped).
  std::vector<ServerRef> nodes() const {
    std::vector<ServerRef> out;
    for (size_t i = 0, n = node_count(); i < n; ++i)
      if (vtf_server* s = vtf_cluster_node(get(), i)) out.push_back(ServerRef(s));
    return out;
  }

  /// A client that routes each command by its key's slot.
  Client connect() {
    vtf_client* c = nullptr;
    detail::check(vtf_cluster_connect(get(), &c), "vtf_cluster_connect");
    return Client(c);
  }
  void wait_ok(std::chrono::milliseconds timeout = kDefaultTimeout) {
    detail::check(vtf_cluster_wait_ok(get(), detail::to_ms(timeout)), "vtf_cluster_wait_ok");
  }
  void failover(size_t shard) { detail::check(vtf_cluster_failover(get(), shard), "vtf_cluster_failover"); }

  /// The shards in the cluster now (added ones counted, removed ones not).
  size_t shard_count() const { return vtf_cluster_shard_count(get()); }
  /// Moves slots first..last (inclusive) with their keys to shard `to_shard`;
  /// returns once every node sees the new owner.
  void move_slots(uint16_t first_slot, uint16_t last_slot, size_t to_shard) {
    detail::check(vtf_cluster_move_slots(get(), first_slot, last_slot, to_shard), "vtf_cluster_move_slots");
  }
  /// Starts and joins a new, empty shard with `replicas` replicas; returns its
  /// number. Its nodes get the next indices, primary first.
  size_t add_shard(size_t replicas = 0) {
    size_t shard = 0;
    detail::check(vtf_cluster_add_shard(get(), replicas, &shard), "vtf_cluster_add_shard");
    return shard;
  }
  /// Moves the shard's slots and keys to the others, then stops its nodes and
  /// makes every other node forget them; their indices become vacant.
  void remove_shard(size_t shard) { detail::check(vtf_cluster_remove_shard(get(), shard), "vtf_cluster_remove_shard"); }

  vtf_cluster* get() const noexcept { return cluster_.get(); }
  /// Stops every node and removes their directories now.
  void reset() noexcept { cluster_.reset(); }

 private:
  /// An attached cluster: its shape as discovered (the shards it has, and the
  /// replicas of each when they are even).
  explicit Cluster(std::unique_ptr<vtf_cluster, detail::ClusterDeleter> cluster)
      : cluster_(std::move(cluster)), shards_(shard_count()) {
    if (shards_ > 0) replicas_per_shard_ = (node_count() - shards_) / shards_;
  }

  std::unique_ptr<vtf_cluster, detail::ClusterDeleter> cluster_;
  size_t shards_ = 0;
  size_t replicas_per_shard_ = 0;
};

// ---------------------------------------------------------------------------
// Waiting and building
// ---------------------------------------------------------------------------

/// Polls `condition` until it returns true; throws vtf::Error (VTF_ERR_TIMEOUT,
/// naming `description`) when `timeout` passes first. An exception thrown by the
/// condition stops the wait and is rethrown here.
inline void wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                       const std::string& description) {
  struct State {
    const std::function<bool()>* condition;
    std::exception_ptr error;
  } state{&condition, nullptr};
  auto trampoline = [](void* user_data) -> bool {
    auto* st = static_cast<State*>(user_data);
    try {
      return (*st->condition)();
    } catch (...) {
      st->error = std::current_exception();
      return true;  // stop waiting; rethrown below
    }
  };
  vtf_status status = vtf_wait_until(trampoline, &state, detail::to_ms(timeout), description.c_str());
  if (state.error) std::rethrow_exception(state.error);
  detail::check(status, "vtf_wait_until");
}

/// Builds (or finds in the cache) valkey-server from `repo` (nullopt: the Valkey
/// project's repository; a local path or git URL) at `git_ref`; returns the binary's path.
inline std::string build_server(const std::optional<std::string>& repo, const std::string& git_ref) {
  char* path = nullptr;
  detail::check(vtf_build_server(repo ? repo->c_str() : nullptr, git_ref.c_str(), &path), "vtf_build_server");
  return detail::take_string(path);
}

}  // namespace vtf

#endif  // VTF_HPP
