// Status and Result<T>: errors as values across module boundaries.
//
// A Status is either ok or carries a code and a message written for the person who will
// read it: what was wrong and what to do. Result<T> holds a T or a non-ok Status, never both.
#pragma once

#include <cassert>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace tokengrid {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // the caller's input is malformed or out of range
  kNotFound,         // a named thing (file, key, model, route) does not exist
  kCorrupt,          // a file or stream is truncated or inconsistent
  kUnsupported,      // well-formed but not handled (a tensor type, a version)
  kResourceExhausted,// out of memory, queue full, over a limit
  kUnavailable,      // not ready yet or shutting down; retrying may help
  kIoError,          // the operating system refused an operation
  kInternal,         // a bug in tokengrid
};

const char* status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return Status(); }

  bool is_ok() const { return code_ == StatusCode::kOk; }
  explicit operator bool() const { return is_ok(); }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "code: message", or "ok".
  std::string to_string() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status invalid_argument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status not_found(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status corrupt(std::string m) { return {StatusCode::kCorrupt, std::move(m)}; }
inline Status unsupported(std::string m) { return {StatusCode::kUnsupported, std::move(m)}; }
inline Status resource_exhausted(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }
inline Status unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status io_error(std::string m) { return {StatusCode::kIoError, std::move(m)}; }
inline Status internal_error(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

// A value, or the error explaining why there is none. E is Status across modules; a layer
// with its own error shape (the OpenAI API's error object) names it as E.
template <typename T, typename E = Status>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(E error) : v_(std::move(error)) {
    if constexpr (std::is_same_v<E, Status>) assert(!std::get<E>(v_).is_ok());
  }

  bool is_ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return is_ok(); }

  // The error; only when !is_ok().
  const E& error() const { return std::get<E>(v_); }
  // The status: ok when there is a value.
  const Status& status() const
    requires std::is_same_v<E, Status>
  {
    static const Status kOk;
    return is_ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, E> v_;
};

}  // namespace tokengrid

// Returns early from the enclosing function with the status of `expr` when it is not ok.
#define TG_RETURN_IF_ERROR(expr)                       \
  do {                                                 \
    ::tokengrid::Status tg_status_ = (expr);           \
    if (!tg_status_.is_ok()) return tg_status_;        \
  } while (0)

#define TG_CONCAT_INNER_(a, b) a##b
#define TG_CONCAT_(a, b) TG_CONCAT_INNER_(a, b)
// Declares `lhs` from a Result-returning `expr`, or returns its status early.
#define TG_ASSIGN_OR_RETURN(lhs, expr)                                    \
  auto TG_CONCAT_(tg_result_, __LINE__) = (expr);                         \
  if (!TG_CONCAT_(tg_result_, __LINE__).is_ok())                          \
    return TG_CONCAT_(tg_result_, __LINE__).status();                     \
  lhs = std::move(TG_CONCAT_(tg_result_, __LINE__)).value()
