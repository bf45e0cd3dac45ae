/* Servers: configuration reaching the server, start failures, stop, free,
 * logs. */
#include "check.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* CONFIG GET name, in RESP2: [name, value]. Returns a malloc'd copy of the value. */
static char *config_get(vtf_client *client, const char *name) {
  const char *argv[] = {"CONFIG", "GET", name};
  vtf_reply *reply = NULL;
  CHECK_OK(vtf_client_command(client, 3, argv, NULL, &reply));
  CHECK_MSG(vtf_reply_get_type(reply) == VTF_REPLY_ARRAY ||
                vtf_reply_get_type(reply) == VTF_REPLY_MAP,
            "CONFIG GET %s gave reply type %d", name, (int)vtf_reply_get_type(reply));
  CHECK_INT_EQ(vtf_reply_len(reply), 2);
  size_t len = 0;
  const char *value = vtf_reply_string(vtf_reply_element(reply, 1), &len);
  CHECK(value != NULL);
  CHECK_INT_EQ(value[len], '\0');
  char *copy = strdup(value);
  vtf_reply_free(reply);
  return copy;
}

static void test_args_reach_the_server(void) {
  vtf_config *config = vtf_config_new();
  CHECK_OK(vtf_config_add_arg(config, "maxmemory", "1mb"));
  CHECK_OK(vtf_config_add_arg(config, "maxmemory-policy", "allkeys-lru"));
  CHECK_OK(vtf_config_add_arg(config, "save", "3600 1 300 100")); /* one argv item */
  vtf_server *server = check_start(config);
  vtf_client *client = check_connect(server);
  char *value = config_get(client, "maxmemory");
  CHECK_STR_EQ(value, "1048576");
  free(value);
  value = config_get(client, "maxmemory-policy");
  CHECK_STR_EQ(value, "allkeys-lru");
  free(value);
  value = config_get(client, "save");
  CHECK_STR_EQ(value, "3600 1 300 100");
  free(value);
  vtf_client_free(client);
  check_free_server(server);
  vtf_config_free(config);

  /* An empty value is passed as an empty argument: `save ""` disables RDB snapshots. */
  config = vtf_config_new();
  CHECK_OK(vtf_config_add_arg(config, "save", ""));
  server = check_start(config);
  client = check_connect(server);
  value = config_get(client, "save");
  CHECK_STR_EQ(value, "");
  free(value);
  vtf_client_free(client);
  check_free_server(server);
  vtf_config_free(config);

  /* Repeated names are kept in order: two save lines make one schedule. */
  config = vtf_config_new();
  CHECK_OK(vtf_config_add_arg(config, "save", "3600 1"));
  CHECK_OK(vtf_config_add_arg(config, "save", "300 100"));
  server = check_start(config);
  client = check_connect(server);
  value = config_get(client, "save");
  CHECK_STR_EQ(value, "3600 1 300 100");
  free(value);
  vtf_client_free(client);
  check_free_server(server);
  vtf_config_free(config);
}

/* Writes `text` to a new file `name` in a fresh directory `dir` (a
 * "/tmp/vtf-c-tests-XXXXXX" template); the caller unlinks `path`, rmdirs `dir`. */
static void write_temp_file(char *dir, const char *name, const char *text, char *path, size_t size) {
  CHECK(mkdtemp(dir) != NULL);
  snprintf(path, size, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  fputs(text, f);
  fclose(f);
}

static void test_config_file(void) {
  char dir[] = "/tmp/vtf-c-tests-XXXXXX";
  char path[256];
  write_temp_file(dir, "server.conf", "maxmemory 2mb\nhz 42\n", path, sizeof path);

  vtf_config *config = vtf_config_new();
  CHECK_OK(vtf_config_set_config_file(config, path));
  /* An argument wins over the file, as on valkey-server's command line. */
  CHECK_OK(vtf_config_add_arg(config, "hz", "17"));
  vtf_server *server = check_start(config);
  vtf_client *client = check_connect(server);
  char *value = config_get(client, "maxmemory");
  CHECK_STR_EQ(value, "2097152");
  free(value);
  value = config_get(client, "hz");
  CHECK_STR_EQ(value, "17");
  free(value);
  vtf_client_free(client);
  check_free_server(server);
  vtf_config_free(config);
  unlink(path);
  rmdir(dir);
}

/* The arguments vtf sets itself cannot be overridden; the error says why. */
static void test_owned_args(void) {
  const char *const owned[] = {"port", "bind", "dir", "logfile", "daemonize"};
  for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++) {
    vtf_config *config = vtf_config_new();
    vtf_status status = vtf_config_add_arg(config, owned[i], "x");
    if (status == VTF_OK) {
      vtf_server *server = NULL;
      status = vtf_server_start(config, &server);
      if (server != NULL) check_track(server);
    }
    CHECK_MSG(status == VTF_ERR_INVALID_ARGUMENT, "overriding \"%s\" gave %s", owned[i],
              vtf_status_name(status));
    CHECK_CONTAINS(vtf_last_error(), owned[i]);
    vtf_config_free(config);
  }
}

