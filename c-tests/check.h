/* Assertions for the C tests: each failure prints file:line, the expression,
 * the status name and vtf_last_error(), frees the servers the test registered
 * (so no valkey-server outlives a failed test) and exits with status 1. */
#ifndef VTF_CHECK_H
#define VTF_CHECK_H

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* clock_gettime, mkdtemp, kill, setenv */
#endif
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <vtf.h>

#define CHECK_MAX_TRACKED 16
static vtf_server *check_tracked[CHECK_MAX_TRACKED];
static int check_count;

/* Registers a server to be freed when a check fails. */
static inline vtf_server *check_track(vtf_server *server) {
  for (int i = 0; i < CHECK_MAX_TRACKED; i++) {
    if (check_tracked[i] == NULL) {
      check_tracked[i] = server;
      return server;
    }
  }
  fprintf(stderr, "check.h: more than %d tracked servers\n", CHECK_MAX_TRACKED);
  exit(2);
}

/* Frees a tracked server (NULL allowed) and forgets it. */
static inline void check_free_server(vtf_server *server) {
  for (int i = 0; i < CHECK_MAX_TRACKED; i++) {
    if (check_tracked[i] == server) check_tracked[i] = NULL;
  }
  vtf_server_free(server);
}

static inline void check_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));
static inline void check_fail(const char *file, int line, const char *fmt, ...) {
  char last_error[16384];
  fflush(stdout); /* the test's own progress lines first */
  /* Copy first: freeing the servers below replaces the thread's last error. */
  snprintf(last_error, sizeof last_error, "%s", vtf_last_error());
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s:%d: CHECK FAILED: ", file, line);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\n  vtf_last_error(): %s\n", last_error);
  for (int i = 0; i < CHECK_MAX_TRACKED; i++) {
    if (check_tracked[i] != NULL) {
      vtf_server_free(check_tracked[i]);
      check_tracked[i] = NULL;
    }
  }
  fflush(stderr);
  exit(1);
}

#define CHECK(cond)                                                  \
  do {                                                               \
    check_count++;                                                   \
    if (!(cond)) check_fail(__FILE__, __LINE__, "%s", #cond);        \
  } while (0)

#define CHECK_MSG(cond, ...)                                         \
  do {                                                               \
    check_count++;                                                   \
    if (!(cond)) check_fail(__FILE__, __LINE__, __VA_ARGS__);        \
  } while (0)

/* expr must return `expected`; the names of both are printed otherwise. */
#define CHECK_STATUS(expr, expected)                                              \
  do {                                                                            \
    check_count++;                                                                \
    vtf_status check_got_ = (expr);                                               \
    vtf_status check_want_ = (expected);                                          \
    if (check_got_ != check_want_)                                                \
      check_fail(__FILE__, __LINE__, "%s returned %s (%d), expected %s", #expr,   \
                 vtf_status_name(check_got_), (int)check_got_,                    \
                 vtf_status_name(check_want_));                                   \
  } while (0)

#define CHECK_OK(expr) CHECK_STATUS(expr, VTF_OK)

#define CHECK_INT_EQ(a, b)                                                        \
  do {                                                                            \
    check_count++;                                                                \
    long long check_a_ = (long long)(a), check_b_ = (long long)(b);               \
    if (check_a_ != check_b_)                                                     \
      check_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, check_a_,  \
                 check_b_);                                                       \
  } while (0)

#define CHECK_STR_EQ(a, b)                                                        \
  do {                                                                            \
    check_count++;                                                                \
    const char *check_a_ = (a), *check_b_ = (b);                                  \
    if (check_a_ == NULL || check_b_ == NULL || strcmp(check_a_, check_b_) != 0)  \
      check_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, #b,        \
                 check_a_ ? check_a_ : "(null)", check_b_ ? check_b_ : "(null)"); \
  } while (0)

