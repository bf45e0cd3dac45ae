/* Diagnostics from C: vtf_wait_until, vtf_server_info_field, vtf_server_log_tail,
 * vtf_server_check_clean and the messages of failed starts and waits. */
#include "check.h"

#include <stdbool.h>

struct counter {
  int calls;
  int true_after;
};

static bool count_calls(void *user_data) {
  struct counter *c = user_data;
  c->calls++;
  return c->calls >= c->true_after;
}

static bool never(void *user_data) {
  (void)user_data;
  return false;
}

static void test_wait_until(void) {
  struct counter c = {0, 5};
  CHECK_OK(vtf_wait_until(count_calls, &c, 5000, "the fifth call"));
  CHECK_INT_EQ(c.calls, 5);
  CHECK_STR_EQ(vtf_last_error(), "");

  double start = check_now_ms();
  CHECK_STATUS(vtf_wait_until(never, NULL, 200, "the moon turns blue"), VTF_ERR_TIMEOUT);
  CHECK_MSG(check_now_ms() - start >= 200.0, "returned before the timeout");
  CHECK_CONTAINS(vtf_last_error(), "the moon turns blue");
  CHECK_CONTAINS(vtf_last_error(), "timed out");

  /* No description: still a useful message. */
  CHECK_STATUS(vtf_wait_until(never, NULL, 10, NULL), VTF_ERR_TIMEOUT);
  CHECK(strlen(vtf_last_error()) > 0);
  CHECK_STATUS(vtf_wait_until(NULL, NULL, 10, "x"), VTF_ERR_NULL_ARGUMENT);
}

static void test_info_field_and_log_tail(void) {
  vtf_server *server = check_start(NULL);
  char expected[16];
  snprintf(expected, sizeof expected, "%u", (unsigned)vtf_server_port(server));

  char *value = NULL;
  CHECK_OK(vtf_server_info_field(server, "server", "tcp_port", &value));
  CHECK_STR_EQ(value, expected);
  vtf_string_free(value);

  value = NULL;
  CHECK_OK(vtf_server_info_field(server, "replication", "role", &value));
  CHECK_STR_EQ(value, "master");
  vtf_string_free(value);

  value = NULL;
  CHECK_STATUS(vtf_server_info_field(server, "server", "no_such_field", &value),
               VTF_ERR_INVALID_ARGUMENT);
  CHECK(value == NULL);
  CHECK_CONTAINS(vtf_last_error(), "no_such_field");

  char *tail = NULL;
  CHECK_OK(vtf_server_log_tail(server, 50, &tail));
  CHECK_CONTAINS(tail, "Ready to accept connections");
  vtf_string_free(tail);
  /* One line: the last one, no newline inside. */
  tail = NULL;
  CHECK_OK(vtf_server_log_tail(server, 1, &tail));
  CHECK(tail != NULL && strchr(tail, '\n') == NULL);
  vtf_string_free(tail);

  /* A wait that times out names the server and quotes its log. */
  CHECK_STATUS(vtf_server_wait_for_log(server, "a line no server writes", 200), VTF_ERR_TIMEOUT);
  char where[64];
  snprintf(where, sizeof where, "127.0.0.1:%s (pid %d", expected, (int)vtf_server_pid(server));
  CHECK_CONTAINS(vtf_last_error(), where);
  CHECK_CONTAINS(vtf_last_error(), vtf_server_dir(server));
  CHECK_CONTAINS(vtf_last_error(), "Ready to accept connections");

  /* Running: check_clean refuses; stopped cleanly: clean. */
  CHECK_STATUS(vtf_server_check_clean(server), VTF_ERR_INVALID_ARGUMENT);
  CHECK_OK(vtf_server_stop(server));
  CHECK_OK(vtf_server_check_clean(server));
  check_free_server(server);
}

static void test_failed_start_message(void) {
  vtf_config *config = vtf_config_new();
  CHECK(config != NULL);
  CHECK_OK(vtf_config_add_arg(config, "no-such-option", "x"));
  vtf_server *server = NULL;
  CHECK_STATUS(vtf_server_start(config, &server), VTF_ERR_SERVER_EXITED);
  CHECK(server == NULL);
  const char *msg = vtf_last_error();
  CHECK_CONTAINS(msg, "exited during startup");
  CHECK_CONTAINS(msg, "(pid ");
  CHECK_CONTAINS(msg, "server.log");
  CHECK_CONTAINS(msg, "Bad directive");
  vtf_config_free(config);
}

static void test_crash_is_not_clean(void) {
  vtf_server *server = check_start(NULL);
  vtf_client *client = check_connect(server);
  vtf_status status = crash_server(client);
  CHECK_STATUS(status, VTF_ERR_SERVER_EXITED);
  vtf_client_free(client);
  CHECK_STATUS(vtf_server_check_clean(server), VTF_ERR_SERVER_EXITED);
  CHECK_CONTAINS(vtf_last_error(), "killed by signal 11");
  CHECK_CONTAINS(vtf_last_error(), "crashed by signal");
  check_free_server(server);
}

static void test_wrapper(void) {
  vtf_config *config = vtf_config_new();
  CHECK(config != NULL);
  /* `sh -c SCRIPT server args...`: the script runs with $0 = the server binary
   * and $@ = its arguments, says so in the log and execs the server (same pid). */
  CHECK_OK(vtf_config_set_wrapper(
      config, "sh -c \"echo wrapped-by-the-c-test; exec \\\"$0\\\" \\\"$@\\\"\""));
  vtf_server *server = check_start(config);
  bool wrapped = false;
  CHECK_OK(vtf_server_log_contains(server, "wrapped-by-the-c-test", &wrapped));
  CHECK_MSG(wrapped, "the wrapper did not run before the server");
  check_free_server(server);

  /* A wrapper that does not exist is named in the error. */
  CHECK_OK(vtf_config_set_wrapper(config, "/nonexistent/vtf-wrapper --flag"));
  server = NULL;
  CHECK(vtf_server_start(config, &server) != VTF_OK);
  CHECK(server == NULL);
  CHECK_CONTAINS(vtf_last_error(), "/nonexistent/vtf-wrapper");

  /* Empty: no wrapper at all. */
  CHECK_OK(vtf_config_set_wrapper(config, ""));
  server = check_start(config);
  CHECK_OK(vtf_server_log_contains(server, "wrapped-by-the-c-test", &wrapped));
  CHECK(!wrapped);
  check_free_server(server);

  CHECK_STATUS(vtf_config_set_wrapper(config, "env \"unterminated"), VTF_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(vtf_config_set_wrapper(NULL, "env"), VTF_ERR_NULL_ARGUMENT);
  CHECK_OK(vtf_config_set_wrapper(config, NULL));
  vtf_config_free(config);
}

int main(void) {
  test_wait_until();
  test_wrapper();
  test_info_field_and_log_tail();
  test_failed_start_message();
  test_crash_is_not_clean();
  CHECK_DONE("test_diagnostics");
}