static void test_missing_binary(void) {
  const char *path = "/nonexistent/vtf-c-tests/valkey-server";
  vtf_config *config = vtf_config_new();
  vtf_status status = vtf_config_set_binary(config, path);
  /* Either the setter checks the path at once or the start does. */
  CHECK_MSG(status == VTF_OK || status == VTF_ERR_BINARY_NOT_FOUND,
            "vtf_config_set_binary returned %s", vtf_status_name(status));
  if (status == VTF_OK) {
    vtf_server *server = (vtf_server *)(uintptr_t)0x10;
    CHECK_STATUS(vtf_server_start(config, &server), VTF_ERR_BINARY_NOT_FOUND);
    CHECK(server == (vtf_server *)(uintptr_t)0x10);
  }
  CHECK_CONTAINS(vtf_last_error(), path);
  vtf_config_free(config);
}

static void test_bad_module(void) {
  char dir[] = "/tmp/vtf-c-tests-XXXXXX";
  char path[256];
  write_temp_file(dir, "bad.so", "this is a text file, not a Valkey module\n", path, sizeof path);
  CHECK(chmod(path, 0755) == 0); /* so that dlopen itself rejects it */

  vtf_config *config = vtf_config_new();
  CHECK_OK(vtf_config_add_module(config, path, NULL, 0));
  vtf_server *server = NULL;
  double start = check_now_ms();
  vtf_status status = vtf_server_start(config, &server);
  double elapsed = check_now_ms() - start;
  char message[8192];
  snprintf(message, sizeof message, "%s", vtf_last_error());
  printf("bad module detected in %.1f ms: %s\n", elapsed, vtf_status_name(status));
  CHECK_STATUS(status, VTF_ERR_SERVER_EXITED);
  CHECK(server == NULL);
  CHECK_MSG(elapsed < 3000.0, "a module load failure took %.0f ms to report", elapsed);
  /* The server's own log line: "Module <path> failed to load: ..." */
  CHECK_CONTAINS(message, "failed to load");
  CHECK_CONTAINS(message, path);
  vtf_config_free(config);
  unlink(path);
  rmdir(dir);
}