#define CHECK_CONTAINS(haystack, needle)                                          \
  do {                                                                            \
    check_count++;                                                                \
    const char *check_h_ = (haystack), *check_n_ = (needle);                      \
    if (check_h_ == NULL || strstr(check_h_, check_n_) == NULL)                   \
      check_fail(__FILE__, __LINE__, "%s does not contain \"%s\": \"%s\"",        \
                 #haystack, check_n_, check_h_ ? check_h_ : "(null)");            \
  } while (0)

/* Milliseconds on the monotonic clock. */
static inline double check_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* The helpers below report failures at their caller's file:line. */
#define CHECK_AT(file, line, cond, ...)                     \
  do {                                                      \
    check_count++;                                          \
    if (!(cond)) check_fail(file, line, __VA_ARGS__);       \
  } while (0)

/* Starts a server from `config` (default config when NULL) and tracks it. */
static inline vtf_server *check_start_at(const char *file, int line, const vtf_config *config) {
  vtf_config *own = NULL;
  if (config == NULL) {
    own = vtf_config_new();
    CHECK_AT(file, line, own != NULL, "vtf_config_new() returned NULL");
    config = own;
  }
  vtf_server *server = NULL;
  vtf_status status = vtf_server_start(config, &server);
  CHECK_AT(file, line, status == VTF_OK && server != NULL, "vtf_server_start returned %s",
           vtf_status_name(status));
  vtf_config_free(own);
  return check_track(server);
}
#define check_start(config) check_start_at(__FILE__, __LINE__, (config))

static inline vtf_client *check_connect_at(const char *file, int line, const vtf_server *server) {
  vtf_client *client = NULL;
  vtf_status status = vtf_client_connect(server, &client);
  CHECK_AT(file, line, status == VTF_OK && client != NULL, "vtf_client_connect returned %s",
           vtf_status_name(status));
  return client;
}
#define check_connect(server) check_connect_at(__FILE__, __LINE__, (server))

/* Runs a command line and returns its reply (never NULL). */
static inline vtf_reply *check_cmd_at(const char *file, int line, vtf_client *client,
                                      const char *command) {
  vtf_reply *reply = NULL;
  vtf_status status = vtf_client_command_str(client, command, &reply);
  CHECK_AT(file, line, status == VTF_OK, "command \"%s\" returned %s", command,
           vtf_status_name(status));
  CHECK_AT(file, line, reply != NULL, "command \"%s\" gave a NULL reply", command);
  return reply;
}
#define check_cmd(client, command) check_cmd_at(__FILE__, __LINE__, (client), (command))

/* Runs a command line whose reply must be a status or string equal to `want`. */
static inline void check_cmd_str_at(const char *file, int line, vtf_client *client,
                                    const char *command, const char *want) {
  vtf_reply *reply = check_cmd_at(file, line, client, command);
  size_t len = 0;
  const char *got = vtf_reply_string(reply, &len);
  CHECK_AT(file, line, got != NULL && len == strlen(want) && memcmp(got, want, len) == 0,
           "\"%s\" replied (type %d) \"%s\", expected \"%s\"", command,
           (int)vtf_reply_get_type(reply), got ? got : "(no string)", want);
  vtf_reply_free(reply);
}
#define check_cmd_str(client, command, want) \
  check_cmd_str_at(__FILE__, __LINE__, (client), (command), (want))

/* Runs a command line whose reply must be the integer `want`. */
static inline void check_cmd_int_at(const char *file, int line, vtf_client *client,
                                    const char *command, long long want) {
  vtf_reply *reply = check_cmd_at(file, line, client, command);
  CHECK_AT(file, line,
           vtf_reply_get_type(reply) == VTF_REPLY_INTEGER && vtf_reply_integer(reply) == want,
           "\"%s\" replied type %d value %lld, expected the integer %lld", command,
           (int)vtf_reply_get_type(reply), (long long)vtf_reply_integer(reply), want);
  vtf_reply_free(reply);
}
#define check_cmd_int(client, command, want) \
  check_cmd_int_at(__FILE__, __LINE__, (client), (command), (want))

/* Crashes the server with DEBUG SEGFAULT (needs enable-debug-command); returns
 * the status of that call or, when the reply won the race, of the next PING. */
static inline vtf_status crash_server(vtf_client *client) {
  vtf_reply *reply = NULL;
  vtf_status status = vtf_client_command_str(client, "DEBUG SEGFAULT", &reply);
  if (status == VTF_OK) {
    vtf_reply_free(reply);
    reply = NULL;
    status = vtf_client_command_str(client, "PING", &reply);
    vtf_reply_free(reply);
  }
  return status;
}

#define CHECK_DONE(name)                                      \
  do {                                                        \
    printf("%s: %d checks passed\n", (name), check_count);    \
    return 0;                                                 \
  } while (0)

#endif /* VTF_CHECK_H */
