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
  char last_error[4096];
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

/* Starts a server from `config` (default config when NULL) and tracks it. */
static inline vtf_server *check_start(const vtf_config *config) {
  vtf_config *own = NULL;
  if (config == NULL) {
    own = vtf_config_new();
    CHECK(own != NULL);
    config = own;
  }
  vtf_server *server = NULL;
  CHECK_OK(vtf_server_start(config, &server));
  CHECK(server != NULL);
  vtf_config_free(own);
  return check_track(server);
}

static inline vtf_client *check_connect(const vtf_server *server) {
  vtf_client *client = NULL;
  CHECK_OK(vtf_client_connect(server, &client));
  CHECK(client != NULL);
  return client;
}

/* Runs a command line and returns its reply (never NULL). */
static inline vtf_reply *check_cmd(vtf_client *client, const char *line) {
  vtf_reply *reply = NULL;
  vtf_status status = vtf_client_command_str(client, line, &reply);
  CHECK_MSG(status == VTF_OK, "command \"%s\" returned %s", line, vtf_status_name(status));
  CHECK_MSG(reply != NULL, "command \"%s\" gave a NULL reply", line);
  return reply;
}

/* Runs a command line whose reply must be a status or string equal to `want`. */
static inline void check_cmd_str(vtf_client *client, const char *line, const char *want) {
  vtf_reply *reply = check_cmd(client, line);
  size_t len = 0;
  const char *got = vtf_reply_string(reply, &len);
  CHECK_MSG(got != NULL && len == strlen(want) && memcmp(got, want, len) == 0,
            "\"%s\" replied %s \"%s\", expected \"%s\"", line,
            vtf_reply_get_type(reply) == VTF_REPLY_ERROR ? "an error" : "",
            got ? got : "(no string)", want);
  vtf_reply_free(reply);
}

/* Runs a command line whose reply must be the integer `want`. */
static inline void check_cmd_int(vtf_client *client, const char *line, long long want) {
  vtf_reply *reply = check_cmd(client, line);
  CHECK_MSG(vtf_reply_get_type(reply) == VTF_REPLY_INTEGER && vtf_reply_integer(reply) == want,
            "\"%s\" replied type %d value %lld, expected the integer %lld", line,
            (int)vtf_reply_get_type(reply), (long long)vtf_reply_integer(reply), want);
  vtf_reply_free(reply);
}

#define CHECK_DONE(name)                                      \
  do {                                                        \
    printf("%s: %d checks passed\n", (name), check_count);    \
    return 0;                                                 \
  } while (0)

#endif /* VTF_CHECK_H */