static void test_invalid_utf8(void) {
  vtf_config *config = vtf_config_new();
  CHECK_STATUS(vtf_config_add_arg(config, "maxmemory", "\xff\xfe"), VTF_ERR_INVALID_ARGUMENT);
  CHECK_CONTAINS(vtf_last_error(), "UTF-8");
  CHECK_STATUS(vtf_config_add_arg(config, "\xc3\x28", "1mb"), VTF_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(vtf_config_set_binary(config, "/tmp/\xff"), VTF_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(vtf_config_add_module(config, "/tmp/\xff.so", NULL, 0), VTF_ERR_INVALID_ARGUMENT);
  const char *const bad_args[] = {"ok", "\xff"};
  CHECK_STATUS(vtf_config_add_module(config, "/tmp/m.so", bad_args, 2), VTF_ERR_INVALID_ARGUMENT);
  /* An enum value out of range (C lets a caller pass any int). */
  CHECK_STATUS(vtf_config_set_tls(config, (vtf_tls_mode)7), VTF_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(vtf_config_set_tls(config, (vtf_tls_mode)-1), VTF_ERR_INVALID_ARGUMENT);
  /* The rejected calls left the config as it was: it still starts a server. */
  vtf_server *server = check_start(config);
  bool found = true;
  CHECK_STATUS(vtf_server_log_contains(server, "\xff", &found), VTF_ERR_INVALID_ARGUMENT);
  CHECK(found == true);
  check_free_server(server);
  vtf_config_free(config);
}

static void test_lifecycle(void) {
  CHECK(unsetenv("VTF_KEEP_DATA") == 0);
  vtf_server *server = check_start(NULL);
  CHECK_STR_EQ(vtf_server_host(server), "127.0.0.1");
  uint16_t port = vtf_server_port(server);
  CHECK(port > 0);
  CHECK(vtf_server_is_running(server));
  int32_t pid = vtf_server_pid(server);
  CHECK(pid > 0);
  CHECK_MSG(kill(pid, 0) == 0, "kill(%d, 0): %s", (int)pid, strerror(errno));

  char dir[1024], log_path[1024];
  CHECK(vtf_server_dir(server) != NULL);
  CHECK(vtf_server_log_path(server) != NULL);
  snprintf(dir, sizeof dir, "%s", vtf_server_dir(server));
  snprintf(log_path, sizeof log_path, "%s", vtf_server_log_path(server));
  struct stat st;
  CHECK_MSG(stat(dir, &st) == 0 && S_ISDIR(st.st_mode), "server dir %s", dir);
  CHECK_MSG(stat(log_path, &st) == 0 && S_ISREG(st.st_mode), "server log %s", log_path);
  /* TLS is off by default: no certificate paths. */
  if (getenv("VTF_TLS") == NULL || strcmp(getenv("VTF_TLS"), "1") != 0) {
    CHECK(vtf_server_tls_ca_cert_path(server) == NULL);
    CHECK(vtf_server_tls_client_cert_path(server) == NULL);
    CHECK(vtf_server_tls_client_key_path(server) == NULL);
  }

  /* Logs. */
  bool found = false;
  CHECK_OK(vtf_server_log_contains(server, "Ready to accept connections", &found));
  CHECK(found);
  found = true;
  CHECK_OK(vtf_server_log_contains(server, "vtf-c-tests: a line no server writes", &found));
  CHECK(!found);
  CHECK_OK(vtf_server_wait_for_log(server, "Ready to accept connections", 1000));
  double start = check_now_ms();
  CHECK_STATUS(vtf_server_wait_for_log(server, "vtf-c-tests: never logged", 300), VTF_ERR_TIMEOUT);
  double waited = check_now_ms() - start;
  CHECK_MSG(waited >= 290.0 && waited < 3000.0, "wait_for_log(300 ms) returned after %.0f ms",
            waited);
  CHECK_CONTAINS(vtf_last_error(), "vtf-c-tests: never logged");

  /* Stop: graceful, idempotent; the process is gone and reaped. */
  CHECK_OK(vtf_server_stop(server));
  CHECK(!vtf_server_is_running(server));
  CHECK_INT_EQ(vtf_server_pid(server), -1);
  CHECK_MSG(kill(pid, 0) == -1 && errno == ESRCH,
            "process %d still exists after vtf_server_stop", (int)pid);
  CHECK_OK(vtf_server_stop(server));
  CHECK_INT_EQ(vtf_server_pid(server), -1);
  CHECK_INT_EQ(vtf_server_port(server), port);
  /* The log is still there to read after a stop. */
  CHECK_OK(vtf_server_log_contains(server, "Ready to accept connections", &found));
  CHECK(found);
  check_free_server(server);
  CHECK_MSG(stat(dir, &st) == -1 && errno == ENOENT, "%s still exists after vtf_server_free", dir);

  /* Free on a running server: process and directory both go. */
  server = check_start(NULL);
  pid = vtf_server_pid(server);
  CHECK(pid > 0);
  snprintf(dir, sizeof dir, "%s", vtf_server_dir(server));
  check_free_server(server);
  CHECK_MSG(kill(pid, 0) == -1 && errno == ESRCH,
            "process %d still exists (or is an unreaped zombie) after vtf_server_free", (int)pid);
  CHECK_MSG(stat(dir, &st) == -1 && errno == ENOENT, "%s still exists after vtf_server_free", dir);
}

static void test_startup_timeout_setter(void) {
  vtf_config *config = vtf_config_new();
  CHECK_OK(vtf_config_set_startup_timeout_ms(config, 20000));
  CHECK_OK(vtf_config_set_tls(config, VTF_TLS_OFF));
  vtf_server *server = check_start(config);
  CHECK(vtf_server_is_running(server));
  check_free_server(server);
  vtf_config_free(config);
}

int main(void) {
  test_missing_binary();
  test_invalid_utf8();
  test_bad_module();
  test_args_reach_the_server();
  test_config_file();
  test_owned_args();
  test_lifecycle();
  test_startup_timeout_setter();
  CHECK_DONE("test_server");
}
