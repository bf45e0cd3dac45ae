/* Restarts (with and without the data) and a server that crashes under a client. */
#include "check.h"

#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

static void test_restart(void) {
  vtf_server *server = check_start(NULL);
  uint16_t port = vtf_server_port(server);
  int32_t pid = vtf_server_pid(server);
  vtf_client *client = check_connect(server);
  check_cmd_str(client, "SET survivor \"kept across restarts\"", "OK");
  vtf_client_free(client);

  CHECK_OK(vtf_server_restart(server, true));
  CHECK(vtf_server_is_running(server));
  CHECK_INT_EQ(vtf_server_port(server), port);
  CHECK(vtf_server_pid(server) > 0);
  CHECK(vtf_server_pid(server) != pid);
  CHECK_MSG(kill(pid, 0) == -1 && errno == ESRCH, "the old process %d is still there", (int)pid);
  client = check_connect(server);
  check_cmd_str(client, "GET survivor", "kept across restarts");
  vtf_client_free(client);

  /* Stopped, then restarted: also fine, same port. */
  CHECK_OK(vtf_server_stop(server));
  CHECK_OK(vtf_server_restart(server, true));
  CHECK_INT_EQ(vtf_server_port(server), port);
  client = check_connect(server);
  check_cmd_str(client, "GET survivor", "kept across restarts");
  vtf_client_free(client);

  CHECK_OK(vtf_server_restart(server, false));
  CHECK_INT_EQ(vtf_server_port(server), port);
  client = check_connect(server);
  vtf_reply *reply = check_cmd(client, "GET survivor");
  CHECK_MSG(vtf_reply_get_type(reply) == VTF_REPLY_NIL,
            "restart(keep_data=false) kept the key (reply type %d)", (int)vtf_reply_get_type(reply));
  vtf_reply_free(reply);
  check_cmd_int(client, "DBSIZE", 0);
  vtf_client_free(client);
  check_free_server(server);
}

static void test_crash(vtf_tls_mode tls) {
  printf("crash test, TLS mode %d\n", (int)tls);
  vtf_config *config = vtf_config_new();
  CHECK_OK(vtf_config_set_tls(config, tls));
  CHECK_OK(vtf_config_add_arg(config, "enable-debug-command", "yes"));
  vtf_server *server = check_start(config);
  int32_t pid = vtf_server_pid(server);
  vtf_client *client = check_connect(server);
  check_cmd_str(client, "PING", "PONG");

  /* A line the server logs after start is seen by the log functions. */
  bool found = true;
  CHECK_OK(vtf_server_log_contains(server, "vtf-c-tests-marker-4711", &found));
  CHECK(!found);
  check_cmd_str(client, "DEBUG LOG vtf-c-tests-marker-4711", "OK");
  CHECK_OK(vtf_server_wait_for_log(server, "vtf-c-tests-marker-4711", 5000));
  CHECK_OK(vtf_server_log_contains(server, "vtf-c-tests-marker-4711", &found));
  CHECK(found);

  /* The DEBUG call itself or the next command reports the exit. */
  vtf_status status = crash_server(client);
  char message[16384];
  snprintf(message, sizeof message, "%s", vtf_last_error());
  CHECK_STATUS(status, VTF_ERR_SERVER_EXITED);
  CHECK_MSG(strstr(message, "crashed by signal") != NULL || strstr(message, "BUG REPORT") != NULL,
            "no crash report in the error: %s", message);
  /* The process is gone (and reaped) and the handle knows it. */
  CHECK(!vtf_server_is_running(server));
  CHECK_INT_EQ(vtf_server_pid(server), -1);
  CHECK_MSG(kill(pid, 0) == -1 && errno == ESRCH, "crashed process %d still exists", (int)pid);
  /* Further commands keep saying so, they do not hang; the out-param stays unwritten. */
  vtf_reply *reply = NULL;
  CHECK_STATUS(vtf_client_command_str(client, "PING", &reply), VTF_ERR_SERVER_EXITED);
  CHECK(reply == NULL);
  vtf_client_free(client);

  /* A crashed server can be started again, as fast as any restart. */
  double start = check_now_ms();
  CHECK_OK(vtf_server_restart(server, false));
  double elapsed = check_now_ms() - start;
  printf("restart after the crash took %.0f ms\n", elapsed);
  CHECK_MSG(elapsed < 5000.0, "restart after a crash took %.0f ms", elapsed);
  client = check_connect(server);
  check_cmd_str(client, "PING", "PONG");

  /* The old crash report in the log must not be blamed for a later, ordinary
   * connection failure of the healthy new process: the client kills its own
   * connection, the next command fails as a connection error, at once. */
  reply = NULL;
  status = vtf_client_command_str(client, "CLIENT KILL SKIPME no", &reply);
  vtf_reply_free(reply);
  reply = NULL;
  start = check_now_ms();
  status = vtf_client_command_str(client, "PING", &reply);
  elapsed = check_now_ms() - start;
  snprintf(message, sizeof message, "%s", vtf_last_error());
  vtf_reply_free(reply);
  CHECK(vtf_server_is_running(server));
  CHECK_MSG(status == VTF_ERR_CONNECTION, "PING on a killed connection to a running server gave %s",
            vtf_status_name(status));
  CHECK_MSG(strstr(message, "crashed by signal") == NULL,
            "a running server's connection error was blamed on the earlier crash");
  CHECK_MSG(elapsed < 3000.0, "reporting a broken connection took %.0f ms", elapsed);
  /* The client reconnects on the next command. */
  check_cmd_str(client, "PING", "PONG");
  vtf_client_free(client);
  check_free_server(server);
  vtf_config_free(config);
}

/* One part per ctest entry (see CMakeLists.txt), so they run in parallel and
 * fail separately; no argument runs them all. */
int main(int argc, char **argv) {
  const char *part = argc > 1 ? argv[1] : "all";
  bool all = strcmp(part, "all") == 0;
  bool known = all;
  if (all || strcmp(part, "restart") == 0) {
    test_restart();
    known = true;
  }
  if (all || strcmp(part, "crash") == 0) {
    test_crash(VTF_TLS_OFF);
    known = true;
  }
  if (all || strcmp(part, "crash-tls") == 0) {
    test_crash(VTF_TLS_ON);
    known = true;
  }
  CHECK_MSG(known, "unknown part \"%s\" (restart, crash, crash-tls)", part);
  CHECK_DONE(part);
}
